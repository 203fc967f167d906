"""`knitctl data push|find|show|pull|tag`, end to end through a real subprocess."""

from __future__ import annotations

import os
import re
import stat
import tarfile
from pathlib import Path

import pytest
import yaml

from knitctl import data as data_api
from knitctl.home import Home
from knitctl.tags import parse_time

from conftest import File, Link, catalog_dump, make_tree, read_tree, run_cli

ID_RE = re.compile(r"^[0-9a-f]{12}$")

TREE = {
    "README.md": "# a dataset\n",
    "empty.txt": b"",
    "train": {
        "part-0.bin": bytes(range(256)) * 40,
        "labels.csv": "a,b\n1,2\n",
        "nested": {"deeper": {"x.txt": "deep\n"}},
    },
    "bin": {"prepare.sh": File("#!/bin/sh\necho prepared\n", 0o755)},
    "empty-dir": {},
    "latest": Link("train/labels.csv"),
}


@pytest.fixture
def src(tmp_path) -> Path:
    return make_tree(tmp_path / "d", TREE)


def ok(r):
    assert r.code == 0, r
    assert "Traceback" not in r.err, r
    return r


def push(cli, *args, **kw) -> str:
    """Push and return the one new id."""
    r = ok(cli("data", "push", *args, **kw))
    (line,) = r.out_lines
    return line.split("\t")[0]


def find(cli, *args, home=None) -> list[dict]:
    return ok(cli("data", "find", *args, "-o", "json", **({"home": home} if home else {}))).json()


def tags_of(cli, knit_id) -> list[str]:
    return ok(cli("data", "show", knit_id, "-o", "json")).json()["tags"]


def mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


# -- push and find -----------------------------------------------------------------------


def test_push_prints_the_new_datum_and_find_lists_it(cli, src, tmp_path):
    r = ok(cli("data", "push", "./d", "-t", " project : x ", "-t", "project:x", "-t", "type:dataset", cwd=tmp_path))
    (line,) = r.out_lines
    fields = line.split("\t")
    assert len(fields) == 4, line  # piped: id, tags, size, upstream, tab-separated
    knit_id, tags, size, upstream = fields
    assert ID_RE.match(knit_id)
    assert tags.split(" ")[:2] == ["project:x", "type:dataset"]  # trimmed, deduplicated
    assert tags.split(" ")[2].startswith("knit#timestamp:")
    assert upstream.startswith("knit#uploaded:")
    assert "\x1b" not in r.out  # no colour, no table art
    assert f"pushed {knit_id}" in r.err

    (d,) = find(cli, "-t", "project:x")
    assert d["knit_id"] == knit_id
    assert d["status"] == "done"
    assert d["tags"][:3] == ["project:x", "type:dataset", f"knit#id:{knit_id}"]
    (ts,) = [t.split(":", 1)[1] for t in d["tags"] if t.startswith("knit#timestamp:")]
    assert ts == d["timestamp"]
    parse_time(ts)  # a valid RFC 3339 time
    assert d["upstream"]["plan_id"] == "knit#uploaded"
    assert d["file_count"] == 6
    assert d["size"] == sum(len(v[1]) for v in read_tree(src).values() if v[0] == "file")
    assert d["source"] == str(src)


def test_find_matches_every_given_tag_including_system_tags(tmp_path, knit_home):
    """The query rules, through the library (the CLI passes its flags straight through)."""
    from knitctl import data as data_api
    from knitctl.errors import UsageError
    from knitctl.session import Session

    with Session.open() as s:
        (a,) = data_api.push(s, [make_tree(tmp_path / "a", {"f": "a"})], ["project:x", "type:dataset"])
        (b,) = data_api.push(s, [make_tree(tmp_path / "b", {"f": "b"})], ["project:x", "type:model"])

        def ids(*tags, **kw):
            return [d.knit_id for d in data_api.find(s, tags, **kw)]

        same_ms = a.timestamp_ms == b.timestamp_ms  # two pushes within one millisecond: ordered by id
        both = sorted([a.knit_id, b.knit_id]) if same_ms else [a.knit_id, b.knit_id]
        assert ids("project:x") == both  # oldest first
        assert ids("project:x", "type:model") == [b.knit_id]
        assert ids("project:y") == []
        assert ids() == both
        assert ids(f"knit#id:{a.knit_id}") == [a.knit_id]
        ts = a.to_dict()["timestamp"]
        assert ids(f"knit#timestamp:{ts}", "type:dataset") == [a.knit_id]
        assert ids("knit#transient:processing") == []
        assert ids(transient="yes") == []
        assert ids(transient="both") == both
        assert ids(since=ts) == both
        assert ids(since=ts, duration="1ms") == (both if same_ms else [a.knit_id])
        assert ids(since=b.to_dict()["timestamp"]) == (both if same_ms else [b.knit_id])
        assert ids(since="2999-01-01T00:00:00Z") == []
        with pytest.raises(UsageError, match="--duration needs --since"):
            ids(duration="1h")


def test_push_of_several_sources_makes_one_datum_each(cli, tmp_path):
    make_tree(tmp_path / "w" / "proj" / "day-01", {"f": "1"})
    (tmp_path / "w" / "weights.bin").write_bytes(b"\x00\x01" * 10)
    # -n names each datum after its directory, however the path is spelled
    r = ok(cli("data", "push", "proj/day-01", "proj/day-01/..", "../w/weights.bin", "-n", "-t", "name:day-01",
               cwd=tmp_path / "w"))
    got = [line.split("\t")[0] for line in r.out_lines]
    assert len(set(got)) == 3
    by_id = {d["knit_id"]: [t for t in d["tags"] if not t.startswith("knit#")] for d in find(cli)}
    assert [by_id[i] for i in got] == [
        ["name:day-01"],  # not twice
        ["name:day-01", "name:proj"],
        ["name:day-01", "name:weights.bin"],
    ]
    out = tmp_path / "out"
    out.mkdir()
    ok(cli("data", "pull", got[2], out, "-x"))
    assert read_tree(out / got[2]) == {"weights.bin": ("file", b"\x00\x01" * 10, False)}


# -- one committed datum, read many ways ----------------------------------------------------------


@pytest.fixture(scope="module")
def pushed(tmp_path_factory):
    """A home holding TREE, pushed with `-o yaml`."""
    base = tmp_path_factory.mktemp("pushed")
    src = make_tree(base / "d", TREE)
    r = run_cli(["data", "push", src, "-t", "kind:tree", "-o", "yaml"], home=base / "home")
    assert r.code == 0, r
    (d,) = yaml.safe_load(r.out)
    return {"home": base / "home", "src": src, "base": base, "id": d["knit_id"], "pushed": d}


def test_pull_extract_reproduces_files_byte_for_byte(pushed, tmp_path):
    knit_id = pushed["id"]
    out = tmp_path / "out"
    out.mkdir()
    r = ok(run_cli(["data", "pull", knit_id[:6], out, "-x"], home=pushed["home"]))  # a unique prefix will do
    assert r.out.strip() == str(out / knit_id)
    got = read_tree(out / knit_id)
    assert got == read_tree(pushed["src"])
    assert got["bin/prepare.sh"][2] is True and got["README.md"][2] is False
    assert got["empty.txt"] == ("file", b"", False)
    assert got["empty-dir"] == ("dir",)
    assert got["latest"] == ("link", "train/labels.csv")
    assert sorted(os.listdir(out)) == [knit_id]  # no partial left behind


def test_pull_tar_gz_holds_the_same_files(pushed, tmp_path):
    knit_id = pushed["id"]
    out = tmp_path / "out"
    out.mkdir()
    r = ok(run_cli(["data", "pull", knit_id, out], home=pushed["home"]))
    archive = out / f"{knit_id}.tar.gz"
    assert r.out.strip() == str(archive)
    assert sorted(os.listdir(out)) == [archive.name]
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert members["bin/prepare.sh"].mode & 0o100
        assert not members["README.md"].mode & 0o100
        tar.extractall(tmp_path / "x", filter="tar")
    assert read_tree(tmp_path / "x") == read_tree(pushed["src"])


def test_yaml_output_parses_and_matches_json(pushed):
    d = pushed["pushed"]
    assert d["tags"][:2] == ["kind:tree", f"knit#id:{d['knit_id']}"]
    found = yaml.safe_load(ok(run_cli(["data", "find", "-t", "kind:tree", "-o", "yaml"], home=pushed["home"])).out)
    assert found == [d]
    shown = yaml.safe_load(ok(run_cli(["data", "show", d["knit_id"][:3].upper(), "-o", "yaml"], home=pushed["home"])).out)
    assert {k: v for k, v in shown.items() if k not in ("downstream", "nominations", "provenance")} == d
    assert shown["provenance"]["knit_version"]  # show adds who made it (tests/test_provenance.py)


def test_show_describes_the_datum(pushed):
    d = pushed["pushed"]
    r = ok(run_cli(["data", "show", d["knit_id"][:4]], home=pushed["home"]))
    for word in (d["knit_id"], "kind:tree", d["digest"], str(pushed["src"]), "knit#uploaded", "6 files"):
        assert word in r.out


# -- tag ---------------------------------------------------------------------------------------


def test_tag_changes_what_find_returns(cli, src, knit_home):
    knit_id = push(cli, src, "-t", "project:x", "-t", "stage:raw", "-t", "keep:me")
    prefix = knit_id[:5]  # a unique prefix will do

    def user_tags(tags):
        return [t for t in tags if not t.startswith("knit#")]

    ok(cli("data", "tag", prefix, "--remove", "stage:raw", "--remove-key", "project", "--add", "stage:clean"))
    (d,) = find(cli, "-t", "stage:clean")
    assert d["knit_id"] == knit_id
    assert user_tags(d["tags"]) == ["keep:me", "stage:clean"]
    assert find(cli, "-t", "project:x") == []

    # removals first, then additions: the re-added tag stays, the key's other values go
    r = ok(cli("data", "tag", prefix, "--remove", "stage:clean", "--remove-key", "stage",
               "--add", "stage:clean", "--add", "stage:b", "-o", "yaml"))
    assert user_tags(yaml.safe_load(r.out)["tags"]) == ["keep:me", "stage:b", "stage:clean"]

    # adding a present tag and removing an absent one are silent no-ops
    before = catalog_dump(knit_home)
    r = ok(cli("data", "tag", prefix, "--add", "stage:b", "--remove", "absent:1", "--remove-key", "nokey", "-o", "json"))
    assert r.err == ""
    assert user_tags(r.json()["tags"]) == ["keep:me", "stage:b", "stage:clean"]
    assert catalog_dump(knit_home) == before


# -- move -------------------------------------------------------------------------------------------


def test_move_renames_on_the_same_filesystem(cli, src, tmp_path, knit_home):
    from knitctl.home import Home
    from knitctl.store import Store

    expected = read_tree(src)
    inode = os.stat(src).st_ino
    twin_digest = Store(Home.resolve(tmp_path / "other")).manifest(make_tree(tmp_path / "twin", TREE)).digest
    (d,) = ok(cli("data", "push", "--move", src, "-t", "moved:yes", "-o", "json")).json()
    assert not src.exists()
    committed = knit_home / "data" / d["knit_id"]
    assert os.stat(committed).st_ino == inode  # a rename, not a copy
    assert read_tree(committed) == expected
    assert d["digest"] == "deferred" and d["file_count"] == 6  # a move reads no byte at push time
    out = tmp_path / "pulled"
    out.mkdir()
    ok(cli("data", "pull", d["knit_id"], out, "-x"))  # the first pull hashes and records it
    (shown,) = ok(cli("data", "find", "-t", "moved:yes", "-o", "json")).json()
    assert shown["digest"] == twin_digest
    for p in [committed, *committed.rglob("*")]:  # the user's modes gave way to the store's
        if not p.is_symlink():
            assert mode(p) & 0o277 == 0, f"{p}: {oct(mode(p))}"
    assert os.listdir(knit_home / "staging") == []


# -- privacy ------------------------------------------------------------------------------------------


def test_home_and_store_are_private_to_the_user(cli, src, knit_home, tmp_path):
    old = os.umask(0)
    try:
        knit_id = push(cli, src, "-t", "a:b")
    finally:
        os.umask(old)
    assert mode(knit_home) == 0o700
    for sub in ("data", "staging", "logs", "inbox", "trash"):
        assert mode(knit_home / sub) == 0o700, sub
    for suffix in ("", "-wal", "-shm"):
        f = Path(f"{knit_home / 'catalog.db'}{suffix}")
        if f.exists():
            assert mode(f) == 0o600, f
    leaks = []
    for dirpath, dirnames, filenames in os.walk(knit_home):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if not p.is_symlink() and mode(p) & 0o077:
                leaks.append(f"{p}: {oct(mode(p))}")
    assert leaks == []
    committed = knit_home / "data" / knit_id
    writable = [str(p) for p in [committed, *committed.rglob("*")] if not p.is_symlink() and mode(p) & 0o222]
    assert writable == []


# -- bad input -----------------------------------------------------------------------------------------


N_DATA = 17  # more data than hex digits: two ids must share their first character


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad-input")
    home = base / "outer" / "home"
    dirs = [make_tree(base / "src" / f"d{i:02}", {"f.txt": f"{i}\n"}) for i in range(N_DATA)]
    r = run_cli(["data", "push", *dirs, "-t", "project:x"], home=home)
    assert r.code == 0, r
    ids = [line.split("\t")[0] for line in r.out_lines]
    assert len(ids) == N_DATA
    fifo_dir = make_tree(base / "with-fifo", {"a": "x"})
    os.mkfifo(fifo_dir / "pipe")
    make_tree(base / "escaping", {"a": "x", "l": Link("../../etc/passwd")})
    make_tree(base / "good", {"a": "x"})
    (base / "pulled").mkdir()
    (base / "pulled" / ids[0]).mkdir()
    return {"base": base, "home": home, "ids": ids}


def _ambiguous(ids):
    firsts = [i[0] for i in ids]
    return next(c for c in firsts if firsts.count(c) > 1)


def _unknown(ids):
    """A well-formed full id that is not one of them."""
    return next(f"{n:012x}" for n in range(100) if f"{n:012x}" not in ids)


BAD = {
    # push
    "push-missing-dir": (lambda c: ["data", "push", c["base"] / "nope", "-t", "a:b"], "no such file"),
    "push-tag-without-colon": (lambda c: ["data", "push", c["base"] / "good", "-t", "nocolon"], "key:value"),
    "push-reserved-tag": (lambda c: ["data", "push", c["base"] / "good", "-t", "knit#id:abc"], "reserved"),
    "push-empty-key": (lambda c: ["data", "push", c["base"] / "good", "-t", " :v"], "empty key"),
    "push-move-holding-home": (lambda c: ["data", "push", "--move", c["home"].parent], "KNIT_HOME"),
    # ids
    "show-unknown-id": (lambda c: ["data", "show", _unknown(c["ids"])], "no data with id"),
    "show-invalid-id": (lambda c: ["data", "show", "xyz!"], "not valid"),
    "show-ambiguous-prefix": (
        lambda c: ["data", "show", _ambiguous(c["ids"])],
        lambda c: ["ambiguous"] + sorted(i for i in c["ids"] if i.startswith(_ambiguous(c["ids"])))[:5],
    ),
    "pull-ambiguous-prefix": (lambda c: ["data", "pull", _ambiguous(c["ids"]), c["base"] / "pulled", "-x"], "ambiguous"),
    # tag
    "tag-add-reserved": (lambda c: ["data", "tag", c["ids"][0], "--add", "ok:1", "--add", "knit#timestamp:x"], "reserved"),
    # find, pull
    "find-bad-since": (lambda c: ["data", "find", "--since", "yesterday"], "RFC 3339"),
    "pull-over-existing": (lambda c: ["data", "pull", c["ids"][0], c["base"] / "pulled", "-x"], "already exists"),
}

# The same rules through the library, for the inputs whose CLI path is the one above.
BAD_LIB = {
    "push-special-file": (lambda s, c: data_api.push(s, [c["base"] / "with-fifo"]), "special file"),
    "push-link-outside": (lambda s, c: data_api.push(s, [c["base"] / "escaping"]), "points outside"),
    "push-inside-home": (lambda s, c: data_api.push(s, [c["home"] / "data"]), "inside KNIT_HOME"),
    "push-holding-home": (lambda s, c: data_api.push(s, [c["home"].parent]), "holds KNIT_HOME"),
    "push-one-bad-of-two": (lambda s, c: data_api.push(s, [c["base"] / "good", c["base"] / "nope"]), "no such file"),
    "push-nothing": (lambda s, c: data_api.push(s, []), "at least one"),
    "tag-add-without-colon": (lambda s, c: data_api.tag(s, c["ids"][0], add=["ok:1", "nocolon"]), "key:value"),
    "tag-add-empty-key": (lambda s, c: data_api.tag(s, c["ids"][0], add=[":v"]), "empty key"),
    "tag-remove-reserved": (lambda s, c: data_api.tag(s, c["ids"][0], remove=["knit#id:x"]), "reserved"),
    "tag-remove-empty-key": (lambda s, c: data_api.tag(s, c["ids"][0], remove_keys=[" "]), "empty"),
    "find-tag-without-colon": (lambda s, c: data_api.find(s, ["nocolon"]), "key:value"),
    "find-unknown-system-key": (lambda s, c: data_api.find(s, ["knit#colour:red"]), "not a system tag"),
    "find-bad-transient-value": (lambda s, c: data_api.find(s, ["knit#transient:maybe"]), "not a system tag"),
    "find-bad-transient": (lambda s, c: data_api.find(s, transient="maybe"), "--transient"),
    "find-bad-duration": (lambda s, c: data_api.find(s, since="2026-01-01T00:00:00Z", duration="soon"), "not a duration"),
    "pull-unknown-id": (lambda s, c: data_api.pull(s, _unknown(c["ids"]), c["base"] / "pulled", extract=True), "no data with id"),
    "tag-unknown-id": (lambda s, c: data_api.tag(s, _unknown(c["ids"]), add=["a:b"]), "no data with id"),
    "tag-ambiguous-prefix": (lambda s, c: data_api.tag(s, _ambiguous(c["ids"]), add=["a:b"]), "ambiguous"),
    "tag-remove-system-key": (lambda s, c: data_api.tag(s, c["ids"][0], remove_keys=["knit#id"]), "reserved"),
    "pull-into-a-file": (lambda s, c: data_api.pull(s, c["ids"][1], c["base"] / "good" / "a", extract=False), "not a directory"),
}


def state_of(ctx) -> tuple:
    home, base = ctx["home"], ctx["base"]
    return (
        catalog_dump(home),
        sorted(os.listdir(home / "data")),
        sorted(os.listdir(home / "staging")),
        read_tree(base / "pulled"),
        read_tree(base / "good"),
    )


def assert_one_clear_error(r, expect: str):
    assert r.code in (1, 2), r
    assert "Traceback" not in r.err, r
    assert len(r.err_lines) == 1, r
    assert r.err_lines[0].startswith("knitctl: error: "), r
    assert expect in r.err, r
    assert r.out == "", r


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gets_one_clear_error_and_changes_nothing(populated, case):
    make_args, expect = BAD[case]
    before = state_of(populated)
    assert before[2] == []
    r = run_cli(make_args(populated), home=populated["home"])
    for word in expect(populated) if callable(expect) else [expect]:
        assert_one_clear_error(r, word)
    assert state_of(populated) == before


@pytest.mark.parametrize("case", sorted(BAD_LIB))
def test_bad_input_is_refused_by_the_library_and_changes_nothing(populated, case):
    from knitctl.errors import KnitError
    from knitctl.session import Session

    call, expect = BAD_LIB[case]
    before = state_of(populated)
    with Session.open(Home.resolve(populated["home"])) as s:
        with pytest.raises(KnitError, match=expect) as e:
            call(s, populated)
    assert "\n" not in e.value.message
    assert state_of(populated) == before


def test_corrupted_datum_is_refused_at_pull(cli, src, tmp_path, knit_home):
    from knitctl.session import Session

    with Session.open() as s:
        (d,) = data_api.push(s, [src])
    knit_id = d.knit_id
    victim = knit_home / "data" / knit_id / "train" / "labels.csv"
    os.chmod(victim, 0o600)
    victim.write_text("a,b\n1,3\n")
    out = tmp_path / "out"
    out.mkdir()
    before = (catalog_dump(knit_home), read_tree(knit_home / "data"))
    for extra in ([], ["-x"]):
        r = cli("data", "pull", knit_id, out, *extra)
        assert_one_clear_error(r, "corrupted")
        assert knit_id in r.err
        assert os.listdir(out) == []
    assert (catalog_dump(knit_home), read_tree(knit_home / "data")) == before
