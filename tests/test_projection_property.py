"""Projection against a brute-force model (hypothesis).

Random sequences of pushes, tag edits, plan applies and (de)activations run
through the library on a fresh KNIT_HOME. After every step, for every plan:

- the model's assignments now = the cartesian product, over the plan's inputs,
  of the uploaded data whose tags ⊇ the input's tags (and whose id matches a
  pin), never one datum on two inputs;
- runs are never deleted, so the catalog's runs of the plan must be exactly
  the union of every assignment set the model ever produced — no duplicate
  (never created twice) and none missing (never missed);
- every run is `waiting` when the plan is active, `deactivated` when not.

Plan outputs use the same tag vocabulary, so outputs of waiting runs carry
fitting tags while processing (they must never be nominated), and some
applies close a cycle (they must be refused, exactly when the model finds one).
"""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knitctl import data as data_api
from knitctl import tags as tagrules
from knitctl.errors import Conflict
from knitctl.home import Home
from knitctl.plans import registry
from knitctl.plans.spec import parse_plan
from knitctl.session import Session

from conftest import make_tree, plan_doc

VOCAB = ["k:a", "k:b", "j:a", "j:b"]
KEYS = ["k", "j"]

tag_sets = st.frozensets(st.sampled_from(VOCAB), max_size=3)
data_tags = st.frozensets(st.sampled_from(VOCAB), min_size=1, max_size=4)
some_tags = st.frozensets(st.sampled_from(VOCAB), min_size=1, max_size=2)
index = st.integers(min_value=0, max_value=50)

push_op = st.tuples(st.just("push"), data_tags, st.integers(min_value=1, max_value=2))
tag_op = st.tuples(st.just("tag"), index, tag_sets, tag_sets, st.frozensets(st.sampled_from(KEYS), max_size=1))
input_spec = st.tuples(some_tags, st.one_of(st.none(), index), st.booleans())   # tags, pin (datum index), pin only
apply_op = st.tuples(
    st.just("apply"),
    st.lists(input_spec, min_size=1, max_size=2),
    st.lists(tag_sets, max_size=1),                                              # outputs
    st.booleans(),                                                               # active
    st.integers(min_value=0, max_value=1),                                       # image variant
)
active_op = st.tuples(st.just("active"), index, st.booleans())
ops = st.lists(st.one_of(push_op, apply_op, tag_op, push_op, apply_op, active_op), min_size=3, max_size=16)


@dataclass
class ModelPlan:
    plan_id: str
    inputs: dict[str, tuple[frozenset[str], str | None]]    # path -> (user tags, pinned id)
    outputs: list[frozenset[str]]
    active: bool
    ever: set[frozenset] = field(default_factory=set)


@dataclass
class Model:
    data: dict[str, set[str]] = field(default_factory=dict)     # uploads: knit id -> user tags
    order: list[str] = field(default_factory=list)
    plans: list[ModelPlan] = field(default_factory=list)
    by_key: dict = field(default_factory=dict)

    def fitting(self, tags: frozenset[str], pin: str | None) -> list[str]:
        return [k for k in self.order if tags <= self.data[k] and (pin is None or k == pin)]

    def assignments(self, plan: ModelPlan) -> set[frozenset]:
        paths = sorted(plan.inputs)
        pools = [self.fitting(*plan.inputs[p]) for p in paths]
        return {
            frozenset(zip(paths, combo)) for combo in itertools.product(*pools) if len(set(combo)) == len(combo)
        }

    def feeds(self, outputs: list[frozenset[str]], inputs: dict) -> bool:
        return any(pin is None and tags and tags <= out for out in outputs for tags, pin in inputs.values())

    def makes_cycle(self, new: ModelPlan) -> bool:
        shapes = self.plans + [new]
        nxt = {id(p): [q for q in shapes if self.feeds(p.outputs, q.inputs)] for p in shapes}
        seen, stack = set(), [new]
        while stack:
            for q in nxt[id(stack.pop())]:
                if q is new:
                    return True
                if id(q) not in seen:
                    seen.add(id(q))
                    stack.append(q)
        return False


def catalog_runs(session: Session, plan_id: str) -> list[tuple[frozenset, str]]:
    return [
        (frozenset(tuple(line.split("=", 1)) for line in a.split("\n")), status)
        for a, status in session.catalog.query("SELECT assignment, status FROM run WHERE plan_id = ?", (plan_id,))
    ]


def step(session: Session, model: Model, op: tuple, src_root: Path) -> None:
    kind = op[0]
    if kind == "push":
        _, tags, n = op
        srcs = [make_tree(src_root / f"s{len(model.order)}-{i}", {"f": f"{len(model.order)}-{i}"}) for i in range(n)]
        for d in data_api.push(session, srcs, sorted(tags)):
            model.data[d.knit_id] = set(tags)
            model.order.append(d.knit_id)
    elif kind == "tag":
        _, i, add, remove, keys = op
        if not model.order:
            return
        kid = model.order[i % len(model.order)]
        data_api.tag(session, kid, add=sorted(add), remove=sorted(remove), remove_keys=sorted(keys))
        current = {tagrules.parse(t) for t in model.data[kid]}
        new = tagrules.apply_changes(current, [tagrules.parse(t) for t in add], [tagrules.parse(t) for t in remove], list(keys))
        model.data[kid] = {str(t) for t in new}
    elif kind == "apply":
        _, input_specs, outputs, active, variant = op
        inputs: dict[str, tuple[frozenset[str], str | None]] = {}
        for n, (tags, pin_index, pin_only) in enumerate(input_specs):
            pin = model.order[pin_index % len(model.order)] if pin_index is not None and model.order else None
            inputs[f"/in/{n}"] = (frozenset() if pin and pin_only else tags, pin)
        doc = plan_doc(
            {p: sorted(t) + ([f"knit#id:{pin}"] if pin else []) for p, (t, pin) in inputs.items()},
            {f"/out/{n}": sorted(t) for n, t in enumerate(outputs)},
            image=f"busybox:1.{variant}",
            active=active,
        )
        spec = parse_plan(yaml.safe_dump(doc))
        key = spec.hash
        new = ModelPlan("", inputs, list(outputs), active)
        if key not in model.by_key and model.makes_cycle(new):
            try:
                registry.apply(session, spec)
            except Conflict as e:
                assert "feed itself" in e.message
                return
            raise AssertionError(f"a cyclic plan was accepted: {doc}")
        result = registry.apply(session, spec)
        if key in model.by_key:
            assert not result.created and result.plan.plan_id == model.by_key[key].plan_id
            return
        assert result.created
        new.plan_id = result.plan.plan_id
        model.by_key[key] = new
        model.plans.append(new)
    elif kind == "active":
        _, i, active = op
        if not model.plans:
            return
        plan = model.plans[i % len(model.plans)]
        registry.set_active(session, plan.plan_id, active)
        plan.active = active


def check(session: Session, model: Model) -> None:
    for plan in model.plans:
        plan.ever |= model.assignments(plan)
        runs = catalog_runs(session, plan.plan_id)
        got = [a for a, _ in runs]
        assert len(got) == len(set(got)), f"duplicate assignment for plan {plan.plan_id}"
        assert set(got) == plan.ever, (
            f"plan {plan.plan_id}: missing {plan.ever - set(got)}, unexpected {set(got) - plan.ever}"
        )
        want = "waiting" if plan.active else "deactivated"
        assert {s for _, s in runs} <= {want}


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_projection_matches_a_brute_force_model(sequence):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        session = Session.open(Home.resolve(root / "home"))
        try:
            model = Model()
            for op in sequence:
                step(session, model, op, root / "src")
                check(session, model)
        finally:
            session.close()
