"""Watched folders, the rules (docs/ARCHITECTURE.md#watched-folders): what an item is, its tags, the
settle signature, the ingest key, and `ingest()` / `reject()` through the library
(no knitd). Fast; knitd end to end is in test_watch.py."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from knitctl import config as config_mod
from knitctl import data as data_api
from knitctl import inbox
from knitctl.config import WatchRule
from knitctl.errors import UsageError
from knitctl.tags import Tag

from conftest import File, Link, make_tree, read_tree


@pytest.fixture(autouse=True)
def _private_config(tmp_path, monkeypatch):
    """Never read or write the real user config."""
    path = tmp_path / "knit-config" / "config.yaml"
    monkeypatch.setenv("KNIT_CONFIG", str(path))
    return path


def T(*texts: str) -> list[Tag]:
    return [Tag(*t.split(":", 1)) for t in texts]


# -- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [".hidden", ".rejected", "scan.partial", "day-01.tags", ".x.partial"])
def test_ignored_names(name):
    assert inbox.is_ignored(name)


@pytest.mark.parametrize("name", ["day-01", "a.txt", "partial", "tags", "x.partial.zip", "a.tags.txt", "project=mnist"])
def test_not_ignored_names(name):
    assert not inbox.is_ignored(name)


@pytest.mark.parametrize("name,yes", [
    ("project=mnist", True), ("type=", True), ("a=b=c", True),
    ("=x", False), ("day-01", False), ("a:b", False),
])
def test_segments(name, yes):
    assert inbox.is_segment(name) is yes


def test_segment_tags_from_the_parents_between_root_and_item():
    assert inbox.segment_tags(Path("project=mnist/type=dataset")) == T("project:mnist", "type:dataset")
    # plain directories in between add nothing; a=b=c keeps the rest as the value; an empty value is a value
    assert inbox.segment_tags(Path("project=x/plain/v=a=b/empty=")) == T("project:x", "v:a=b", "empty:")
    assert inbox.segment_tags(Path(".")) == []


def test_a_reserved_segment_key_is_rejected():
    with pytest.raises(inbox.Rejected, match="reserved"):
        inbox.segment_tags(Path("knit#id=abc"))


# -- sidecars -----------------------------------------------------------------------------------


def test_sidecar_one_tag_a_line_comments_and_blanks_skipped():
    text = "# from the scanner\n\nowner:ana \n  label : cat:dog\n\r\nowner:ana\n"
    assert inbox.parse_sidecar(text, "x.tags") == T("owner:ana", "label:cat:dog", "owner:ana")


@pytest.mark.parametrize("bad,why", [
    ("ok:1\nno colon here\n", r"x\.tags line 2.*not a tag"),
    (":value\n", r"x\.tags line 1.*empty key"),
    ("knit#timestamp:2020-01-01\n", r"x\.tags line 1.*reserved"),
])
def test_bad_sidecar_lines_are_rejected_naming_the_line(bad, why):
    with pytest.raises(inbox.Rejected, match=why):
        inbox.parse_sidecar(bad, "x.tags")


def test_sidecar_of():
    assert inbox.sidecar_of(Path("/in/day-01")) == Path("/in/day-01.tags")
    assert inbox.sidecar_of(Path("/in/a.csv")) == Path("/in/a.csv.tags")


# -- items ------------------------------------------------------------------------------------------


def test_items_descend_segments_only(tmp_path):
    root = make_tree(tmp_path / "in", {
        "project=mnist": {
            "type=dataset": {"day-01": {"a.txt": "a", "sub=dir": {"b": "b"}}, "day-01.tags": "x:y\n"},
            "loose.csv": "1,2\n",
        },
        "plain": {"inner=1": {"c": "c"}},
        "single.txt": "s",
        ".hidden": {"d": "d"},
        ".rejected": {"old": "o", "old.error": "why"},
        "upload.partial": "half",
        "project=empty": {},
    })
    got = sorted(p.relative_to(root).as_posix() for p in inbox.items(root))
    # a segment-named directory inside an item is part of the item (not descended into)
    assert got == ["plain", "project=mnist/loose.csv", "project=mnist/type=dataset/day-01", "single.txt"]


def test_items_symlinks_are_items_not_followed(tmp_path):
    outside = make_tree(tmp_path / "outside", {"secret": "s"})
    root = make_tree(tmp_path / "in", {})
    os.symlink(outside, root / "link")
    os.symlink(outside, root / "project=ln")     # a segment-named link is not descended into
    got = sorted(p.name for p in inbox.items(root))
    assert got == ["link", "project=ln"]


def test_items_of_a_missing_root_is_empty(tmp_path):
    assert inbox.items(tmp_path / "nope") == []


# -- settle signature and ingest key -----------------------------------------------------------------


def test_signature_changes_with_content_mtime_entries_and_sidecar(tmp_path):
    root = make_tree(tmp_path / "in", {"item": {"a": "a", "deep": {"b": "b"}}})
    item = root / "item"
    s0 = inbox.signature(item)
    assert inbox.signature(item) == s0                          # stable when nothing changes

    (item / "deep" / "b").write_text("bb")                     # size
    s1 = inbox.signature(item)
    assert s1 != s0

    st = os.stat(item / "a")
    os.utime(item / "a", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))   # mtime only
    s2 = inbox.signature(item)
    assert s2 != s1

    (item / "deep" / "c").write_text("")                        # a new empty file deep down
    s3 = inbox.signature(item)
    assert s3 != s2

    inbox.sidecar_of(item).write_text("k:v\n")                 # the sidecar counts too
    s4 = inbox.signature(item)
    assert s4 != s3
    inbox.sidecar_of(item).write_text("k:w\n")
    assert inbox.signature(item) != s4


def test_signature_of_a_file_and_of_a_symlink_item(tmp_path):
    root = make_tree(tmp_path / "in", {"f.txt": "hello"})
    (tmp_path / "big").mkdir()
    os.symlink(tmp_path / "big", root / "ln")
    assert len(inbox.signature(root / "f.txt")) == 1
    assert len(inbox.signature(root / "ln")) == 1             # the link itself, not what it points to
    assert inbox.signature(root / "gone") == ()


def test_ingest_key_depends_on_path_and_signature(tmp_path):
    root = make_tree(tmp_path / "in", {"a": {"x": "1"}, "b": {"x": "1"}})
    sa = inbox.signature(root / "a")
    k = inbox.ingest_key(root / "a", sa)
    assert k.startswith("sha256:") and k == inbox.ingest_key(root / "a", sa)
    assert k != inbox.ingest_key(root / "b", sa)
    (root / "a" / "x").write_text("22")
    assert k != inbox.ingest_key(root / "a", inbox.signature(root / "a"))


# -- tags of an item -----------------------------------------------------------------------------


def test_item_tags_rule_segments_name_sidecar(tmp_path):
    root = make_tree(tmp_path / "in", {
        "project=mnist": {"type=dataset": {"day-01": {"a": "a"}, "day-01.tags": "owner:ana\nproject:mnist\n"}},
    })
    item = root / "project=mnist" / "type=dataset" / "day-01"
    rule = WatchRule(str(root), tags=["source:scanner", "project:mnist"])
    # in order, duplicates dropped
    assert inbox.item_tags(root, item, rule) == T(
        "source:scanner", "project:mnist", "type:dataset", "name:day-01", "owner:ana")


def test_item_tags_of_a_file_at_the_root(tmp_path):
    root = make_tree(tmp_path / "in", {"scan.pdf": "%PDF"})
    assert inbox.item_tags(root, root / "scan.pdf", WatchRule(str(root))) == T("name:scan.pdf")


def test_item_tags_a_bad_rule_tag_is_a_rejection(tmp_path):
    root = make_tree(tmp_path / "in", {"x": {"a": "a"}})
    with pytest.raises(inbox.Rejected, match="not a tag"):
        inbox.item_tags(root, root / "x", WatchRule(str(root), tags=["oops"]))


def test_item_tags_an_undecodable_sidecar_is_a_rejection(tmp_path):
    root = make_tree(tmp_path / "in", {"x": {"a": "a"}, "x.tags": b"\xff\xfe\x00bad"})
    with pytest.raises(inbox.Rejected, match=r"x\.tags.*can't be read"):
        inbox.item_tags(root, root / "x", WatchRule(str(root)))


# -- rules and the default inbox -------------------------------------------------------------------


def test_rules_with_inbox(tmp_path):
    box = tmp_path / "home" / "inbox"
    other = WatchRule(str(tmp_path / "scans"), ["a:b"], 5.0, "copy")
    assert [r.path for r in inbox.rules_with_inbox(box, [other], True)] == [str(box), other.path]
    assert inbox.rules_with_inbox(box, [other], True)[0] == WatchRule(str(box))       # defaults: settle 2 s, move
    assert inbox.rules_with_inbox(box, [other], False) == [other]
    own = WatchRule(str(box), ["from:inbox"], 0.5)
    assert inbox.rules_with_inbox(box, [own, other], True) == [own, other]           # a rule for the inbox wins


def test_config_round_trip_of_watch_rules(_private_config):
    assert config_mod.config_path() == _private_config
    cfg = config_mod.load()
    assert cfg.watch == [] and cfg.inbox is True
    cfg.watch = [WatchRule("/data/scans", ["src:scanner"], 0.5, "copy"), WatchRule("/data/drop")]
    cfg.inbox = False
    config_mod.save(cfg)
    assert oct(_private_config.stat().st_mode & 0o777) == "0o600"
    again = config_mod.load()
    assert again.watch == cfg.watch and again.inbox is False


@pytest.mark.parametrize("text,why", [
    ("watch: [\n", "not valid YAML"),
    ("- a\n- b\n", "must be a mapping"),
    ("watch:\n  - tags: [a:b]\n", r"watch\[0\]: needs at least `path`"),
])
def test_config_errors(_private_config, text, why):
    _private_config.parent.mkdir(parents=True)
    _private_config.write_text(text)
    with pytest.raises(UsageError, match=why):
        config_mod.load()


# -- reject ----------------------------------------------------------------------------------------------


def test_reject_moves_item_and_sidecar_with_an_error_file(tmp_path):
    root = make_tree(tmp_path / "in", {"k=v": {"bad": {"a": "a"}, "bad.tags": "nope\n"}})
    item = root / "k=v" / "bad"
    where = inbox.reject(root, item, "bad.tags line 1: 'nope' is not a tag")
    rej = root / ".rejected"
    assert where == rej / "bad"
    assert read_tree(rej / "bad") == {"a": ("file", b"a", False)}
    assert (rej / "bad.tags").read_text() == "nope\n"
    assert (rej / "bad.error").read_text() == "bad.tags line 1: 'nope' is not a tag\n"
    assert not item.exists() and not (root / "k=v" / "bad.tags").exists()
    # the same name again does not overwrite the first
    make_tree(root / "k=v" / "bad", {"b": "b"})
    assert inbox.reject(root, root / "k=v" / "bad", "second") == rej / "bad.2"
    assert (rej / "bad.2.error").read_text() == "second\n"
    assert (rej / "bad.error").read_text().startswith("bad.tags line 1")


# -- ingest through the library ----------------------------------------------------------------------------


def _settled(item: Path) -> tuple:
    return inbox.signature(item)


def _data(session) -> list:
    return data_api.find(session, transient="both")


@pytest.fixture
def box(session):
    root = session.home.inbox
    root.mkdir(parents=True, exist_ok=True)
    return root


def test_ingest_a_directory_moves_it_into_the_store(session, box):
    spec = {"a.txt": "alpha", "sub": {"b.bin": bytes(range(256))}, "run.sh": File("#!/bin/sh\n", 0o755),
            "ln": Link("a.txt")}
    ref = make_tree(session.home.root.parent / "ref", spec)
    item = make_tree(box / "project=mnist" / "day-01", spec)
    (box / "project=mnist" / "day-01.tags").write_text("owner:ana\n")
    rule = WatchRule(str(box), ["via:inbox"])
    sig = _settled(item)
    r = inbox.ingest(session, rule, box, item, sig)
    assert r.knit_id and not r.rejected and not r.already
    assert data_api.ingested(session, inbox.ingest_key(item, sig)) == r.knit_id
    assert not item.exists() and not (box / "project=mnist" / "day-01.tags").exists()
    d = data_api.get(session, r.knit_id)
    assert d.status == "done" and d.plan_id == "knit#uploaded"
    assert sorted(d.tags) == sorted(T("via:inbox", "project:mnist", "name:day-01", "owner:ana"))
    assert d.source == str(item)
    assert d.digest == "deferred" and d.file_count == 3  # a rename: hashed later, by knitd or the first pull
    assert data_api.ensure_digest(session, d.knit_id) == session.store.manifest(ref).digest
    assert read_tree(session.store.path_of(r.knit_id)) == read_tree(ref)


def test_ingest_a_file_becomes_a_directory_holding_it(session, box):
    (box / "scan.pdf").write_bytes(b"%PDF-1.4 fake")
    r = inbox.ingest(session, WatchRule(str(box)), box, box / "scan.pdf", _settled(box / "scan.pdf"))
    assert r.knit_id and not (box / "scan.pdf").exists()
    assert read_tree(session.store.path_of(r.knit_id)) == {"scan.pdf": ("file", b"%PDF-1.4 fake", False)}
    assert data_api.get(session, r.knit_id).tags == T("name:scan.pdf")


def test_copy_mode_leaves_the_original_and_never_ingests_it_twice(session, tmp_path):
    root = make_tree(tmp_path / "share", {"exp1": {"m.csv": "1\n"}, "exp1.tags": "k:v\n"})
    rule = WatchRule(str(root), mode="copy")
    item = root / "exp1"
    sig = _settled(item)
    first = inbox.ingest(session, rule, root, item, sig)
    assert first.knit_id and not first.already
    assert read_tree(item) == {"m.csv": ("file", b"1\n", False)} and (root / "exp1.tags").exists()
    again = inbox.ingest(session, rule, root, item, _settled(item))
    assert again.already and again.knit_id == first.knit_id
    assert [d.knit_id for d in _data(session)] == [first.knit_id]
    assert item.exists()
    # changed afterwards: a new version is a new datum
    (item / "m.csv").write_text("1\n2\n")
    third = inbox.ingest(session, rule, root, item, _settled(item))
    assert third.knit_id not in (None, first.knit_id) and not third.already
    assert len(_data(session)) == 2


def test_a_leftover_of_an_ingested_item_is_removed_not_ingested_again(session, tmp_path):
    """Crash after the commit, before the original was removed (a copy across filesystems)."""
    root = make_tree(tmp_path / "share", {"exp": {"m.csv": "1\n"}, "exp.tags": "k:v\n"})
    item = root / "exp"
    sig = _settled(item)
    first = inbox.ingest(session, WatchRule(str(root), mode="copy"), root, item, sig)  # as if the removal never happened
    again = inbox.ingest(session, WatchRule(str(root)), root, item, sig)
    assert again.already and again.knit_id == first.knit_id
    assert not item.exists() and not (root / "exp.tags").exists()
    assert len(_data(session)) == 1


@pytest.mark.parametrize("case,spec,why", [
    ("bad sidecar", {"x": {"a": "a"}, "x.tags": "fine:1\nnot a tag\n"}, r"x\.tags line 2: 'not a tag' is not a tag"),
    ("reserved sidecar key", {"x": {"a": "a"}, "x.tags": "knit#id:0000\n"}, "reserved"),
    ("link escaping", {"x": {"a": "a", "ln": Link("../../outside/secret")}}, r"ln: symbolic link to .* points outside"),
    ("absolute link", {"x": {"a": "a", "ln": Link("/etc/passwd")}}, "points outside"),
])
def test_rejections_land_in_rejected_with_an_explanation(session, box, case, spec, why, catalog_dump):
    make_tree(session.home.root.parent / "outside", {"secret": "s"})
    make_tree(box, spec)
    before = catalog_dump(session.home.root)
    item = box / "x"
    r = inbox.ingest(session, WatchRule(str(box)), box, item, _settled(item))
    assert r.knit_id is None and r.rejected
    assert not item.exists()
    assert (box / ".rejected" / "x").is_dir()

    assert re.search(why, (box / ".rejected" / "x.error").read_text()), (box / ".rejected" / "x.error").read_text()
    if "x.tags" in spec:
        assert (box / ".rejected" / "x.tags").exists() and not (box / "x.tags").exists()
    assert catalog_dump(session.home.root) == before
    assert not list(session.home.staging.iterdir())


def test_a_symlink_item_is_rejected_and_its_target_untouched(session, box, catalog_dump):
    outside = make_tree(session.home.root.parent / "outside", {"secret": "s"})
    os.symlink(outside, box / "ln")
    before = catalog_dump(session.home.root)
    r = inbox.ingest(session, WatchRule(str(box)), box, box / "ln", _settled(box / "ln"))
    assert r.rejected and "symbolic link" in r.rejected
    assert os.readlink(box / ".rejected" / "ln") == str(outside)
    assert "is a symbolic link" in (box / ".rejected" / "ln.error").read_text()
    assert read_tree(outside) == {"secret": ("file", b"s", False)}
    assert catalog_dump(session.home.root) == before


def test_a_link_inside_the_item_is_fine(session, box):
    item = make_tree(box / "x", {"a": "a", "d": {"ln": Link("../a")}})
    r = inbox.ingest(session, WatchRule(str(box)), box, item, _settled(item))
    assert r.knit_id
    assert os.readlink(session.store.path_of(r.knit_id) / "d" / "ln") == "../a"


def test_a_special_file_is_rejected(session, box, catalog_dump):
    item = make_tree(box / "x", {"a": "a"})
    os.mkfifo(item / "pipe")
    before = catalog_dump(session.home.root)
    r = inbox.ingest(session, WatchRule(str(box)), box, item, _settled(item))
    assert r.rejected and "special file" in (box / ".rejected" / "x.error").read_text()
    assert catalog_dump(session.home.root) == before


def test_a_bad_segment_is_a_rejection(session, box, catalog_dump):
    item = make_tree(box / "knit#id=zzz" / "x", {"a": "a"})
    before = catalog_dump(session.home.root)
    r = inbox.ingest(session, WatchRule(str(box)), box, item, _settled(item))
    assert r.rejected and "reserved" in r.rejected
    assert (box / ".rejected" / "x.error").exists()
    assert catalog_dump(session.home.root) == before


# -- permission trouble (the real thing, as an unprivileged user, is in test_watch.py) -------------------


def test_a_directory_that_cannot_be_listed_settles_and_is_rejected(session, box, monkeypatch, catalog_dump):
    item = make_tree(box / "locked", {"a": "a"})

    def denied(root):
        raise PermissionError(13, "Permission denied", str(root))
        yield  # pragma: no cover

    monkeypatch.setattr(inbox, "_walk", denied)
    import knitctl.store as store_mod

    monkeypatch.setattr(store_mod, "_walk", denied)
    sig = inbox.signature(item)                                  # no exception: a stable signature
    assert sig == inbox.signature(item) and any("unreadable" in str(p[0]) for p in sig)
    before = catalog_dump(session.home.root)
    r = inbox.ingest(session, WatchRule(str(box)), box, item, sig)
    assert r.rejected == "locked: can't be read (Permission denied); fix its permissions (chmod u+rx) and drop it again"
    assert (box / ".rejected" / "locked.error").read_text() == r.rejected + "\n"
    assert catalog_dump(session.home.root) == before


def test_permission_trouble_in_the_store_leaves_the_item_in_place(session, box, monkeypatch):
    item = make_tree(box / "fine", {"a": "a"})

    def publish_denied(*a, **kw):
        raise PermissionError(13, "Permission denied", str(session.home.staging / "x"))

    monkeypatch.setattr(data_api, "commit_uploads", publish_denied)
    with pytest.raises(PermissionError):
        inbox.ingest(session, WatchRule(str(box)), box, item, _settled(item))
    assert read_tree(item) == {"a": ("file", b"a", False)} and not (box / ".rejected").exists()


def test_permission_trouble_with_the_item_rejects_it(session, box, monkeypatch):
    item = make_tree(box / "racy", {"a": "a"})

    def read_denied(*a, **kw):
        raise PermissionError(13, "Permission denied", str(item / "a"))

    monkeypatch.setattr(data_api, "commit_uploads", read_denied)
    r = inbox.ingest(session, WatchRule(str(box)), box, item, _settled(item))
    assert r.rejected == "racy/a: can't be read (Permission denied); fix its permissions (chmod u+rx) and drop it again"
    assert (box / ".rejected" / "racy").is_dir()


# -- knitd's watcher, in-process -------------------------------------------------------------------------


def test_the_watcher_ingests_a_copied_item_once_and_then_leaves_it_alone(session, tmp_path, monkeypatch, caplog):
    import logging
    import threading

    from daemon.watcher import Watcher

    share = make_tree(tmp_path / "share", {"exp": {"m.csv": "1\n"}})
    config_mod.save(config_mod.Config(watch=[WatchRule(str(share), settle=0.0, mode="copy")], inbox=False))
    w = Watcher(session.home, threading.Event())
    w._load_rules()
    roots = w._roots()
    caplog.set_level(logging.INFO, logger="knitd")
    for _ in range(6):
        w.scan(session, roots)
    assert [r.knit_id is not None and not r.already for r in w.recent] == [True]
    assert "already ingested" not in caplog.text
    assert len(_data(session)) == 1 and (share / "exp").exists()
    (share / "exp" / "m.csv").write_text("1\n2\n")                 # a change is a new version
    for _ in range(3):
        w.scan(session, roots)
    assert len(_data(session)) == 2 and len(w.recent) == 2


def test_item_tags_a_name_with_control_characters_is_a_rejection(tmp_path):
    root = tmp_path / "inbox"
    root.mkdir()
    item = root / "evil\x1b]0;pwned\x07.csv"
    item.write_text("x")
    with pytest.raises(inbox.Rejected, match="control character") as e:
        inbox.item_tags(root, item, WatchRule(str(root)))
    assert "\x1b" not in str(e.value) and "\x07" not in str(e.value)
