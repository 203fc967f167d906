"""Files that are not a store knit may open (as asked): one clear error each, the file left as it was.

Corrupt, not SQLite, truncated, read-only opened read-write, another application's database, a
newer schema — each refused before
anything is written: the bytes are the same afterwards and no file appears beside it (no
journal-mode switch, no table created, no -wal/-shm left behind).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import struct
from pathlib import Path

import pytest

from knitctl.catalog import preflight
from knitctl.catalog.schema import LATEST
from knitctl.metadata import errors
from knitctl.metadata import metadata_store_pb2 as pb
from knitctl.metadata.metadata_store import MetadataStore

FIXTURE = Path(__file__).parent / "fixtures" / "catalog-v2.db"
MODES = [pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE, pb.SqliteMetadataSourceConfig.READWRITE,
         pb.SqliteMetadataSourceConfig.READONLY]


def config(path: Path, mode: int) -> pb.ConnectionConfig:
    c = pb.ConnectionConfig()
    c.sqlite.filename_uri = str(path)
    c.sqlite.connection_mode = mode
    return c


def snapshot(directory: Path) -> dict[str, bytes | None]:
    """The directory's files and their bytes (None for a subdirectory)."""
    return {p.name: None if p.is_dir() else p.read_bytes() for p in sorted(directory.iterdir())}


def knit_copy(d: Path, name: str) -> Path:
    p = d / name
    shutil.copyfile(FIXTURE, p)
    return p


def corrupt(d: Path) -> Path:
    p = knit_copy(d, "corrupt.db")
    b = bytearray(p.read_bytes())
    b[100:3000] = bytes((i * 37 + 11) % 256 for i in range(2900))  # the schema page is garbage
    p.write_bytes(bytes(b))
    return p


def not_sqlite(d: Path) -> Path:
    p = d / "notes.db"
    p.write_text("these are my notes, not a database\n" * 50)
    return p


def truncated(d: Path) -> Path:
    p = knit_copy(d, "truncated.db")
    p.write_bytes(p.read_bytes()[: 3 * 4096 + 123])
    return p


def foreign(d: Path) -> Path:
    p = d / "app.db"
    conn = sqlite3.connect(p)
    conn.execute("CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users VALUES (1, 'ann')")
    conn.commit()
    conn.close()
    return p


def newer(d: Path) -> Path:
    p = knit_copy(d, "newer.db")
    conn = sqlite3.connect(p)
    conn.execute(f"PRAGMA user_version = {LATEST + 5}")
    conn.close()
    for side in ("-wal", "-shm"):
        Path(f"{p}{side}").unlink(missing_ok=True)
    return p


CASES = {
    # name: (make, error class, words the one line must hold)
    "corrupt": (corrupt, errors.DataLossError, ["damaged", "malformed", "restore it from a backup"]),
    "not-sqlite": (not_sqlite, errors.FailedPreconditionError, ["not an SQLite database", "point at"]),
    "truncated": (truncated, errors.DataLossError, ["truncated", "restore it from a backup"]),
    "foreign": (foreign, errors.FailedPreconditionError, ["something else", "users", "point at"]),
    "newer": (newer, errors.FailedPreconditionError, [f"schema version {LATEST + 5}", "upgrade knit"]),
}


@pytest.mark.parametrize("mode", MODES, ids=["opencreate", "readwrite", "readonly"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_file_is_refused_in_one_line_and_left_untouched(tmp_path, case, mode):
    make, cls, words = CASES[case]
    path = make(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(cls) as caught:
        MetadataStore(config(path, mode))
    message = caught.value.message
    assert "\n" not in message and str(path) in message
    for w in words:
        assert w in message
    assert snapshot(tmp_path) == before


def test_a_read_only_file_opened_read_write_is_refused_and_readable_read_only(tmp_path):
    path = knit_copy(tmp_path, "ro.db")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = DELETE")  # as if copied off another machine: no WAL
    conn.close()
    os.chmod(path, 0o444)
    before = snapshot(tmp_path)
    for mode in MODES[:2]:
        with pytest.raises(errors.PermissionDeniedError) as caught:
            MetadataStore(config(path, mode))
        assert "read-only (mode 0444)" in caught.value.message and "chmod u+w" in caught.value.message
        assert "\n" not in caught.value.message
    assert snapshot(tmp_path) == before


def test_a_new_or_empty_file_becomes_a_store(tmp_path):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    for p in (empty, tmp_path / "new.db"):
        with MetadataStore(config(p, MODES[0])) as s:
            assert s.get_artifact_types() == []


def test_damage_found_later_is_a_data_loss_error(tmp_path):
    path = tmp_path / "m.db"
    with MetadataStore(config(path, MODES[0])) as s:
        tid = s.put_artifact_type(pb.ArtifactType(name="T"))
        s.put_artifacts([pb.Artifact(type_id=tid, uri="x" * 3000) for _ in range(200)])
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = DELETE")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'Artifact'").fetchone()[0]
    conn.close()
    b = bytearray(path.read_bytes())
    b[(root - 1) * page_size: root * page_size] = b"\xff" * page_size  # the artifact table's root page
    path.write_bytes(bytes(b))
    with MetadataStore(config(path, MODES[2])) as s:
        with pytest.raises(errors.DataLossError, match="damaged .*restore it from a backup"):
            s.get_artifacts()


# -- the rules, as pure functions ------------------------------------------------------------


def header(*, page_size=4096, pages=10, counter=7, valid_for=7, user_version=1, read_version=1) -> bytes:
    h = bytearray(100)
    h[:16] = preflight.MAGIC
    h[16:18] = struct.pack(">H", page_size)
    h[18] = h[19] = read_version
    h[24:32] = struct.pack(">II", counter, pages)
    h[60:64] = struct.pack(">i", user_version)
    h[92:96] = struct.pack(">I", valid_for)
    return bytes(h)


def test_header_rules():
    ok = header()
    assert preflight.header_problem(ok, 40960) is None
    assert preflight.header_problem(b"", 0) is None  # a new, empty file
    assert preflight.header_problem(b"PK\x03\x04zip", 500)[0] == "not-sqlite"
    assert preflight.header_problem(preflight.MAGIC[:10], 10)[0] == "damaged"
    assert preflight.header_problem(ok, 4096 * 3)[0] == "damaged"
    assert preflight.header_problem(header(valid_for=6), 4096 * 3) is None  # the size field is stale: not used
    assert preflight.header_problem(header(page_size=1000), 40960)[0] == "damaged"
    assert preflight.header_problem(header(page_size=1, pages=1), 65536) is None  # 1 means 65536
    assert preflight.header_problem(header(read_version=3), 40960)[0] == "newer"
    assert preflight.header_problem(header(user_version=LATEST + 1), 40960)[0] == "newer"


def test_table_rules():
    knit = set(preflight.KNIT_TABLES) | {"run_history"}
    assert preflight.tables_problem(set(), 0) is None
    assert preflight.tables_problem(knit, 1) is None and preflight.tables_problem(knit, LATEST) is None
    assert preflight.tables_problem(knit, 0)[0] == "foreign"  # knit's names, but never migrated by knit
    # an ml-metadata store is not a catalog (the metadata API reads it through knitctl.metadata.mlmd_file)
    assert preflight.tables_problem({"type", "artifact", "mlmdenv", "context"}, 0)[0] == "ml-metadata"
    assert preflight.tables_problem({"users"}, 0)[0] == "foreign"
    assert preflight.tables_problem(set(), 3)[0] == "foreign"  # someone's versioned but empty database


@pytest.mark.parametrize("case", ["not-sqlite", "foreign", "truncated"])
def test_the_cli_says_it_in_one_line(cli, tmp_path, case):
    make, _, words = CASES[case]
    path = make(tmp_path)
    before = snapshot(tmp_path)
    r = cli("metadata", "artifacts", "--db", str(path))
    assert r.code == 1 and r.out == "", r
    assert len(r.err_lines) == 1 and "Traceback" not in r.err and words[0] in r.err, r
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("case", ["foreign", "ml-metadata"])
def test_knits_own_catalog_refuses_a_database_of_something_else_untouched(cli, knit_home, case):
    from knitctl.home import Home

    home = Home.resolve(knit_home)
    home.ensure()
    home.catalog.unlink(missing_ok=True)
    if case == "foreign":
        shutil.move(foreign(knit_home.parent), home.catalog)
    else:  # the shape ml-metadata writes (its MLMDEnv table), made by hand here
        conn = sqlite3.connect(home.catalog)
        conn.executescript("CREATE TABLE Type (id INTEGER PRIMARY KEY, name TEXT); CREATE TABLE MLMDEnv "
                           "(schema_version INTEGER PRIMARY KEY); INSERT INTO MLMDEnv VALUES (10);")
        conn.close()
    before = snapshot(home.root)
    r = cli("data", "find")
    assert r.code == 1 and len(r.err_lines) == 1 and "Traceback" not in r.err, r
    assert ("something else" if case == "foreign" else "ml-metadata store") in r.err
    assert snapshot(home.root) == before  # no table made, no -wal, the journal mode as it was
