"""Property: whatever bytes, YAML or argument text reaches a parser, nothing but knit's own errors
(KnitError and its kinds) escapes — no RecursionError, OverflowError, TypeError, AttributeError, …"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knitctl import config, tags, times
from knitctl.contexts import read_kube_contexts
from knitctl.errors import KnitError
from knitctl.metadata.filter_query import compile_filter
from knitctl.plans.spec import TOP_KEYS, parse_plan

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=10), st.integers()), inner, max_size=4)),
    max_leaves=20)
plan_keys = st.sampled_from([*TOP_KEYS, "path", "tags", "cpu", "memory", "gpu", "may", "logs", "x"])
plan_docs = st.dictionaries(plan_keys, values, max_size=8)
kube_docs = st.one_of(values, st.fixed_dictionaries({
    "contexts": st.one_of(values, st.lists(st.one_of(values, st.fixed_dictionaries(
        {"name": values, "context": st.one_of(values, st.dictionaries(st.sampled_from(["namespace", "cluster"]), values))}
    )), max_size=3)),
    "current-context": values,
}))
config_docs = st.one_of(values, st.fixed_dictionaries({
    "watch": st.one_of(values, st.lists(st.dictionaries(st.sampled_from(["path", "tags", "settle", "mode"]), values), max_size=3)),
    "contexts": values, "current-context": values, "inbox": values,
}))
yaml_ish = st.text(alphabet=st.sampled_from(list("[]{}:,-&*!|>'\"#? \n\tab1.") + ["\x00", "\x1b", "\u2028"]), max_size=200)


def _dump(doc) -> str:
    try:
        return yaml.safe_dump(doc, allow_unicode=True)
    except (yaml.YAMLError, ValueError, TypeError):  # hypothesis made something YAML can't write: still text
        return repr(doc)


def _only_knit_errors(fn, *args):
    try:
        fn(*args)
    except KnitError:
        pass


@FAST
@given(st.one_of(plan_docs.map(_dump), yaml_ish, st.binary(max_size=300).map(lambda b: b.decode("utf-8", "replace"))))
def test_plan_parser(text):
    _only_knit_errors(parse_plan, text, "p.yaml")


@FAST
@given(st.text(max_size=60))
def test_tag_parser(text):
    _only_knit_errors(tags.parse, text)
    _only_knit_errors(tags.parse_user, text)


@FAST
@given(st.text(max_size=40))
def test_time_and_duration_parsers(text):
    _only_knit_errors(times.parse_duration, text)
    _only_knit_errors(tags.parse_time, text)
    _only_knit_errors(times.window, text, "1h")


def _in_file(data: bytes, fn):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "f.yaml"
        p.write_bytes(data)
        os.chmod(p, 0o600)
        return fn(p)


@FAST
@given(st.one_of(config_docs.map(_dump).map(str.encode), yaml_ish.map(str.encode), st.binary(max_size=300)))
def test_config_loader(data):
    _in_file(data, lambda p: _only_knit_errors(config.load, p))


@FAST
@given(st.one_of(kube_docs.map(_dump).map(str.encode), yaml_ish.map(str.encode), st.binary(max_size=300)))
def test_kubeconfig_importer(data):
    _in_file(data, lambda p: _only_knit_errors(read_kube_contexts, [p]))


filter_words = st.sampled_from([
    "id", "name", "uri", "type", "state", "create_time_since_epoch", "properties.p.int_value",
    "custom_properties.c.string_value", "contexts_a.name", "events_0.type", "=", "!=", "<", ">=", "LIKE", "IN", "IS",
    "NOT", "NULL", "AND", "OR", "(", ")", ",", "'x'", "1", "-1", "1.5", "1e999", "99999999999999999999", "LIVE",
    "TRUE", "`a b`", ".", "'", "\x1b",
])


@FAST
@given(st.one_of(st.lists(filter_words, max_size=25).map(" ".join), st.text(max_size=80)),
       st.sampled_from(["artifact", "execution", "context"]))
def test_filter_query_parser(text, kind):
    compile_filter.cache_clear()
    _only_knit_errors(compile_filter, text, kind)
