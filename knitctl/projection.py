"""Projection (docs/ARCHITECTURE.md#semantics): turn tag matches into runs, inside the caller's write transaction.

The rule, in pure form (`assignments`): a run exists for every combination in
the cartesian product of the data nominated for each input of a plan, unless
that combination ever existed as a run of that plan. The catalog side answers
"which inputs does this datum fit" and "which data fit this input" with
indexed queries; the unique index on run(plan_id, assignment) is the last
word against duplicates.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable, Mapping

from .catalog import projection as q
from .catalog import records
from .catalog.projection import fitted_inputs, nominated_for, plan_inputs

__all__ = ["fits", "assignments", "fitted_inputs", "nominated_for", "plan_inputs", "candidate_runs", "PlanRuns",
           "project_data", "project_plan", "nominations_of"]


# -- pure rules ------------------------------------------------------------------


def fits(datum_tags: set[tuple[str, str]], input_tags: Iterable[tuple[str, str]]) -> bool:
    """A datum fits an input when its tags (system tags included) contain all of the input's."""
    return all(t in datum_tags for t in input_tags)


def assignments(
    nominated: Mapping[str, list[str]], fixed: Mapping[str, str] | None = None
) -> Iterable[dict[str, str]]:
    """Every combination over the inputs; `fixed` pins some inputs to one datum.

    A combination never puts one datum on two inputs: a run takes each datum
    once (one INPUT event per datum and run, as in MLMD).
    """
    paths = sorted(nominated)
    pools = [[fixed[p]] if fixed and p in fixed else nominated[p] for p in paths]
    for combo in itertools.product(*pools):
        if len(set(combo)) == len(combo):
            yield dict(zip(paths, combo))


# -- catalog side ---------------------------------------------------------------


def candidate_runs(conn: sqlite3.Connection, plan_id: str, fixed: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """Assignments the rule asks for that never existed as runs of this plan."""
    paths = plan_inputs(conn, plan_id)
    nominated = {p: ([] if fixed and p in fixed else nominated_for(conn, plan_id, p)) for p in paths}
    if any(not nominated[p] for p in paths if not (fixed and p in fixed)):
        return []
    return [a for a in assignments(nominated, fixed)
            if not q.run_exists(conn, plan_id, records.canonical_assignment(a))]


class PlanRuns:
    """What every new run of one plan shares — status, context, outputs and their tags — read once."""

    def __init__(self, conn: sqlite3.Connection, plan_id: str):
        from . import contexts
        from .catalog import mlmd
        from .tags import Tag

        active, pinned, ctx_id, outputs = q.run_template(conn, plan_id)
        self.plan_id = plan_id
        self.status = "waiting" if active else "deactivated"
        self.context = pinned or contexts.current()
        self.plan_context_id = ctx_id
        self.exec_type = mlmd.type_id(conn, mlmd.EXECUTION_TYPE, mlmd.RUN_TYPE)
        self.art_type = mlmd.type_id(conn, mlmd.ARTIFACT_TYPE, mlmd.DATA_TYPE)
        self.outputs = [(path, [Tag(k, v) for k, v in tags]) for path, tags in outputs]

    def create(self, conn: sqlite3.Connection, assignment: dict[str, str]) -> str:
        """A new run with its output data (processing until it finishes)."""
        run_id = records.insert_run(
            conn, self.plan_id, self.status, assignment=assignment, context=self.context,
            plan_context_id=self.plan_context_id, exec_type=self.exec_type,
        )
        self.add_outputs(conn, run_id)
        return run_id

    def add_outputs(self, conn: sqlite3.Connection, run_id: str) -> None:
        """One new datum per output (and the log), tagged as the plan says; for a new or retried run."""
        for path, tags in self.outputs:
            records.insert_datum(conn, run_id, path, tags, art_type=self.art_type)


def project_data(conn: sqlite3.Connection, knit_ids: Iterable[str]) -> list[str]:
    """Create the runs that newly nominatable data call for. Returns the new run ids."""
    created: list[str] = []
    makers: dict[str, PlanRuns] = {}
    for knit_id in knit_ids:
        for plan_id, path in fitted_inputs(conn, knit_id):
            for a in candidate_runs(conn, plan_id, {path: knit_id}):
                maker = makers.get(plan_id) or makers.setdefault(plan_id, PlanRuns(conn, plan_id))
                created.append(maker.create(conn, a))
    return created


def project_plan(conn: sqlite3.Connection, plan_id: str) -> list[str]:
    """Create every run a plan calls for over the data that exist now."""
    candidates = candidate_runs(conn, plan_id)
    if not candidates:
        return []
    maker = PlanRuns(conn, plan_id)
    return [maker.create(conn, a) for a in candidates]


def nominations_of(conn: sqlite3.Connection, knit_id: str) -> list[dict[str, str]]:
    return [{"plan_id": p, "path": path} for p, path in fitted_inputs(conn, knit_id)]
