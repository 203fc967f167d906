"""Each input that used to end in a traceback is now one clear error and exit code 2 (usage), changing nothing."""

from __future__ import annotations

import pytest

NINES = "9" * 400


@pytest.fixture
def datum(cli, knit_home, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "a.txt").write_text("x")
    r = cli("data", "push", d, "-t", "project:nt", "-o", "json")
    assert r.code == 0, r
    return r.json()[0]["knit_id"]


CASES = [
    (["data", "find", "--since", "2026-01-01T00:00:00", "--duration", NINES], "--duration"),
    (["data", "find", "--since", "2026-01-01T00:00:00", "--duration", "99999999999999999999w"], "10,000 years"),
    (["run", "find", "--since", "2026-01-01T00:00:00", "--duration", "99999999999999999999w"], "10,000 years"),
    (["data", "find", "--since", "0001-01-01T00:00:00"], "edge of the calendar"),
    (["run", "find", "--since", "0001-01-01T00:00:00"], "edge of the calendar"),
    (["data", "lineage", "{datum}", "-n", "99999999999999999999999"], "--numbers"),
    (["data", "lineage", "{datum}", "-n", "1e30"], "--numbers"),
    (["run", "wait", "{datum}", "--timeout", NINES], "--timeout"),
    (["run", "wait", "{datum}", "--timeout", "99999999999999999999w"], "--timeout"),
    (["metadata", "lineage", "1", "--hops", "99999999999999999999"], "--hops"),
    (["metadata", "lineage", "1", "--hops", "1e30"], "--hops"),
    (["metadata", "lineage", "99999999999999999999"], "larger than any id"),
    (["metadata", "lineage", "-x", "99999999999999999999"], "larger than any id"),
    (["metadata", "artifacts", "-n", "99999999999999999999"], "--limit"),
    (["metadata", "artifacts", "-f", "id = 99999999999999999999"], "64-bit"),
    (["metadata", "artifacts", "-f", "(" * 5000 + "id = 1" + ")" * 5000], "nested more than"),
    (["metadata", "artifacts", "-f", "NOT " * 5000 + "id = 1"], "nested more than"),
]


@pytest.mark.parametrize("args, words", CASES, ids=[f"{' '.join(a[:2])}-{i}" for i, (a, _) in enumerate(CASES)])
def test_each_former_traceback_is_one_clear_error(cli, knit_home, datum, args, words):
    from conftest import catalog_dump

    before = catalog_dump(knit_home)
    r = cli(*[a.replace("{datum}", datum) for a in args])
    assert r.code in (1, 2), r
    assert "Traceback" not in r.err + r.out, r
    assert words in r.err, r
    assert catalog_dump(knit_home) == before


@pytest.mark.parametrize("text", ["image: " + "[" * 100_000 + "]" * 100_000, "{a: " * 100_000 + "1" + "}" * 100_000])
def test_a_plan_nested_100000_deep_is_one_clear_error(cli, knit_home, tmp_path, text):
    p = tmp_path / "p.yaml"
    p.write_text(text)
    r = cli("plan", "apply", p)
    assert r.code == 2 and "Traceback" not in r.err and "nested more than" in r.err, r
    assert len(r.err_lines) == 1, r
