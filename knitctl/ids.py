"""Identifiers: short random ids and prefix resolution rules."""

from __future__ import annotations

import os
import re

from .errors import NotFound, UsageError

ID_RE = re.compile(r"^[0-9a-f]{1,32}$")


def new_id() -> str:
    """A new 12-hex-digit id (48 random bits)."""
    return os.urandom(6).hex()  # what secrets.token_hex(6) is, without importing secrets (hmac, random)


def check_prefix(text: str, *, what: str) -> str:
    s = text.strip().lower()
    if not ID_RE.match(s):
        raise UsageError(f"{what} id {text!r} is not valid: ids are hexadecimal (e.g. 3f9a1c)")
    return s


def pick_one(prefix: str, candidates: list[str], *, what: str) -> str:
    """The one candidate matching `prefix`, or an error naming the ambiguity."""
    if prefix in candidates:
        return prefix
    if not candidates:
        raise NotFound(f"no {what} with id {prefix!r}; list them with `knitctl {what} find`")
    if len(candidates) > 1:
        shown = ", ".join(sorted(candidates)[:5])
        raise UsageError(f"{what} id {prefix!r} is ambiguous: it matches {shown}; give more characters")
    return candidates[0]
