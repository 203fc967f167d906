"""What `knitctl data compare` reads of the catalog: each datum's producing run and its inputs.

The inputs come from the run's canonical assignment (`run.assignment`, 'path=id' lines, NULL for
an upload), so the data of many compared data are walked upstream one level at a time, one query
per level and chunk, on knit's own tables (`catalog/lineage.py` walks the MLMD events instead,
for one node's whole neighbourhood).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

from .lineage import _chunks


def producers(conn: sqlite3.Connection, knit_ids: Sequence[str]) -> Iterator[tuple[str, str, str, str | None, int | None]]:
    """(knit_id, plan_id, its run's status, the run's canonical assignment, file_count) of each datum."""
    for chunk in _chunks(list(knit_ids)):
        marks = ",".join("?" * len(chunk))
        yield from conn.execute(
            f"""SELECT d.knit_id, r.plan_id, r.status, r.assignment, d.file_count
                FROM data d JOIN run r ON r.run_id = d.run_id WHERE d.knit_id IN ({marks})""",
            chunk,
        )
