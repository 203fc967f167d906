"""`data find` and `run find` print from one query's rows (tags, inputs and outputs aggregated in SQL):
the same bytes as the Datum/Run objects give, for every format; stored tags of any characters round-trip."""

from __future__ import annotations

import json

import pytest

from knitctl import data as data_api
from knitctl import runs as runs_api
from knitctl.cli import oneliners
from knitctl.cli.output import Format, emit, tsv
from knitctl.controlchars import escape

from conftest import apply_plan, finish_run, push_datum

# What an older catalog may still hold (tags typed today refuse control characters), and what the
# aggregation could mangle: its own separators, JSON's quoting, sort order across code points.
AWKWARD = [
    ("a,b", "c,d"), ("nl", "x\ny"), ("esc", "\x1b[31mred"), ("tab", "a\tb"), ("c1", "\x9b1m"), ("del", "\x7f"),
    ("sp", "x y"), ("empty", ""), ("q", '"quoted" \\ back'), ("uni", "é ü 日本"), ("Z", "upper"), ("z", "é"), ("z", "e"),
    ("json", '["k:v"]'), ("comma", ","), ("colon", "a:b:c"),
]


def _store_tags(session, knit_id, pairs):
    with session.catalog.write() as c:
        c.executemany("INSERT INTO tag(knit_id, key, value) VALUES (?, ?, ?)", [(knit_id, k, v) for k, v in pairs])


@pytest.fixture
def catalog(session):
    """Uploads with awkward and many tags, a plan's runs in several states with inputs and outputs."""
    plain = push_datum(session, "kind:in", "project:p")
    odd = push_datum(session, "kind:in")
    _store_tags(session, odd.knit_id, AWKWARD + [(f"k{i:02d}", f"v{i}") for i in reversed(range(40))])
    bare = push_datum(session, "kind:other")
    with session.catalog.write() as c:
        c.execute("DELETE FROM tag WHERE knit_id = ?", (bare.knit_id,))  # a datum with no user tag
    result = apply_plan(session, {"/in/a": ["kind:in"]}, {"/out/b": ["kind:out"]}, log=["kind:log"])
    run_ids = [r[0] for r in session.catalog.query("SELECT run_id FROM run WHERE plan_id = ? ORDER BY created_ms, run_id",
                                                    (result.plan.plan_id,))]
    assert len(run_ids) == 2
    finish_run(session, run_ids[0], "done")
    finish_run(session, run_ids[1], "failed")
    return {"plain": plain, "odd": odd, "runs": run_ids}


def _printed(capsys, fn) -> str:
    capsys.readouterr()
    fn()
    return capsys.readouterr().out


FORMATS = [None, Format.json, Format.yaml]


@pytest.mark.parametrize("fmt", FORMATS, ids=["tsv", "json", "yaml"])
@pytest.mark.parametrize("filters", [
    {}, {"transient": "both"}, {"transient": "yes"}, {"tag": ["kind:in"]}, {"tag": ["knit#transient:failed"]},
    {"tag": ["a,b:c,d"]},
], ids=["default", "both", "transient", "tag", "system-tag", "awkward-tag"])
def test_data_find_prints_what_the_objects_print(session, catalog, capsys, fmt, filters):
    args = {"tag": [], "transient": "no", "since": None, "duration": None, **filters}
    lean = _printed(capsys, lambda: oneliners.data_find(output=fmt, **args))
    found = data_api.find(session, args["tag"], transient=args["transient"])
    assert found  # each filter matches something
    objects = _printed(capsys, lambda: emit([d.to_dict() for d in found], fmt, oneliners.DATA_COLUMNS))
    assert lean == objects


def test_data_find_table_prints_what_the_objects_print(session, catalog, capsys):
    lean = _printed(capsys, lambda: oneliners.data_find([], "both", None, None, Format.table))
    found = data_api.find(session, transient="both")
    assert lean == _printed(capsys, lambda: emit([d.to_dict() for d in found], Format.table, oneliners.DATA_COLUMNS))


def test_stored_tags_of_any_characters_round_trip_in_key_value_order(session, catalog):
    odd = catalog["odd"].knit_id
    (row,) = [r for r in data_api.listing(session, user_tags=data_api.LISTING_JSON) if r[0] == odd]
    expected = sorted(AWKWARD + [("kind", "in")] + [(f"k{i:02d}", f"v{i}") for i in range(40)])
    assert json.loads(row[-1]) == [f"{k}:{v}" for k, v in expected]
    (text,) = [r[-1] for r in data_api.listing(session) if r[0] == odd]
    assert text == " ".join(f"{k}:{v}" for k, v in expected)


def test_tsv_cells_keep_their_escaping(session, catalog, capsys):
    out = _printed(capsys, lambda: oneliners.data_find(["a,b:c,d"], "no", None, None, None))
    (line,) = out.splitlines()
    assert "esc:\\x1b[31mred" in line and "nl:x y" in line and "tab:a b" in line and "c1:\\x9b1m" in line
    assert line.count("\t") == 3 and "\x1b" not in line


@pytest.mark.parametrize("rows", [
    [], [[""]], [["a", "b"], ["c", "d"]], [["a\tb", "c"]], [["a\nb", "c"]], [["\x1b[1m", "x"], ["ok", "ok"]],
    [["é\x9b", "\x7f"]], [["a", "b\r"]], [["", ""], ["", ""]],
])
def test_tsv_matches_the_cell_by_cell_rule(rows):
    width = len(rows[0]) if rows else 2
    expected = "".join(
        "\t".join(escape(c.replace("\t", " ").replace("\n", " ")) for c in row) + "\n" for row in rows
    )
    assert tsv(rows, width) == expected


@pytest.mark.parametrize("fmt", [*FORMATS, Format.table], ids=["tsv", "json", "yaml", "table"])
@pytest.mark.parametrize("filters", [{}, {"status": ["failed"]}, {"status": ["done", "failed"]}],
                         ids=["default", "failed", "two-statuses"])
def test_run_find_prints_what_the_objects_print(session, catalog, capsys, monkeypatch, fmt, filters):
    monkeypatch.setattr(oneliners.time, "time", lambda: 1_900_000_000.0)  # ages from one instant on both sides
    args = {"plan": [], "input_": [], "output_datum": [], "status": [], "since": None, "duration": None,
            "context": [], **filters}
    lean = _printed(capsys, lambda: oneliners.run_find(output=fmt, **args))
    found = runs_api.find(session, statuses=args["status"])
    assert found and any(r.inputs for r in found) and any(r.outputs for r in found)
    assert lean == _printed(capsys, lambda: oneliners.emit_runs(found, fmt))


def test_run_find_by_input_and_output(session, catalog, capsys, monkeypatch):
    monkeypatch.setattr(oneliners.time, "time", lambda: 1_900_000_000.0)
    done = runs_api.find(session, statuses=["done"])[0]
    out_id = done.outputs[0]["knit_id"]
    in_id = done.inputs[0]["knit_id"]
    for kw, lib in ((dict(input_=[in_id]), dict(inputs=[in_id])), (dict(output_datum=[out_id]), dict(outputs=[out_id]))):
        args = {"plan": [], "input_": [], "output_datum": [], "status": [], "since": None, "duration": None,
                "context": [], **kw}
        lean = _printed(capsys, lambda a=args: oneliners.run_find(output=Format.json, **a))
        found = runs_api.find(session, **lib)
        assert found
        assert json.loads(lean) == [r.to_dict() for r in found]
