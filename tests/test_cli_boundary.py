"""The CLI's error boundary: whatever escapes a command is one line and an exit code, never a traceback."""

from __future__ import annotations

import os
import sqlite3
import sys

import pytest

from knitctl.cli import boundary, main


def _run(monkeypatch, capsys, exc: BaseException, tmp_path) -> tuple[int, str]:
    def boom(argv):
        raise exc

    monkeypatch.setattr(main, "_dispatch", boom)
    monkeypatch.setattr(sys, "argv", ["knitctl", "data", "find"])
    monkeypatch.setenv("KNIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    with pytest.raises(SystemExit) as e:
        main.run()
    return e.value.code, capsys.readouterr().err


@pytest.mark.parametrize("exc", [
    sqlite3.DatabaseError("database disk image is malformed"),
    sqlite3.DatabaseError("file is not a database"),
    sqlite3.OperationalError("database disk image is malformed"),
])
def test_a_damaged_catalog_mid_command_is_named_with_the_fix(monkeypatch, capsys, tmp_path, exc):
    code, err = _run(monkeypatch, capsys, exc, tmp_path)
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"knitctl: error: the catalog at {tmp_path / 'home' / 'catalog.db'} is damaged (")
    assert "run `knitctl doctor`" in lines[0] and "Traceback" not in err


def test_a_busy_catalog_is_not_called_damaged(monkeypatch, capsys, tmp_path):
    code, err = _run(monkeypatch, capsys, sqlite3.OperationalError("database is locked"), tmp_path)
    assert code == 1 and "could not be used (database is locked)" in err and "damaged" not in err


@pytest.mark.parametrize("exc, words", [
    (RuntimeError("a bug"), "unexpected RuntimeError: a bug"),
    (RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
    (ZeroDivisionError("division by zero"), "unexpected ZeroDivisionError"),
])
def test_anything_else_is_one_line_and_the_traceback_goes_to_a_private_file(monkeypatch, capsys, tmp_path, exc, words):
    code, err = _run(monkeypatch, capsys, exc, tmp_path)
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in err, err
    where = lines[0].split("details in ", 1)[1].split(" ")[0].rstrip(";")
    assert where.startswith(str(tmp_path / "state"))
    assert os.stat(where).st_mode & 0o077 == 0
    with open(where) as f:
        text = f.read()
    assert "Traceback (most recent call last)" in text and type(exc).__name__ in text


def test_details_fall_back_to_the_temp_dir(monkeypatch, tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the state directory would be")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocked))
    monkeypatch.setattr(boundary.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    try:
        raise ValueError("x")
    except ValueError as e:
        path = boundary.write_details(e, ["data", "find"])
    assert path is not None and path.startswith(str(tmp_path / "tmp"))
