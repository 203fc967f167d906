"""Marking data bad (`knitctl data mark-bad` / `unmark`): a datum found bad and everything derived from it.

A person marks a root datum with a reason. The root and every datum downstream of it (through the runs that
took it as input, transitively) carry the mark: the system tag `knit#bad:<root id>`, shown by `data find/show`,
lineage, `explain` and the TUI. Marked data are not nominated for new runs unless a plan input asks for them
(`knit#bad:<root id>` or `knit#bad:*` among its tags; such an input takes only marked data). A run that finishes
from a marked input makes marked outputs (`catalog.marks.inherit`, called by `runstate.move`). Unmarking a root
removes its mark from all of them and projects the data that are clean again, in the same transaction: only
combinations that never ran become runs, so nothing that already ran runs again. Runs created before the mark
are left as they are (abort them with `knitctl run abort` if they should not run).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import data as data_api
from . import tags as tagrules
from .catalog import lineage as lineage_rows
from .catalog import marks as q
from .catalog import mlmd, now_ms
from .controlchars import describe, first_control
from .errors import UsageError
from .lineage import UNLIMITED
from .projection import project_data
from .runstate import PRESTART
from .session import Session

PENDING = frozenset({"waiting", "deactivated"}) | PRESTART   # runs that have not started their task

MAX_REASON = 4096
PROPERTY = "knit.bad"   # the MLMD custom property on a marked datum's artifact: its roots, space-separated


@dataclass
class MarkResult:
    root: str
    reason: str
    marked_ms: int
    data: list[str] = field(default_factory=list)        # the root and its descendants, now marked
    new_runs: list[str] = field(default_factory=list)     # unmark: the runs the clean data called for
    pending: list[str] = field(default_factory=list)      # mark: runs not started yet that take marked data

    def to_dict(self) -> dict:
        return {"root": self.root, "reason": self.reason, "marked": tagrules.format_time(self.marked_ms),
                "data": self.data, "new_runs": self.new_runs, "pending_runs": self.pending}


def check_reason(reason: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise UsageError("--reason: say why the data are bad (e.g. --reason 'labels shifted by one row')")
    if len(text) > MAX_REASON:
        raise UsageError(f"--reason: {len(text):,} characters is too long; say it in at most {MAX_REASON:,}")
    bad = first_control(text)
    if bad is not None:
        raise UsageError(f"--reason: contains the control character {describe(bad)}; write it on one line")
    return text


def _sync_property(conn, knit_ids: list[str]) -> None:
    roots = q.roots_of(conn, knit_ids)
    for kid in knit_ids:
        mlmd.set_custom_properties(conn, "data", kid, {PROPERTY: " ".join(roots[kid]) if kid in roots else None})


def mark_bad(session: Session, text: str, reason: str) -> MarkResult:
    """Mark a datum and everything derived from it (one transaction)."""
    why = check_reason(reason)
    t = now_ms()
    with session.catalog.write() as c:
        root = data_api.resolve_id(session, text)
        walked = list(lineage_rows.walk(c, "data", root, up=False, max_depth=UNLIMITED))
        found = [i for kind, i, *_ in walked if kind == "data"]
        ids = [root] + sorted(set(found) - {root})
        q.put_root(c, root, why, t)
        q.add_marks(c, root, ids)
        _sync_property(c, ids)
        runs = sorted({i for kind, i, *_ in walked if kind == "run"})
        pending = [rid for rid, _, status, _ in lineage_rows.run_facts(c, runs) if status in PENDING]
    return MarkResult(root, why, t, ids, pending=sorted(pending))


def unmark(session: Session, text: str) -> MarkResult:
    """Remove a root's mark from it and its descendants; data clean again are nominated (one transaction)."""
    with session.catalog.write() as c:
        kid = data_api.resolve_id(session, text)
        got = q.root(c, kid)
        if got is None:
            carried = q.marks_of(c, kid)
            if carried:
                roots = ", ".join(r for r, _, _ in carried)
                raise UsageError(f"datum {kid} is marked because it derives from {roots}, not marked itself; "
                                 f"unmark the root: knitctl data unmark {carried[0][0]}")
            raise UsageError(f"datum {kid} is not marked bad; nothing to unmark")
        reason, at = got
        ids = q.drop_root(c, kid)
        _sync_property(c, ids)
        still = q.still_marked(c, ids)
        clean = sorted(i for i in ids if i not in still)
        new_runs = project_data(c, clean)
    return MarkResult(kid, reason, at, clean, new_runs)


def marks_of(session: Session, knit_id: str) -> list[dict]:
    """The marks a datum carries: root, reason, when."""
    return [{"root": r, "reason": why, "marked": tagrules.format_time(at)}
            for r, why, at in q.marks_of(session.catalog.conn, knit_id)]
