"""A header read never costs an open connection its locks: POSIX locks belong to the process, and
closing any descriptor of the catalog in a process that has it open drops them all — another
process then deletes the WAL from under it, and its commits are lost to everyone else."""

from __future__ import annotations

import os
import subprocess
import sys

from knitctl import pairing
from knitctl.catalog import Catalog, openfiles, preflight


def _fds_on(path) -> list[str]:
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(path)):
            out.append(target)
    return out


def test_header_reads_leave_an_open_catalog_alone(tmp_path):
    path = tmp_path / "catalog.db"
    cat = Catalog(path)
    try:
        cat.conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
        assert openfiles.is_open(path)
        assert openfiles.read_head(path, 16) is None         # nothing opened, nothing closed
        assert pairing.inspect_file(path) == "sqlite"
        preflight.check_file(path, readonly=False)
        # another process writes and closes: the WAL it commits to is the one this process reads
        code = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('INSERT INTO t VALUES (7)'); "
                "c.commit(); c.close()")
        subprocess.run([sys.executable, "-c", code, str(path)], check=True)
        assert cat.conn.execute("SELECT x FROM t").fetchall()[0][0] == 7
        assert not any("(deleted)" in t for t in _fds_on(path)), _fds_on(path)
    finally:
        cat.close()
    assert not openfiles.is_open(path)
    assert openfiles.read_head(path, 16) == pairing.SQLITE_MAGIC


def test_a_second_process_closing_does_not_delete_the_wal_under_the_first(tmp_path):
    """The failure itself: a header read here, then another process's last close, must not orphan our -wal."""
    path = tmp_path / "catalog.db"
    cat = Catalog(path)
    try:
        cat.conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
        pairing.inspect_file(path)
        code = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('SELECT 1 FROM t').fetchall(); c.close()"
        subprocess.run([sys.executable, "-c", code, str(path)], check=True)
        with cat.write() as c:
            c.execute("INSERT INTO t VALUES (1)")
        code = "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM t').fetchone()[0])"
        seen = subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True).stdout
        assert seen.strip() == "1"
        assert not any("(deleted)" in t for t in _fds_on(path))
    finally:
        cat.close()
