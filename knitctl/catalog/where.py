"""Building a WHERE clause from optional filters, with its parameters in order.

Placeholders are `?` (SQLite's qmark style); a dialect with another style rewrites them in its
connection adapter, so query modules write one kind.
"""

from __future__ import annotations

from collections.abc import Iterable

# An image given by name matches it with any tag: `knit/python` matches knit/python:3.11.
IMAGE_MATCHES = "({column} = ? OR {column} LIKE ?)"


def image_params(image: str) -> list[str]:
    return [image, image + ":%"]


class Where:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[object] = []

    def add(self, condition: str, *params: object) -> Where:
        self.parts.append(condition)
        self.params += params
        return self

    def any_of(self, column: str, values: Iterable[object]) -> Where:
        values = list(values)
        return self.add(f"{column} IN ({','.join('?' * len(values))})", *values)

    def prefixes(self, column: str, prefixes: Iterable[str]) -> Where:
        """The column starts with one of the prefixes (as index range scans; ids are lowercase hex)."""
        ors = []
        for p in prefixes:
            ors.append(f"({column} >= ? AND {column} < ?)")
            self.params += [p, p + "g"]
        self.parts.append("(" + " OR ".join(ors) + ")")
        return self

    def image(self, column: str, image: str) -> Where:
        return self.add(IMAGE_MATCHES.format(column=column), *image_params(image))

    def window(self, column: str, start: int | None, end: int | None) -> Where:
        """start <= column < end; None leaves that side open."""
        if start is not None:
            self.add(f"{column} >= ?", start)
        if end is not None:
            self.add(f"{column} < ?", end)
        return self

    def sql(self) -> str:
        """' WHERE a AND b', or '' when there is no condition."""
        return " WHERE " + " AND ".join(self.parts) if self.parts else ""
