"""Control characters: refused where tags and names come in, escaped wherever stored text is printed."""

from __future__ import annotations

import json
import sqlite3

import pytest

from knitctl.controlchars import describe, escape, first_control

HOSTILE = "evil:\x1b]0;pwned\x07\x1b[2J\x9b31m\x7f"


def test_escape_writes_every_control_character_as_a_code():
    assert escape("a\x1b[2Jb\x07\x7f\x9b\x85") == "a\\x1b[2Jb\\x07\\x7f\\x9b\\x85"
    assert escape("plain text, ünïcode ✓") == "plain text, ünïcode ✓"
    assert escape("two\nlines\tand tab") == "two\\x0alines\\x09and tab"
    assert escape("two\nlines\tand tab\x1b", keep_lines=True) == "two\nlines\tand tab\\x1b"


@pytest.mark.parametrize("code", [*range(0x20), 0x7F, *range(0x80, 0xA0)])
def test_every_c0_del_and_c1_character_is_found(code):
    assert first_control(f"ok{chr(code)}ok") == chr(code)
    assert first_control(escape(f"ok{chr(code)}ok")) is None


def test_describe_names_the_usual_ones():
    assert describe("\x1b") == "\\x1b (ESC)"
    assert describe("\x9b") == "\\x9b"


def _plant_tag(home, knit_id: str, tag: str) -> None:
    """A tag an older knit stored without checking it."""
    key, _, value = tag.partition(":")
    con = sqlite3.connect(home / "catalog.db")
    with con:
        con.execute("INSERT INTO tag (knit_id, key, value) VALUES (?, ?, ?)", (knit_id, key, value))
    con.close()


def _raw_controls(text: str) -> list[str]:
    return [c for c in text if first_control(c) and c not in "\n\t"]


@pytest.fixture
def planted(cli, knit_home, tmp_path):
    src = tmp_path / "d"
    src.mkdir()
    (src / "a.txt").write_text("x")
    r = cli("data", "push", src, "-t", "project:cc", "-o", "json")
    assert r.code == 0, r
    knit_id = r.json()[0]["knit_id"]
    _plant_tag(knit_home, knit_id, HOSTILE)
    return knit_id


@pytest.mark.parametrize("args", [
    ["data", "find"], ["data", "find", "-o", "table"], ["data", "find", "-o", "json"], ["data", "find", "-o", "yaml"],
    ["data", "show", "{id}"], ["data", "lineage", "{id}", "-o", "tree"], ["data", "lineage", "{id}", "-o", "dot"],
    ["data", "lineage", "{id}", "-o", "mermaid"], ["explain", "data", "{id}"],
])
def test_stored_control_characters_are_printed_escaped(cli, planted, args):
    r = cli(*[a.replace("{id}", planted) for a in args])
    assert r.code == 0, r
    assert _raw_controls(r.out + r.err) == [], r
    if args[-1] == "json":
        assert any(t == HOSTILE for d in r.json() for t in d["tags"])  # JSON keeps the value, escaped by JSON itself
    elif args[:2] in (["data", "find"], ["data", "show"]) and args[-1] != "yaml":
        assert "\\x1b]0;pwned\\x07" in r.out


def test_json_escapes_del_and_c1_too(cli, planted):
    r = cli("data", "find", "-o", "json")
    assert "\\u007f" in r.out and "\\u009b" in r.out
    assert json.loads(r.out)


@pytest.mark.parametrize("tag", ["a:\x1b]0;x\x07", "a:\x1b[31m", "a:b\x7f", "a:b\x9b", "a\x01:b", "a:b\tc"])
def test_tags_with_control_characters_are_refused_by_push_and_tag(cli, planted, knit_home, tmp_path, tag):
    from conftest import catalog_dump

    before = catalog_dump(knit_home)
    d = tmp_path / "e"
    d.mkdir()
    r = cli("data", "push", d, "-t", tag)
    assert r.code == 2, r
    assert "control character" in r.err and _raw_controls(r.err) == [] and "Traceback" not in r.err
    r = cli("data", "tag", planted, "--add", tag)
    assert r.code == 2, r
    assert catalog_dump(knit_home) == before


def test_a_directory_name_with_escape_sequences_is_refused_for_name_tags(cli, knit_home, tmp_path):
    d = tmp_path / "n\x1b]0;x\x07"
    d.mkdir()
    (d / "f").write_text("x")
    r = cli("data", "push", "-n", d)
    assert r.code == 2, r
    assert "control character \\x1b (ESC)" in r.err and _raw_controls(r.err) == []
    r = cli("data", "find", "-o", "json")
    assert r.code == 0 and r.json() == []


def test_a_plan_with_a_control_character_in_an_output_tag_is_refused(cli, knit_home, tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text(
        'image: knit/busybox:latest\ninputs: [{path: /in, tags: ["a:b"]}]\n'
        'outputs: [{path: /out, tags: ["a:\\e]0;x\\a"]}]\n'
    )
    r = cli("plan", "apply", p)
    assert r.code == 2, r
    assert "control character" in r.err and _raw_controls(r.err) == []


def test_log_lines_escape_control_characters_and_newlines():
    import logging

    from knitctl.controlchars import log_formatter

    rec = logging.LogRecord("knitd", logging.INFO, __file__, 1, "ingested %s", ("inbox/a\x1b]0;x\x07\nFAKE line",), None)
    line = log_formatter("%(levelname)s %(message)s").format(rec)
    assert line == "INFO ingested inbox/a\\x1b]0;x\\x07\\x0aFAKE line"
    try:
        raise ValueError("bad \x1b[2J")
    except ValueError:
        import sys

        rec = logging.LogRecord("knitd", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    text = log_formatter("%(message)s").format(rec)
    assert "\x1b" not in text and "\\x1b[2J" in text and "\n" in text
