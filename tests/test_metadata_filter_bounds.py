"""Filter queries a hostile or careless user can write: nesting, sizes and numbers out of range are
refused with InvalidArgumentError (a KnitError: one line on the command line), never a RecursionError
or an SQLite overflow."""

from __future__ import annotations

import pytest

from knitctl.metadata import errors
from knitctl.metadata.filter_query import MAX_IN_ITEMS, MAX_NESTING, MAX_TERMS, compile_filter


@pytest.mark.parametrize("query, words", [
    ("(" * 5000 + "id = 1" + ")" * 5000, "nested more than"),
    ("NOT " * 5000 + "id = 1", "nested more than"),
    (" AND ".join(["id = 1"] * (MAX_TERMS + 1)), "comparisons"),
    ("id IN (" + ", ".join(["1"] * (MAX_IN_ITEMS + 1)) + ")", "IN list"),
    ("id = 99999999999999999999", "64-bit"),
    ("id = -99999999999999999999", "64-bit"),
    ("id = " + "9" * 400, "64-bit"),
    ("properties.x.double_value = 1e999", "too large"),
])
def test_out_of_bounds_queries_are_refused(query, words):
    with pytest.raises(errors.InvalidArgumentError, match=words):
        compile_filter(query, "artifact")


def test_queries_within_the_bounds_compile():
    compile_filter("(" * MAX_NESTING + "id = 1" + ")" * MAX_NESTING, "artifact")
    compile_filter(" OR ".join([f"id = {i}" for i in range(MAX_TERMS)]), "artifact")
    compile_filter(f"id = {2**63 - 1} OR id = {-(2**63)}", "artifact")


def test_the_cli_says_one_line_for_a_deep_filter(cli, knit_home, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "a").write_text("x")
    assert cli("data", "push", d).code == 0
    r = cli("metadata", "artifacts", "-f", "(" * 5000 + "id = 1" + ")" * 5000)
    assert r.code == 2 or r.code == 1, r
    assert "Traceback" not in r.err and "nested more than" in r.err
    r = cli("metadata", "artifacts", "-f", "id = 99999999999999999999")
    assert r.code in (1, 2) and "Traceback" not in r.err and "64-bit" in r.err, r
