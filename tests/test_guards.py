"""Guards against self-destruction: folders that may never be watched, and config files
that must be refused field by field (never a traceback, never a rule that swallows KNIT_HOME)."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest

from knitctl import config as config_mod
from knitctl.config import Config, WatchRule
from knitctl.errors import UsageError
from knitctl.guards import refusal
from knitctl.home import Home


def _why(text, home: Path, **kw):
    return refusal(text, home_root=home, home_inbox=home / "inbox", user_home=kw.pop("user_home", "/nonexistent-home"), **kw)


# -- the rule itself --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/etc", "/etc/ssh", "/usr", "/usr/local/share", "/bin", "/sbin", "/lib",
                                  "/lib64", "/boot", "/dev", "/proc", "/sys", "/var", "/run", "/home", "/tmp"])
def test_system_directories_are_refused(tmp_path, path):
    assert "system directory" in _why(path, tmp_path / "home") or "contains KNIT_HOME" in _why(path, tmp_path / "home")


def test_knit_home_itself_inside_it_and_around_it_are_refused(tmp_path):
    home = tmp_path / "h" / "knit"
    home.mkdir(parents=True)
    assert "inside KNIT_HOME" in _why(str(home), home)
    assert "inside KNIT_HOME" in _why(str(home / "data"), home)
    assert "inside KNIT_HOME" in _why(str(home / "logs") + "/", home)
    assert "contains KNIT_HOME" in _why(str(tmp_path / "h"), home)
    assert "contains KNIT_HOME" in _why(str(tmp_path), home)
    assert "contains KNIT_HOME" in _why(str(home) + "/..", home)
    assert _why(str(home / "inbox"), home) is None            # the one drop folder inside KNIT_HOME
    assert _why(str(tmp_path / "h" / "knit-drops"), home) is None   # a sibling whose name merely starts alike


def test_an_inbox_that_is_a_link_gives_no_way_round(tmp_path):
    home = tmp_path / "knit"
    home.mkdir()
    (home / "inbox").symlink_to(home)                           # planted: the inbox leads to KNIT_HOME itself
    assert "inside KNIT_HOME" in _why(str(home), home)
    assert "inside KNIT_HOME" in _why(str(home / "inbox"), home)
    (home / "inbox").unlink()
    (home / "inbox").symlink_to("/etc")
    assert _why(str(home / "inbox"), home) is not None          # refused, for one reason or another


def test_links_are_judged_by_where_they_lead(tmp_path):
    home = tmp_path / "knit"
    (home / "data").mkdir(parents=True)
    (tmp_path / "to-home").symlink_to(home)
    (tmp_path / "to-parent").symlink_to(tmp_path)
    (tmp_path / "to-etc").symlink_to("/etc")
    assert "a link to" in _why(str(tmp_path / "to-home"), home)
    assert "contains KNIT_HOME" in _why(str(tmp_path / "to-parent"), home)
    assert "system directory" in _why(str(tmp_path / "to-etc"), home)


def test_empty_paths_home_directory_and_config_folder_are_refused(tmp_path, monkeypatch):
    home = tmp_path / "knit"
    assert "empty path" in _why("", home)
    assert "empty path" in _why("   ", home)
    assert "home directory" in _why(str(tmp_path / "me"), home, user_home=str(tmp_path / "me"))
    cfg = tmp_path / "cfg" / "knit" / "config.yaml"
    assert "config file" in _why(str(tmp_path / "cfg"), home, config_file=cfg)
    monkeypatch.chdir(home.parent)
    assert "contains KNIT_HOME" in _why(".", home)            # the current directory, when it holds KNIT_HOME


# -- `knitctl watch add` --------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda home, tmp: str(home),
    lambda home, tmp: str(home / "data"),
    lambda home, tmp: str(home.parent),
    lambda home, tmp: "/",
    lambda home, tmp: "/etc",
    lambda home, tmp: "",
    lambda home, tmp: ".",
    lambda home, tmp: "link",
], ids=["home", "data", "parent", "root", "etc", "empty", "cwd-holding-home", "symlink"])
def test_watch_add_refuses_dangerous_paths(cli, knit_home, tmp_path, make, monkeypatch):
    knit_home.mkdir()
    (tmp_path / "link").symlink_to(knit_home)
    cfg = Path(os.environ["KNIT_CONFIG"])
    r = cli("watch", "add", make(knit_home, tmp_path), cwd=tmp_path)
    assert r.code == 2, r
    assert len(r.err_lines) == 1 and "refused to watch" in r.err and "Traceback" not in r.err, r
    assert not cfg.exists()                                     # nothing written


def test_watch_add_still_takes_a_folder_of_its_own(cli, knit_home, tmp_path):
    r = cli("watch", "add", str(tmp_path / "drops"))
    assert r.code == 0, r
    assert [w.path for w in config_mod.load().watch] == [str(tmp_path / "drops")]


# -- knitd, when the config file was edited by hand --------------------------------------------------


def test_knitd_skips_and_logs_a_dangerous_hand_edited_rule(knit_home, tmp_path, caplog):
    from daemon.watcher import Watcher

    home = Home.resolve(knit_home)
    home.ensure()
    good = tmp_path / "drops"
    good.mkdir()
    config_mod.save(Config(contexts={"local": {"kind": "docker"}}, watch=[
        WatchRule(str(knit_home)), WatchRule("/"), WatchRule(str(knit_home.parent)), WatchRule(str(good))]))
    w = Watcher(home, threading.Event())
    with caplog.at_level(logging.ERROR, logger="knitd"):
        w._load_rules()
    assert [r.path for r in w.rules] == [str(home.inbox), str(good)]
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 3 and all("skipped" in m for m in refused), refused


def test_knitd_stops_scanning_a_watched_link_repointed_at_knit_home(knit_home, tmp_path):
    from daemon.watcher import Watcher

    home = Home.resolve(knit_home)
    home.ensure()
    drops = tmp_path / "drops-real"
    drops.mkdir()
    link = tmp_path / "drops"
    link.symlink_to(drops)
    config_mod.save(Config(contexts={"local": {"kind": "docker"}}, watch=[WatchRule(str(link), settle=0)],
                           inbox=False))
    w = Watcher(home, threading.Event())
    w._load_rules()
    roots = w._roots()
    assert [str(p) for _, p in roots] == [str(link)]
    link.unlink()
    link.symlink_to(knit_home)                                   # re-pointed after the rule was accepted
    (knit_home / "catalog.db").write_bytes(b"")

    class NoSession:                                             # scan must not get as far as ingesting
        pass

    assert w.scan(NoSession(), roots) is None
    assert (knit_home / "catalog.db").exists() and not w._seen


# -- the config file ---------------------------------------------------------------------------


@pytest.mark.parametrize("text, field", [
    ("watch: 5\n", "watch"),
    ("watch: [{path: /x, settle: abc}]\n", "watch[0].settle"),
    ("watch: [{path: /x, settle: .nan}]\n", "watch[0].settle"),
    ("watch: [{path: /x, settle: -1}]\n", "watch[0].settle"),
    ("watch: [{path: /x, mode: teleport}]\n", "watch[0].mode"),
    ("watch: [{path: [1, 2]}]\n", "watch[0].path"),
    ("watch: [{path: /x, tags: 7}]\n", "watch[0].tags"),
    ("watch: [7]\n", "watch[0]"),
    ("contexts: [a, b]\n", "contexts"),
    ("contexts: {k8s: 3}\n", "contexts.k8s"),
    ("current-context: [x]\n", "current-context"),
    ("inbox: maybe\n", "inbox"),
    ("- just\n- a list\n", "must be a mapping"),
    ("a: [unclosed\n", "not valid YAML"),
    ("[" * 5000 + "]" * 5000, ""),
])
def test_bad_config_values_are_one_error_naming_file_and_field(tmp_path, text, field):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as e:
        config_mod.load(path)
    assert str(path) in e.value.message and field in e.value.message and "\n" not in e.value.message


def test_random_bytes_and_unreadable_config_are_one_error(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UsageError, match="not UTF-8"):
        config_mod.load(path)
    path.unlink()
    path.mkdir()
    with pytest.raises(UsageError, match="can't be read"):
        config_mod.load(path)


def test_a_bad_config_is_one_line_from_the_cli(cli, knit_home):
    Path(os.environ["KNIT_CONFIG"]).write_text("watch: [{path: /x, settle: abc}]\n")
    r = cli("watch", "ls")
    assert r.code == 2 and len(r.err_lines) == 1 and "watch[0].settle" in r.err and "Traceback" not in r.err, r


def test_a_good_config_still_loads(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("current-context: local\nwatch:\n- {path: /srv/drops, tags: [a:b, 1], settle: 3, mode: copy}\ninbox: false\n")
    cfg = config_mod.load(path)
    assert cfg.watch == [WatchRule("/srv/drops", ["a:b", "1"], 3.0, "copy")] and cfg.inbox is False
