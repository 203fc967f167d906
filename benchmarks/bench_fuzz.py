"""Fuzz: hostile and broken inputs against the CLI — tracebacks, wrong exit codes, state changed, hangs.

Every case runs `python -m knitctl …` as a real process in its own copy of a
seeded, throwaway KNIT_HOME (one datum, one plan, one waiting run; knitd not
running) with its own config directory. For each case it records:

- traceback: "Traceback" anywhere in the output;
- wrong exit: the exit code is not one the case expects (1 refused / not
  found, 2 usage; a few cases may also succeed);
- state changed: the catalog's rows, the store's files or the config differ
  afterwards (damaged-catalog cases compare the catalog file's bytes);
- hang: the command outlived `--timeout` seconds (it is killed);
- raw control: an ESC, BEL or other control character printed raw.

Options: --tree PATH   the source tree to test (default: this checkout);
         --timeout S   per command (default 20);
         --only TEXT   only cases whose name contains TEXT;
         --report FILE write every case's result as JSON;
         --rescore FILE judge a saved report by this corpus (no run);
         --verbose     print each failing case.

    python -m benchmarks fuzz
    python -m benchmarks fuzz --tree /tmp/knit-before --report /tmp/before.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
USAGE_OR_REFUSED = (1, 2)
ANY = (0, 1, 2)
MEMORY_LIMIT = 2 << 30          # a command reading an endless file stops here, not at the machine's end
CONTROL = {chr(c) for c in range(0x20) if chr(c) not in "\n\t"} | {"\x7f"} | {chr(c) for c in range(0x80, 0xA0)}


@dataclass
class Case:
    name: str
    argv: list[str]                               # may hold {home} {tmp} {datum} {run} {plan}
    expect: tuple[int, ...] = USAGE_OR_REFUSED
    prepare: Callable[[Path, Path], None] | None = None     # (home, tmp) before the command
    env: dict[str, str] = field(default_factory=dict)       # may hold {home} {tmp}
    catalog_bytes: bool = False                   # compare catalog.db's bytes (damaged catalogs)
    must_not_change: bool = True


@dataclass
class Outcome:
    name: str
    argv: list[str]
    code: int | None
    seconds: float
    traceback: bool
    wrong_exit: bool
    state_changed: bool
    hang: bool
    raw_control: bool
    first_line: str


# -- the corpus -------------------------------------------------------------------------


def _write(rel: str, data: bytes | str) -> Callable[[Path, Path], None]:
    def prep(home: Path, tmp: Path) -> None:
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
    return prep


def _fifo(rel: str) -> Callable[[Path, Path], None]:
    def prep(home: Path, tmp: Path) -> None:
        os.mkfifo(tmp / rel)
    return prep


def _damage(how: str) -> Callable[[Path, Path], None]:
    def prep(home: Path, tmp: Path) -> None:
        db = home / "catalog.db"
        for side in ("catalog.db-wal", "catalog.db-shm"):
            (home / side).unlink(missing_ok=True)
        raw = db.read_bytes()
        rnd = random.Random(7)
        if how == "random":
            data = bytes(rnd.getrandbits(8) for _ in range(len(raw)))
        elif how == "truncated":
            data = raw[: len(raw) // 3]
        elif how == "text":
            data = b"this is not a database\n" * 100
        elif how == "zeroed-header":
            data = b"\0" * 100 + raw[100:]
        elif how == "corrupt-page":
            page = 4096
            data = raw[:page * 2] + bytes(rnd.getrandbits(8) for _ in range(page)) + raw[page * 3:]
        else:
            raise ValueError(how)
        db.write_bytes(data)
    return prep


def _stored_tag(tag: str) -> Callable[[Path, Path], None]:
    """A tag an older knit stored unchecked (written straight into the catalog)."""
    def prep(home: Path, tmp: Path) -> None:
        con = sqlite3.connect(home / "catalog.db")
        try:
            cols = [r[1] for r in con.execute("PRAGMA table_info(tag)")]
            row = con.execute("SELECT * FROM tag LIMIT 1").fetchone()
            rec = dict(zip(cols, row))
            key, _, value = tag.partition(":")
            rec.update({"key": key, "value": value})
            con.execute(f"INSERT INTO tag ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})", list(rec.values()))
            con.commit()
        finally:
            con.close()
    return prep


def _named_dir(name: str) -> Callable[[Path, Path], None]:
    def prep(home: Path, tmp: Path) -> None:
        d = tmp / name
        d.mkdir()
        (d / "f.txt").write_text("x")
    return prep


PLAN_OK = """\
image: knit/busybox:latest
entrypoint: ["true"]
inputs:
  - path: /in
    tags: ["project:fuzz"]
outputs:
  - path: /out
    tags: ["project:fuzz-out"]
"""

ESC_TAGS = {
    "esc-osc": "a:\x1b]0;pwned\x07",
    "esc-csi": "a:\x1b[2J\x1b[31mred",
    "bel": "a:b\x07",
    "nul-free-c0": "a\x01:b",
    "tab": "a:b\tc",
    "del": "a:b\x7f",
    "c1-csi": "a:b\x9b31m",
    "c1-nel": "a:b\x85",
    "cr": "a:b\rc",
    "vt": "a:b\x0bc",
}


def corpus() -> list[Case]:
    cases: list[Case] = []
    add = cases.append
    nines = "9" * 400

    # control characters in tags and names
    for label, tag in ESC_TAGS.items():
        add(Case(f"tag/push/{label}", ["data", "push", "{tmp}/d", "-t", tag], prepare=_named_dir("d")))
        add(Case(f"tag/add/{label}", ["data", "tag", "{datum}", "--add", tag]))
        add(Case(f"tag/find/{label}", ["data", "find", "-t", tag], expect=ANY))
        add(Case(f"tag/plan/{label}", ["plan", "apply", "{tmp}/p.yaml"],
                 prepare=_write("p.yaml", PLAN_OK.replace("project:fuzz-out", json.dumps(tag)[1:-1]))))
    for label, ch in (("esc", "\x1b]0;x\x07"), ("del", "\x7f"), ("c1", "\x9b"), ("bel", "\x07")):
        add(Case(f"name/push/{label}", ["data", "push", "-n", f"{{tmp}}/n{ch}x"], prepare=_named_dir(f"n{ch}x")))
    # what an older catalog may still hold is printed escaped
    for fmt in ([], ["-o", "table"], ["-o", "json"]):
        add(Case(f"stored-esc/data-find{''.join(fmt)}", ["data", "find", *fmt], expect=(0,),
                 prepare=_stored_tag("evil:\x1b]0;pwned\x07\x1b[2J"), must_not_change=False))
    add(Case("stored-esc/data-show", ["data", "show", "{datum}"], expect=(0,),
             prepare=_stored_tag("evil:\x1b]0;pwned\x07"), must_not_change=False))

    # numbers too large, bad windows
    for d in (nines, "99999999999999999999w", "1e400", "nan", "-5s", "9" * 30 + "ms"):
        add(Case(f"duration/{d[:24]}", ["data", "find", "--since", "2026-01-01T00:00:00", "--duration", d]))
        add(Case(f"run-find-duration/{d[:24]}", ["run", "find", "--since", "2026-01-01T00:00:00", "--duration", d]))
    for s in ("0001-01-01T00:00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59", "9999-12-31T23:59:59-14:00",
              "", "nan", "2026-02-30T00:00:00", "-1", "99999-01-01T00:00:00", "2026-01-01T25:00:00"):
        add(Case(f"since/{s or 'empty'}", ["data", "find", "--since", s], expect=ANY))
        add(Case(f"since-run/{s or 'empty'}", ["run", "find", "--since", s], expect=ANY))
    add(Case("since+duration/max", ["data", "find", "--since", "9999-12-31T23:59:59", "--duration", "9999w"], expect=ANY))
    for n in ("1e30", "99999999999999999999999", "-1", "nan", "inf", "abc", nines):
        add(Case(f"lineage-n/{n[:24]}", ["data", "lineage", "{datum}", "-n", n], expect=ANY if n in () else USAGE_OR_REFUSED))
        add(Case(f"plan-graph-n/{n[:24]}", ["plan", "graph", "{plan}", "-n", n]))
        add(Case(f"mlmd-hops/{n[:24]}", ["metadata", "lineage", "1", "--hops", n]))
        add(Case(f"mlmd-limit/{n[:24]}", ["metadata", "artifacts", "-n", n]))
    for t in (nines, "99999999999999999999w", "1e400", "nan", "inf", "-1s"):
        add(Case(f"run-wait-timeout/{t[:24]}", ["run", "wait", "{run}", "--timeout", t]))
    for i in ("99999999999999999999", "9" * 400, "-99999999999999999999", "0", "-1"):
        add(Case(f"mlmd-id/lineage/{i[:24]}", ["metadata", "lineage", i]))
        add(Case(f"mlmd-id/exec-lineage/{i[:24]}", ["metadata", "lineage", "-x", i]))
        add(Case(f"mlmd-id/filter/{i[:24]}", ["metadata", "artifacts", "-f", f"id = {i}"], expect=ANY))

    # filter queries
    for depth in (50, 5000, 50000):
        add(Case(f"filter/parens-{depth}", ["metadata", "artifacts", "-f", "(" * depth + "id = 1" + ")" * depth],
                 expect=ANY if depth <= 50 else USAGE_OR_REFUSED))
    add(Case("filter/not-chain-5000", ["metadata", "artifacts", "-f", "NOT " * 5000 + "id = 1"]))
    add(Case("filter/and-chain-5000", ["metadata", "artifacts", "-f", " AND ".join(["id = 1"] * 5000)], expect=ANY))
    for q in ("id = ", "uri LIKE", "((id = 1)", "id = 1)", "name = 'x", "properties.x.int_value = 1e999",
              "create_time_since_epoch > 99999999999999999999999", "\x1b[2J", "id IN ()", "events_0.type = 1"):
        add(Case(f"filter/bad/{q[:20]!r}", ["metadata", "artifacts", "-f", q], expect=ANY))

    # plan files
    add(Case("plan/dev-zero", ["plan", "apply", "/dev/zero"]))
    add(Case("plan/dev-null", ["plan", "apply", "/dev/null"]))
    add(Case("plan/fifo", ["plan", "apply", "{tmp}/fifo.yaml"], prepare=_fifo("fifo.yaml")))
    add(Case("plan/directory", ["plan", "apply", "{tmp}"]))
    add(Case("plan/missing", ["plan", "apply", "{tmp}/nope.yaml"]))
    add(Case("plan/huge", ["plan", "apply", "{tmp}/p.yaml"], prepare=_write("p.yaml", PLAN_OK + ("#" * 1023 + "\n") * 40 * 1024)))
    add(Case("plan/binary", ["plan", "apply", "{tmp}/p.yaml"], prepare=_write("p.yaml", bytes(range(256)) * 16)))
    add(Case("plan/deep-list-100000", ["plan", "apply", "{tmp}/p.yaml"], prepare=_write("p.yaml", "image: [" * 1 + "[" * 100000 + "]" * 100001)))
    add(Case("plan/deep-map-100000", ["plan", "apply", "{tmp}/p.yaml"], prepare=_write("p.yaml", "{a: " * 100000 + "1" + "}" * 100000)))
    add(Case("plan/deep-block-3000", ["plan", "apply", "{tmp}/p.yaml"],
             prepare=_write("p.yaml", "".join(" " * i + f"k{i}:\n" for i in range(3000)) + " " * 3000 + "x: 1\n")))
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(9))
    add(Case("plan/alias-bomb", ["plan", "apply", "{tmp}/p.yaml"], prepare=_write("p.yaml", bomb + "image: *j\n")))
    add(Case("plan/alias-bomb-inputs", ["plan", "apply", "{tmp}/p.yaml"],
             prepare=_write("p.yaml", bomb + PLAN_OK.replace('tags: ["project:fuzz"]', "tags: *j"))))
    for t in (".inf", "-.inf", ".nan", "1e400", "0", "-1", "abc", "true", "[1]", "{a: 1}", "99999999999999999999w", "9" * 400):
        add(Case(f"plan/timeout/{t[:24]}", ["plan", "apply", "{tmp}/p.yaml"], prepare=_write("p.yaml", PLAN_OK + f"timeout: {t}\n")))
    for k, v in (("resources", "{cpu: .nan}"), ("resources", "{cpu: .inf}"), ("resources", "{memory: 1e400}"),
                 ("resources", "{gpu: 99999999999999999999}"), ("resources", "{cpu: -1}"), ("resources", "{memory: .nan}"),
                 ("image", "[1, 2]"), ("image", "5"), ("inputs", "5"), ("inputs", "[5]"), ("env", "[1]"),
                 ("annotations", '["a=\\e]0;x\\a"]'), ("args", '["\\e[2J"]'), ("image", '"busybox\\e[2J"')):
        body = PLAN_OK.replace("image: knit/busybox:latest\n", "") if k == "image" else PLAN_OK
        if k == "inputs":
            body = "image: knit/busybox:latest\noutputs: [{path: /out, tags: [a:b]}]\n"
        add(Case(f"plan/{k}/{v[:20]}", ["plan", "apply", "{tmp}/p.yaml"], prepare=_write("p.yaml", body + f"{k}: {v}\n"),
                 expect=ANY if k == "args" else USAGE_OR_REFUSED, must_not_change=k != "args"))  # args are the task's own
    add(Case("plan/tag-64k", ["plan", "apply", "{tmp}/p.yaml"], prepare=_write("p.yaml", PLAN_OK.replace("project:fuzz-out", "a:" + "x" * 65536))))
    add(Case("plan/not-utf8", ["plan", "apply", "{tmp}/p.yaml"], prepare=_write("p.yaml", PLAN_OK.encode() + b"# \xff\xfe\n")))
    add(Case("plan/list-doc", ["plan", "apply", "{tmp}/p.yaml"], prepare=_write("p.yaml", "- 1\n- 2\n")))
    add(Case("plan/multi-doc", ["plan", "apply", "{tmp}/p.yaml"], prepare=_write("p.yaml", PLAN_OK + "---\n" + PLAN_OK)))
    add(Case("plan/python-tag", ["plan", "apply", "{tmp}/p.yaml"], prepare=_write("p.yaml", "!!python/object/apply:os.system ['true']\n")))

    # kubeconfigs
    kube = {
        "binary": bytes(range(256)) * 8,
        "list": "- 1\n- 2\n",
        "scalar": "42\n",
        "contexts-int": "contexts: 5\n",
        "contexts-list-of-int": "contexts: [1, 2]\n",
        "context-not-map": "contexts: [{name: a, context: 5}]\n",
        "name-list": "contexts: [{name: [1], context: {cluster: c}}]\n",
        "namespace-int": "contexts: [{name: a, context: {cluster: c, namespace: 5}}]\n",
        "current-list": "current-context: [1]\ncontexts: []\n",
        "deep": "[" * 100000 + "]" * 100000,
        "bomb": bomb,
        "esc-name": "contexts: [{name: \"a\\e]0;x\\a\", context: {cluster: c}}]\n",
        "empty": "",
    }
    for label, body in kube.items():
        add(Case(f"kubeconfig/{label}", ["context", "import-kube", "--kubeconfig", "{tmp}/kc"], prepare=_write("kc", body)))
    add(Case("kubeconfig/dev-zero", ["context", "import-kube", "--kubeconfig", "/dev/zero"]))
    add(Case("kubeconfig/fifo", ["context", "import-kube", "--kubeconfig", "{tmp}/kc"], prepare=_fifo("kc")))
    add(Case("kubeconfig/missing", ["context", "import-kube", "--kubeconfig", "{tmp}/nope"]))
    add(Case("kubeconfig/directory", ["context", "import-kube", "--kubeconfig", "{tmp}"]))

    # config files
    configs = {
        "watch-int": "watch: 5\n",
        "settle-abc": "watch: [{path: /tmp/x, settle: abc}]\n",
        "random": bytes(random.Random(3).getrandbits(8) for _ in range(4096)),
        "contexts-list": "contexts: [1]\n",
        "deep": "[" * 100000 + "]" * 100000,
        "settle-nan": "watch: [{path: /tmp/x, settle: .nan}]\n",
        "current-int": "current-context: 5\n",
        "current-missing": "current-context: nowhere\n",
    }
    for label, body in configs.items():
        for cmd in (["data", "find"], ["context", "ls"], ["watch", "ls"]):
            # `data find` needs no config: it may answer; a context or watch listing must refuse a broken one
            add(Case(f"config/{label}/{' '.join(cmd)}", cmd, prepare=_write("cfg/knit/config.yaml", body),
                     expect=ANY if label == "current-missing" or cmd[0] == "data" else USAGE_OR_REFUSED))

    # damaged catalogs
    for how in ("random", "truncated", "text", "zeroed-header", "corrupt-page"):
        for cmd in (["data", "find"], ["plan", "find"], ["run", "find"], ["data", "show", "{datum}"], ["status"],
                    ["doctor"], ["data", "push", "{tmp}/d"], ["metadata", "artifacts"], ["explain", "run", "{run}"]):
            # one random page in a small catalog may be one no command reads: answering is then fine
            add(Case(f"catalog/{how}/{' '.join(cmd[:2])}", cmd, catalog_bytes=True,
                     expect=ANY if how == "corrupt-page" else USAGE_OR_REFUSED, must_not_change=how != "corrupt-page",
                     prepare=lambda h, t, how=how: (_damage(how)(h, t), _named_dir("d")(h, t))))

    # bad ids
    for bad in ("", "-", "zzzz", "../../etc", "%", "_", "x" * 5000, "'; DROP TABLE data; --", "\x1b[2J"):
        for cmd in (["data", "show"], ["run", "show"], ["plan", "show"], ["explain", "data"], ["run", "abort"],
                    ["run", "retry"], ["run", "rm"], ["data", "pull"], ["run", "log"]):
            add(Case(f"id/{' '.join(cmd)}/{bad[:12]!r}", [*cmd, "--", bad] if bad.startswith("-") else [*cmd, bad]))
    return cases


# -- running ------------------------------------------------------------------------------


def _env(tree: Path, home: Path, tmp: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "TERM", "KNIT_CONFIG", "KNIT_CONTEXT", "KUBECONFIG")}
    env.update({"PYTHONPATH": str(tree), "KNIT_HOME": str(home), "XDG_CONFIG_HOME": str(tmp / "cfg"), "NO_COLOR": "1",
                "HOME": str(tmp)})
    env.update({k: v.format(home=home, tmp=tmp) for k, v in extra.items()})
    return env


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _knitctl(tree: Path, argv: list[str], env: dict[str, str], cwd: Path, timeout: float) -> tuple[int | None, str, float]:
    started = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "knitctl", *argv], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, preexec_fn=_limit)
    try:
        out, err = p.communicate(timeout=timeout)
        code: int | None = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        code = None
    return code, out.decode("utf-8", "replace") + err.decode("utf-8", "replace"), time.perf_counter() - started


def _state(home: Path, tmp: Path, catalog_bytes: bool) -> str:
    """A digest of what a refused command must not change."""
    h = hashlib.sha256()
    db = home / "catalog.db"
    if catalog_bytes:
        for name in ("catalog.db", "catalog.db-wal"):
            p = home / name
            h.update(name.encode() + (p.read_bytes() if p.exists() else b"-"))
    elif db.exists():
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
            for t in tables:
                rows = sorted(repr(r) for r in con.execute(f'SELECT * FROM "{t}"'))
                h.update(t.encode() + "\n".join(rows).encode())
        finally:
            con.close()
    for root in (home / "data", tmp / "cfg"):
        for dirpath, dirs, files in sorted(os.walk(root)):
            dirs.sort()
            for f in sorted(files):
                p = Path(dirpath, f)
                h.update(str(p.relative_to(root)).encode())
                if p.is_file() and not p.is_symlink():
                    h.update(p.read_bytes())
    return h.hexdigest()


def _seed(tree: Path, base: Path, timeout: float) -> dict[str, str]:
    home, tmp = base / "home", base / "tmp"
    tmp.mkdir(parents=True)
    (tmp / "d").mkdir()
    (tmp / "d" / "a.txt").write_text("fuzz\n")
    (tmp / "plan.yaml").write_text(PLAN_OK)
    env = _env(tree, home, tmp, {})
    for argv in (["data", "push", str(tmp / "d"), "-t", "project:fuzz"], ["plan", "apply", str(tmp / "plan.yaml")]):
        code, out, _ = _knitctl(tree, argv, env, tmp, timeout * 3)
        if code != 0:
            raise SystemExit(f"fuzz: seeding failed: knitctl {' '.join(argv)} → {code}\n{out}")
    code, out, _ = _knitctl(tree, ["run", "find", "--output", "json"], env, tmp, timeout * 3)
    runs = json.loads(out[out.index("["):]) if code == 0 else []
    code, out, _ = _knitctl(tree, ["data", "find", "-o", "json"], env, tmp, timeout * 3)
    data = json.loads(out[out.index("["):])
    code, out, _ = _knitctl(tree, ["plan", "find", "--output", "json"], env, tmp, timeout * 3)
    plans = json.loads(out[out.index("["):])
    shutil.rmtree(tmp / "d")
    (tmp / "plan.yaml").unlink()
    ids = {
        "datum": data[0].get("id") or data[0].get("knit_id"),
        "run": runs[0].get("id") or runs[0].get("run_id") if runs else "r-none",
        "plan": next((p.get("id") or p.get("plan_id") for p in plans if not str(p.get("image", "")).startswith("knit#")), "p-none"),
    }
    con = sqlite3.connect(home / "catalog.db")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return ids


def _fill(arg: str, subst: dict[str, str]) -> str:
    for key, value in subst.items():
        arg = arg.replace("{" + key + "}", value)
    return arg


def run_case(tree: Path, seed: Path, ids: dict[str, str], case: Case, timeout: float) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="knit-fuzz-") as d:
        base = Path(d)
        shutil.copytree(seed, base, dirs_exist_ok=True, symlinks=True)
        home, tmp = base / "home", base / "tmp"
        if case.prepare:
            case.prepare(home, tmp)
        subst = {"home": str(home), "tmp": str(tmp), **ids}
        argv = [_fill(a, subst) for a in case.argv]
        before = _state(home, tmp, case.catalog_bytes)
        code, output, secs = _knitctl(tree, argv, _env(tree, home, tmp, case.env), tmp, timeout)
        after = _state(home, tmp, case.catalog_bytes)
    hang = code is None
    printed = output
    for a in argv:  # what the user typed may echo back; only count control characters the CLI made up itself
        printed = printed.replace(a, "")
    return Outcome(
        name=case.name, argv=[a if len(a) < 80 else a[:60] + f"…({len(a)} chars)" for a in argv], code=code,
        seconds=round(secs, 2), traceback="Traceback" in output, wrong_exit=not hang and code not in case.expect,
        state_changed=case.must_not_change and before != after, hang=hang,
        raw_control=any(c in CONTROL for c in output),
        first_line=next((line for line in output.splitlines() if line.strip()), "")[:200],
    )


def rescore(results: list[dict]) -> list[dict]:
    """A saved report judged by this corpus's expectations (so runs made with an older corpus compare)."""
    cases = {c.name: c for c in corpus()}
    out = []
    for o in results:
        c = cases.get(o["name"])
        if c is not None:
            o = {**o, "wrong_exit": o["code"] is not None and o["code"] not in c.expect,
                 "state_changed": o["state_changed"] and c.must_not_change}
        out.append(o)
    return out


KINDS = ("traceback", "wrong_exit", "state_changed", "hang", "raw_control")


def totals(results: list[dict], timeout: float, label: str) -> list[str]:
    total = {k: sum(bool(o[k]) for o in results) for k in KINDS}
    return [
        f"tree: {label}",
        f"inputs tried: {len(results)}",
        f"tracebacks: {total['traceback']}",
        f"wrong exit codes: {total['wrong_exit']}",
        f"state changed: {total['state_changed']}",
        f"hangs (>{timeout:g} s): {total['hang']}",
        f"raw control characters printed: {total['raw_control']}",
    ]


def run(argv: list[str]) -> list[str]:
    ap = argparse.ArgumentParser(prog="python -m benchmarks fuzz", add_help=True)
    ap.add_argument("--tree", default=str(REPO))
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--only", default="")
    ap.add_argument("--report")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--rescore", metavar="REPORT", help="judge a saved --report by this corpus instead of running")
    args, _ = ap.parse_known_args(argv)
    if args.rescore:
        results = rescore(json.loads(Path(args.rescore).read_text()))
        if args.verbose:
            for o in results:
                bad = [k for k in KINDS if o[k]]
                if bad:
                    print(f"{o['name']}: {', '.join(bad)} (exit {o['code']}) {o['first_line'][:120]}", file=sys.stderr)
        return totals(results, args.timeout, f"{args.rescore} (rescored)")
    tree = Path(args.tree).resolve()
    cases = [c for c in corpus() if args.only in c.name]
    results: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="knit-fuzz-seed-") as d:
        seed = Path(d)
        ids = _seed(tree, seed, args.timeout)
        for i, case in enumerate(cases, 1):
            o = run_case(tree, seed, ids, case, args.timeout)
            results.append(o)
            bad = [k for k in ("traceback", "wrong_exit", "state_changed", "hang", "raw_control") if getattr(o, k)]
            if bad and args.verbose:
                print(f"[{i}/{len(cases)}] {o.name}: {', '.join(bad)} (exit {o.code}) {o.first_line}", file=sys.stderr, flush=True)
            elif i % 25 == 0:
                print(f"fuzz: {i}/{len(cases)}", file=sys.stderr, flush=True)
    if args.report:
        Path(args.report).write_text(json.dumps([o.__dict__ for o in results], indent=1, ensure_ascii=True))
    return totals([o.__dict__ for o in results], args.timeout, str(tree))
