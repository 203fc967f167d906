"""Lifecycle hooks: the config's hooks entries, a before hook's veto and env, after hooks' delivery.

Hooks are real: a command is a script this test writes, an HTTP hook is a real local server
(http.server in a thread). The end-to-end tests run knitd as a subprocess against dockerd: a veto
fails the run, env reaches the container and nowhere else (not the log, the catalog's bytes, knitd's
log or `run show`), an after hook's pending delivery survives a knitd SIGKILL and arrives after the
restart with the same delivery id, and a hanging hook holds a run no longer than its timeout.
Waits poll with deadlines; a hanging hook's server waits on an event released at teardown.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from knitctl import config as config_mod
from knitctl import hooks as rules
from knitctl import runstate
from knitctl.catalog import hooks as hook_rows

from conftest import (
    BUSYBOX_IMAGE,
    apply_plan,
    catalog_rows,
    push_datum,
    require_images,
    run_row,
    wait_run,
    wait_until,
)

# -- helpers ---------------------------------------------------------------------------------------


class HookServer:
    """A real HTTP server on 127.0.0.1. `answer(request) -> (status, body)` decides each reply;
    `requests` holds what arrived (headers, JSON body, the status answered)."""

    def __init__(self, answer: Callable[[dict], tuple[int, bytes]] | None = None):
        self.answer = answer or (lambda req: (200, b""))
        self.requests: list[dict] = []
        self.release = threading.Event()      # ends every hanging handler
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 — http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                req = {"path": self.path, "headers": dict(self.headers), "body": json.loads(body or b"null")}
                status, out = server.answer(req)
                req["status"] = status
                with server.lock:
                    server.requests.append(req)
                if status == 0:  # hang until released (a hook that never answers)
                    server.release.wait()
                    return
                self.send_response(status)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    servers: list[HookServer] = []

    def _make(answer=None) -> HookServer:
        s = HookServer(answer)
        servers.append(s)
        return s

    yield _make
    for s in servers:
        s.close()


def script(path: Path, body: str) -> str:
    """An executable shell script; its path."""
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def write_config(hooks: list[dict]) -> Path:
    path = config_mod.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"hooks": hooks}))
    return path


def hook(**fields) -> rules.Hook:
    return rules.parse([fields], runstate.STATUSES)[0]


# -- the config ------------------------------------------------------------------------------------

BAD = [
    ({"hooks": {"name": "x"}}, "hooks: must be a list"),
    ({"hooks": [{"when": "after", "command": "true"}]}, "hooks[0].name:"),
    ({"hooks": [{"name": "a b", "when": "after", "command": "true"}]}, "hooks[0].name:"),
    ({"hooks": [{"name": "x", "when": "during", "command": "true"}]}, "hooks[0] (x).when: must be before"),
    ({"hooks": [{"name": "x", "when": "after"}]}, "hooks[0] (x): needs exactly one of `command`"),
    ({"hooks": [{"name": "x", "when": "after", "command": "true", "url": "http://h/"}]}, "needs exactly one of"),
    ({"hooks": [{"name": "x", "when": "after", "url": "ftp://h/x"}]}, "hooks[0] (x).url: must be an http://"),
    ({"hooks": [{"name": "x", "when": "after", "url": "http://h:99999/"}]}, "hooks[0] (x).url: has a port"),
    ({"hooks": [{"name": "x", "when": "after", "url": "http://[::1/x"}]}, "hooks[0] (x).url: is not a URL"),
    ({"hooks": [{"name": "x", "when": "after", "url": "http://h/a b"}]}, "hooks[0] (x).url: holds spaces"),
    ({"hooks": [{"name": "x", "when": "after", "command": []}]}, "hooks[0] (x).command: is empty"),
    ({"hooks": [{"name": "x", "when": "after", "command": "'unclosed"}]}, "hooks[0] (x).command: can't be split"),
    ({"hooks": [{"name": "x", "when": "after", "command": "true", "timeout": 0}]}, "hooks[0] (x).timeout: must be"),
    ({"hooks": [{"name": "x", "when": "after", "command": "true", "timeout": "5s"}]}, "hooks[0] (x).timeout:"),
    ({"hooks": [{"name": "x", "when": "after", "command": "true", "retries": -1}]}, "hooks[0] (x).retries:"),
    ({"hooks": [{"name": "x", "when": "before", "command": "true", "retries": 2}]}, "only after hooks are retried"),
    ({"hooks": [{"name": "x", "when": "before", "command": "true", "on": ["done"]}]}, "only after hooks choose"),
    ({"hooks": [{"name": "x", "when": "after", "command": "true", "on": ["finished"]}]}, "'finished' is not a run status"),
    ({"hooks": [{"name": "x", "when": "after", "command": "true", "on-error": "start"}]}, "only before hooks have it"),
    ({"hooks": [{"name": "x", "when": "before", "command": "true", "on-error": "maybe"}]}, ".on-error: must be fail"),
    ({"hooks": [{"name": "x", "when": "after", "command": "true", "headers": {"A": "b"}}]}, "only a `url` hook"),
    ({"hooks": [{"name": "x", "when": "after", "url": "http://h/", "headers": {"Host": "b"}}]}, "is set by knit"),
    ({"hooks": [{"name": "x", "when": "after", "url": "http://h/", "headers": {"A": "b\nc"}}]}, "must be text on one line"),
    ({"hooks": [{"name": "x", "when": "after", "command": "true", "secret": 1}]}, "hooks[0].secret: is not a hook field"),
    ({"hooks": [{"name": "x", "when": "after", "command": "true"}, {"name": "x", "when": "before", "command": "true"}]},
     "hooks[1].name: 'x' is used by an earlier hook"),
]


@pytest.mark.parametrize(("doc", "words"), BAD, ids=[w for _, w in BAD])
def test_a_bad_hooks_entry_is_one_clear_line_naming_the_field(cli_inproc, doc, words):
    path = config_mod.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    before = path.read_bytes()
    r = cli_inproc("hook", "ls")
    assert r.code == 2 and r.out == "", r
    assert len(r.err_lines) == 1 and "Traceback" not in r.err, r
    assert str(path) in r.err and words in r.err and "fix the value" in r.err, r
    assert path.read_bytes() == before


def test_a_bare_on_key_is_read_as_on_not_as_yaml_true():
    path = write_config([{"name": "x", "when": "after", "command": "true"}])
    path.write_text(path.read_text().replace("when: after", "when: after\n  on: [done, failed]"))
    (h,) = config_mod.load().hooks
    assert h.on == {"done", "failed"} and h.wants("done") and not h.wants("running")


def test_hooks_survive_a_config_rewrite_by_another_command(cli_inproc, tmp_path):
    write_config([{"name": "chat", "when": "after", "url": "http://127.0.0.1:1/x", "on": ["done"],
                   "headers": {"Authorization": "Bearer t"}, "retries": 2},
                  {"name": "gate", "when": "before", "command": ["/bin/true", "a b"], "timeout": 3, "on-error": "start"}])
    before = config_mod.load().hooks
    r = cli_inproc("watch", "add", str(tmp_path / "drops"))
    assert r.code == 0, r
    assert config_mod.load().hooks == before


def test_hook_ls_masks_secrets_in_urls_and_never_shows_header_values(cli_inproc):
    write_config([
        {"name": "chat", "when": "after", "on": ["done", "failed"], "headers": {"Authorization": "Bearer hdr-secret"},
         "url": "https://bob:pw-secret@hooks.example.com/services/T0/B0/tok3n5ecr3tXXXXXXXXX?token=q-secret&x=1"},
        {"name": "gate", "when": "before", "command": "/usr/local/bin/gate --strict", "timeout": 2},
    ])
    r = cli_inproc("hook", "ls", "-o", "json")
    assert r.code == 0, r
    assert "secret" not in r.out, r.out
    chat, gate = r.json()
    assert chat["calls"] == "https://bob:***@hooks.example.com/services/T0/B0/***?token=***&x=***"
    assert chat["headers"] == ["Authorization"] and chat["on"] == "done, failed" and chat["retries"] == 5
    assert gate["calls"] == "/usr/local/bin/gate --strict" and gate["on"] == "ready → starting"
    assert gate["timeout"] == 2 and gate["on_error"] == "fail"
    plain = cli_inproc("hook", "ls")
    assert plain.code == 0 and "secret" not in plain.out and plain.out.splitlines()[0].startswith("chat\tafter")


def test_knitd_keeps_the_last_good_hooks_when_the_config_breaks(caplog):
    from daemon.hooks import HookConfig

    path = write_config([{"name": "gate", "when": "before", "command": "true"}])
    cfg = HookConfig()
    assert [h.name for h in cfg.before()] == ["gate"]
    path.write_text("hooks:\n  - name: gate\n    when: sometimes\n    command: 'true'\n")
    assert [h.name for h in cfg.before()] == ["gate"]
    assert "hooks[0] (gate).when" in caplog.text and "hooks kept as they were" in caplog.text
    write_config([{"name": "gate2", "when": "before", "command": "true"}])
    assert [h.name for h in cfg.before()] == ["gate2"]


# -- answers, pure ----------------------------------------------------------------------------------


def test_a_before_hooks_answer():
    assert rules.parse_answer(b"") == rules.Answer() and rules.parse_answer(b"  \n").allow
    a = rules.parse_answer(b'{"env": {"TOKEN": "v1", "B_2": ""}}')
    assert a.allow and a.env == {"TOKEN": "v1", "B_2": ""}
    assert "v1" not in repr(a)
    no = rules.parse_answer(b'{"allow": false, "message": "over\\nbudget \\u001b[31m"}')
    assert not no.allow and no.message == "over budget [31m"
    for body, words in [
        (b"yes", "not JSON"), (b"[1]", "must be a JSON object"), (b'{"allow": "no"}', "true or false"),
        (b'{"env": {"KNIT_RUN_ID": "x"}}', "reserved"), (b'{"env": {"1X": "x"}}', "not a variable name"),
        (b'{"env": {"T": 5}}', "must be text"), (b'{"extra": 1}', "unknown field"),
    ]:
        with pytest.raises(rules.BadAnswer, match=words):
            rules.parse_answer(body)
    with pytest.raises(rules.BadAnswer) as e:
        rules.parse_answer(b'{"env": {"TOKEN": 12345678}}')
    assert "12345678" not in str(e.value)


def test_decide_calls_in_order_merges_env_and_stops_at_the_first_veto():
    a, b, c = (hook(name=n, when="before", command="true") for n in "abc")
    replies = {"a": rules.Reply(body=b'{"env": {"X": "1", "Y": "a"}}'), "b": rules.Reply(body=b'{"env": {"Y": "b"}}'),
               "c": rules.Reply(veto="no budget left")}
    called = []

    def caller(h, payload):
        called.append(h.name)
        return replies[h.name]

    v = rules.decide([a, b], lambda h: b"{}", caller)
    assert v.veto is None and v.env == {"X": "1", "Y": "b"} and v.names == (("a", ("X", "Y")), ("b", ("Y",)))
    assert rules.env_note(v.names) == "env from hooks a: X=***, Y=***; b: Y=***"
    called.clear()
    v = rules.decide([c, a], lambda h: b"{}", caller)
    assert v.veto == "vetoed by hook c: no budget left" and v.env == {} and called == ["c"]


def test_a_failing_before_hook_fails_the_run_unless_its_on_error_is_start():
    strict = hook(name="gate", when="before", command="true")
    lax = hook(name="gate", when="before", command="true", **{"on-error": "start"})
    down = rules.Reply(error="can't reach http://h/: Connection refused")
    veto, _, _ = rules.judge(strict, down)
    assert veto == ("hook gate failed: can't reach http://h/: Connection refused "
                    "(the run was not started; its on-error is fail)")
    veto, answer, problem = rules.judge(lax, down)
    assert veto is None and answer is None and "passed over (on-error: start)" in problem
    veto, _, _ = rules.judge(strict, rules.Reply(body=b"not json"))
    assert veto is not None and "not JSON" in veto


def test_mask_url():
    assert rules.mask_url("https://h.example/hook") == "https://h.example/hook"
    assert rules.mask_url("http://u:p@h:8080/a?b=c#frag") == "http://u:***@h:8080/a?b=***#***"
    assert rules.mask_url("https://tok@h/x") == "https://***@h/x"
    assert rules.mask_url("https://h/services/abcdefghijklmnop") == "https://h/services/***"


def test_backoff_doubles_to_a_ceiling():
    assert [rules.backoff_ms(n) for n in (1, 2, 3)] == [1000, 2000, 4000]
    assert rules.backoff_ms(50) == rules.BACKOFF_MAX_MS


# -- calling a real command and a real server --------------------------------------------------------


def test_a_command_gets_the_run_json_on_stdin_and_its_env_names_the_hook(tmp_path):
    seen = tmp_path / "seen.json"
    cmd = script(tmp_path / "hook.sh", f'cat > {seen}\necho "$KNIT_HOOK $KNIT_HOOK_WHEN $KNIT_HOOK_DELIVERY" > {seen}.env\n'
                                       'echo \'{"env": {"TOKEN": "t0"}}\'\n')
    h = hook(name="creds", when="after", command=cmd)
    doc = rules.sample_document()
    reply = rules.call(h, rules.envelope(h, doc, old="running", new="done", delivery="d1"), delivery="d1")
    assert reply.ok and json.loads(reply.body) == {"env": {"TOKEN": "t0"}}
    got = json.loads(seen.read_text())
    assert got["hook"] == "creds" and (got["from"], got["to"], got["delivery"]) == ("running", "done", "d1")
    assert got["run"]["id"] == doc["id"] and got["run"]["inputs"][0]["tags"] == ["kind:sample"]
    assert set(got["run"]) >= {"id", "plan", "status", "inputs", "outputs", "tags", "exit", "times"}
    assert Path(f"{seen}.env").read_text().split() == ["creds", "after", "d1"]


def test_a_command_exiting_non_zero_vetoes_with_its_last_stderr_line(tmp_path):
    cmd = script(tmp_path / "gate.sh", "cat >/dev/null\necho checking >&2\necho 'quota exceeded for team a' >&2\nexit 3\n")
    reply = rules.call(hook(name="gate", when="before", command=cmd), b"{}")
    assert reply.veto == "quota exceeded for team a" and reply.error is None


def test_a_hanging_command_is_killed_at_its_timeout_with_its_children(tmp_path):
    cmd = script(tmp_path / "hang.sh", "sleep 300 &\nsleep 300\n")
    t0 = time.monotonic()
    reply = rules.call(hook(name="slow", when="before", command=cmd, timeout=0.5), b"{}")
    assert time.monotonic() - t0 < 3.0
    assert reply.error == "no answer within its timeout of 0.5s (killed)"


def test_a_missing_command_is_an_error_not_a_crash(tmp_path):
    reply = rules.call(hook(name="x", when="after", command=str(tmp_path / "nope")), b"{}")
    assert reply.error is not None and "can't run" in reply.error


def test_an_http_hook_is_posted_the_json_with_its_headers(server):
    s = server(lambda req: (200, b'{"env": {"A": "1"}}'))
    h = hook(name="chat", when="after", url=s.url.replace("http://", "http://al:pw@"), headers={"X-Team": "ml"})
    reply = rules.call(h, rules.envelope(h, rules.sample_document(), old="running", new="done", delivery="d7"),
                       delivery="d7")
    assert reply.ok and json.loads(reply.body) == {"env": {"A": "1"}}
    (req,) = s.requests
    assert req["headers"]["X-Knit-Delivery"] == "d7" and req["headers"]["X-Knit-Hook"] == "chat"
    assert req["headers"]["X-Team"] == "ml" and req["headers"]["Content-Type"] == "application/json"
    assert req["headers"]["Authorization"] == "Basic YWw6cHc="  # al:pw from the URL, which is sent without it
    assert req["body"]["to"] == "done" and req["body"]["run"]["id"] == rules.sample_document()["id"]


def test_http_errors_hangs_and_refusals_are_errors_within_the_timeout(server):
    s = server(lambda req: (503, b"busy"))
    reply = rules.call(hook(name="x", when="after", url=s.url), b"{}")
    assert reply.error == f"HTTP 503 from {s.url}"
    hang = server(lambda req: (0, b""))
    t0 = time.monotonic()
    reply = rules.call(hook(name="x", when="after", url=hang.url, timeout=0.5), b"{}")
    assert time.monotonic() - t0 < 2.0 and reply.error == "no answer within its timeout of 0.5s"
    closed = HookServer()
    url = closed.url
    closed.close()
    reply = rules.call(hook(name="x", when="after", url=url), b"{}")
    assert reply.error is not None and reply.error.startswith(f"can't reach {url}")


def test_https_verifies_certificates(server, tmp_path):
    """An https hook whose server shows a certificate no one trusts (self-signed) is refused before
    the run is sent."""
    import ssl
    import subprocess

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    s = server()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    s.httpd.socket = ctx.wrap_socket(s.httpd.socket, server_side=True)
    reply = rules.call(hook(name="x", when="after", url=s.url.replace("http://", "https://"), timeout=5), b"{}")
    assert reply.error is not None and "certificate verify failed" in reply.error, reply
    assert s.requests == []


# -- `knitctl hook test` -----------------------------------------------------------------------------


def test_hook_test_calls_a_before_hook_and_masks_the_env_it_gives(cli_inproc, tmp_path):
    cmd = script(tmp_path / "creds.sh", "cat > /dev/null\necho '{\"env\": {\"AWS_TOKEN\": \"tok-secret-1\"}}'\n")
    write_config([{"name": "creds", "when": "before", "command": cmd}])
    r = cli_inproc("hook", "test", "creds", "-o", "json")
    assert r.code == 0, r
    assert "tok-secret-1" not in r.out + r.err
    assert r.json()["result"] == "allowed" and r.json()["env"] == ["AWS_TOKEN=***"]


def test_hook_test_says_a_veto_and_exits_1(cli_inproc, tmp_path):
    cmd = script(tmp_path / "no.sh", "cat > /dev/null\necho 'frozen until Monday' >&2\nexit 1\n")
    write_config([{"name": "freeze", "when": "before", "command": cmd}])
    r = cli_inproc("hook", "test", "freeze")
    assert r.code == 1, r
    assert "vetoed by hook freeze: frozen until Monday" in r.out


def test_hook_test_posts_a_real_run_to_an_after_hook(cli_inproc, server, session):
    s = server()
    write_config([{"name": "chat", "when": "after", "url": s.url}])
    res = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:model"]}, image=BUSYBOX_IMAGE)
    push_datum(session, "kind:raw")
    (run_id,) = [r[0] for r in catalog_rows(session.home.root, "SELECT run_id FROM run WHERE plan_id = ?",
                                             (res.plan.plan_id,))]
    r = cli_inproc("hook", "test", "chat", "--run", run_id[:6], "-o", "json")
    assert r.code == 0 and r.json()["result"] == "delivered", r
    (req,) = s.requests
    assert req["body"]["run"]["id"] == run_id and req["body"]["run"]["tags"] == ["kind:model"]
    assert req["headers"]["X-Knit-Delivery"] == r.json()["delivery"]


def test_hook_test_of_an_unknown_hook_is_one_line(cli_inproc):
    write_config([{"name": "chat", "when": "after", "command": "true"}])
    r = cli_inproc("hook", "test", "chta")
    assert r.code == 1 and len(r.err_lines) == 1 and "no hook named 'chta'" in r.err and "chat" in r.err, r


# -- recording and delivering (knitd's thread, in this process) ----------------------------------------


def test_every_status_change_is_recorded_in_its_own_transaction(session):
    res = apply_plan(session, {"/in": ["kind:raw"]}, {}, image=BUSYBOX_IMAGE)
    push_datum(session, "kind:raw")
    (run_id,) = [r[0] for r in catalog_rows(session.home.root, "SELECT run_id FROM run WHERE plan_id = ?",
                                             (res.plan.plan_id,))]
    with pytest.raises(RuntimeError), session.catalog.write() as c:
        runstate.move(c, run_id, "ready")
        raise RuntimeError("rolled back")
    assert hook_rows.changes(session.catalog.conn, 10) == []
    with session.catalog.write() as c:
        runstate.move(c, run_id, "ready")
        runstate.move(c, run_id, "running")
    assert [ch[1:4] for ch in hook_rows.changes(session.catalog.conn, 10)] == [
        (run_id, "waiting", "ready"), (run_id, "ready", "running")]


class Config:
    """A HookConfig stand-in with fixed hooks."""

    def __init__(self, *hooks):
        self._hooks = list(hooks)

    def after(self):
        return [h for h in self._hooks if h.when == "after"]


def _finished_run(session, status="done") -> str:
    from conftest import finish_run

    res = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:out"]}, image=BUSYBOX_IMAGE)
    push_datum(session, "kind:raw")
    (run_id,) = [r[0] for r in catalog_rows(session.home.root, "SELECT run_id FROM run WHERE plan_id = ? AND status = ?",
                                             (res.plan.plan_id, "waiting"))]
    finish_run(session, run_id, status)
    return run_id


def test_deliveries_fan_out_per_wanting_hook_and_retry_with_the_same_id(session, server):
    from daemon.hooks import Deliverer

    answers = iter([(500, b""), (200, b"")])
    s = server(lambda req: next(answers))
    wants_done = hook(name="chat", when="after", url=s.url, on=["done"], retries=3)
    d = Deliverer(session.home, threading.Event(), config=Config(wants_done))
    run_id = _finished_run(session)
    d.pass_once(session)
    assert hook_rows.changes(session.catalog.conn, 10) == []  # every change was looked at, once
    (row,) = hook_rows.deliveries(session.catalog.conn)
    assert (row["hook"], row["run_id"], row["new_status"], row["attempts"]) == ("chat", run_id, "done", 1)
    assert row["delivered_ms"] is None and row["last_error"] == f"HTTP 500 from {s.url}"
    with session.catalog.write() as c:
        hook_rows.make_all_due(c, int(time.time() * 1000))
    d.pass_once(session)
    (row,) = hook_rows.deliveries(session.catalog.conn)
    assert row["delivered_ms"] is not None and row["attempts"] == 2
    ids = [r["headers"]["X-Knit-Delivery"] for r in s.requests]
    assert ids == [row["delivery_id"]] * 2
    assert [r["body"]["run"]["status"] for r in s.requests] == ["done", "done"]
    assert s.requests[0]["body"]["from"] == "completing" and s.requests[0]["body"]["to"] == "done"


def test_a_delivery_is_given_up_after_its_retries_and_logged(session, server, caplog):
    from daemon.hooks import Deliverer

    s = server(lambda req: (500, b""))
    d = Deliverer(session.home, threading.Event(), config=Config(hook(name="chat", when="after", url=s.url, on=["failed"],
                                                                      retries=1)))
    _finished_run(session, "failed")
    for _ in range(3):
        d.pass_once(session)
        with session.catalog.write() as c:
            hook_rows.make_all_due(c, int(time.time() * 1000))
    (row,) = hook_rows.deliveries(session.catalog.conn)
    assert row["given_up_ms"] is not None and row["attempts"] == 2 and len(s.requests) == 2
    assert "given up after 2 attempt(s)" in caplog.text


def test_a_hanging_after_hook_holds_up_only_itself(session, server):
    from daemon.hooks import Deliverer

    hang, fine = server(lambda req: (0, b"")), server()
    arrived = []
    fine.answer = lambda req: (arrived.append(time.monotonic()), (200, b""))[1]
    d = Deliverer(session.home, threading.Event(), config=Config(
        hook(name="slow", when="after", url=hang.url, on=["done"], timeout=2),
        hook(name="fine", when="after", url=fine.url, on=["done"])))
    _finished_run(session)
    t0 = time.monotonic()
    d.pass_once(session)
    assert time.monotonic() - t0 >= 2.0  # the pass waited for the slow hook's timeout ...
    assert len(arrived) == 1 and arrived[0] - t0 < 1.0  # ... but the other hook was called at once
    state = {r["hook"]: (r["delivered_ms"] is not None, r["last_error"]) for r in hook_rows.deliveries(session.catalog.conn)}
    assert state == {"fine": (True, None), "slow": (False, "no answer within its timeout of 2s")}


def test_a_failing_hook_is_called_once_a_turn_and_its_other_deliveries_wait(session, server):
    from daemon.hooks import Deliverer

    s = server(lambda req: (500, b""))
    d = Deliverer(session.home, threading.Event(), config=Config(hook(name="chat", when="after", url=s.url, on=["done"])))
    _finished_run(session)
    _finished_run(session)
    d.pass_once(session)
    assert len(s.requests) == 1
    rows = sorted(hook_rows.deliveries(session.catalog.conn), key=lambda r: r["attempts"])
    assert [r["attempts"] for r in rows] == [0, 1]
    assert hook_rows.due(session.catalog.conn, int(time.time() * 1000), 10) == []  # both wait for the retry
    with session.catalog.write() as c:
        hook_rows.make_all_due(c, int(time.time() * 1000))
    d.pass_once(session)
    ids = [r["headers"]["X-Knit-Delivery"] for r in s.requests]
    assert len(ids) == 2 and ids[0] == ids[1]  # the one that failed is retried first, alone


def test_without_after_hooks_changes_are_dropped_not_kept(session):
    from daemon.hooks import Deliverer

    _finished_run(session)
    Deliverer(session.home, threading.Event(), config=Config()).pass_once(session)
    assert hook_rows.changes(session.catalog.conn, 10) == [] and hook_rows.deliveries(session.catalog.conn) == []


# -- knitd end to end (dockerd) ---------------------------------------------------------------------------


@pytest.fixture
def knitd(knitd, docker_client):
    require_images(docker_client, BUSYBOX_IMAGE)
    return knitd


def sh(cmd: str) -> dict:
    return {"image": BUSYBOX_IMAGE, "args": ["sh", "-c", cmd]}


def one_run(home: Path, plan_id: str) -> str:
    rows = wait_until(lambda: catalog_rows(home, "SELECT run_id FROM run WHERE plan_id = ?", (plan_id,)),
                      timeout=30, what=f"a run of plan {plan_id}", home=home)
    return rows[0][0]


def history(home: Path, run_id: str) -> list[tuple[str, int, str | None]]:
    return catalog_rows(home, "SELECT status, at_ms, note FROM run_history WHERE run_id = ? ORDER BY at_ms, rowid",
                        (run_id,))


def test_a_before_hook_vetoes_a_run_which_fails_with_its_message(knit_home, knitd, session, tmp_path, docker_client, cli):
    cmd = script(tmp_path / "gate.sh", "cat > /dev/null\necho 'GPU budget exhausted' >&2\nexit 1\n")
    write_config([{"name": "budget", "when": "before", "command": cmd}])
    plan = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:x"]}, log=["kind:log"],
                      **sh("echo ran > /out/ran")).plan.plan_id
    knitd()
    push_datum(session, "kind:raw")
    run_id = one_run(knit_home, plan)
    row = wait_run(knit_home, run_id)
    assert row["status"] == "failed" and row["message"] == "vetoed by hook budget: GPU budget exhausted"
    assert [h[0] for h in history(knit_home, run_id)] == ["waiting", "ready", "aborting", "failed"]
    assert not docker_client.containers.list(all=True, filters={"label": f"knit.run={run_id}"})
    r = cli("run", "log", run_id)
    assert "vetoed by hook budget: GPU budget exhausted" in r.out, r


def test_env_from_a_before_hook_reaches_the_container_and_nothing_else(knit_home, knitd, session, server, cli):
    secret = "s3cr3t-" + os.urandom(12).hex()
    s = server(lambda req: (200, json.dumps({"env": {"SECRET_TOKEN": secret, "REGION": "eu-" + secret[-4:]}}).encode()))
    write_config([{"name": "creds", "when": "before", "url": s.url}])
    # the task proves it has the value without printing it: its hash goes to an output
    plan = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:x"]}, log=["kind:log"],
                      **sh('printf %s "$SECRET_TOKEN" | sha256sum | cut -c1-64 > /out/hash; '
                           'echo "token is ${#SECRET_TOKEN} characters"')).plan.plan_id
    knitd()
    push_datum(session, "kind:raw")
    run_id = one_run(knit_home, plan)
    assert wait_run(knit_home, run_id)["status"] == "done"
    (req,) = s.requests
    assert req["body"]["run"]["id"] == run_id and req["body"]["from"] == "ready" and req["body"]["to"] == "starting"
    out_id, log_id = (catalog_rows(knit_home, "SELECT knit_id FROM data WHERE run_id = ? AND output_path = ?",
                                   (run_id, p))[0][0] for p in ("/out", "log"))
    assert (session.store.path_of(out_id) / "hash").read_text().strip() == hashlib.sha256(secret.encode()).hexdigest()
    log = (session.store.path_of(log_id) / "log").read_text()
    assert f"token is {len(secret)} characters" in log and secret not in log
    needle = secret.encode()
    for f in knit_home.iterdir():  # the catalog (and its WAL), knitd's log, the run logs, the pid file, ...
        if f.is_file():
            assert needle not in f.read_bytes(), f
    for f in (knit_home / "logs").rglob("*"):
        if f.is_file():
            assert needle not in f.read_bytes(), f
    shown = cli("run", "show", run_id)
    assert shown.code == 0 and secret not in shown.out + shown.err, shown
    assert "env from hooks creds: REGION=***, SECRET_TOKEN=***" in shown.out, shown
    as_json = cli("run", "show", run_id, "-o", "json")
    assert secret not in as_json.out


def test_after_hook_delivery_survives_a_knitd_sigkill_with_the_same_id(knit_home, knitd, session, server, cli):
    up = threading.Event()
    s = server(lambda req: (200 if up.is_set() else 500, b""))
    write_config([{"name": "registry", "when": "after", "on": ["done"], "url": s.url, "retries": 20}])
    plan = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:model"]}, **sh("echo w > /out/w")).plan.plan_id
    k = knitd()
    push_datum(session, "kind:raw")
    run_id = one_run(knit_home, plan)
    assert wait_run(knit_home, run_id)["status"] == "done"
    first = wait_until(lambda: list(s.requests), timeout=30, what="a first (failed) delivery", home=knit_home)[0]
    delivery = first["headers"]["X-Knit-Delivery"]
    assert first["status"] == 500 and first["body"]["run"]["id"] == run_id and first["body"]["delivery"] == delivery
    k.kill()
    pending = cli("hook", "deliveries", "--run", run_id, "-o", "json").json()
    assert [(p["delivery"], p["state"]) for p in pending] == [(delivery, "pending")]
    up.set()
    knitd()
    ok = wait_until(lambda: [r for r in list(s.requests) if r["status"] == 200], timeout=30,
                    what="the delivery after the restart", home=knit_home)
    assert {r["headers"]["X-Knit-Delivery"] for r in s.requests} == {delivery}  # one delivery, its id kept
    assert ok[0]["body"]["run"]["outputs"][0]["tags"] == ["kind:model"]
    done = wait_until(lambda: [d for d in cli("hook", "deliveries", "-o", "json").json() if d["state"] == "delivered"],
                      timeout=30, what="the delivery marked delivered", home=knit_home)
    assert [d["delivery"] for d in done] == [delivery]


def test_a_hanging_before_hook_holds_a_run_no_longer_than_its_timeout(knit_home, knitd, session, server):
    hang = server(lambda req: (0, b""))
    write_config([
        {"name": "slow-gate", "when": "before", "url": hang.url, "timeout": 1, "on-error": "start"},
        {"name": "slow-chat", "when": "after", "url": hang.url, "timeout": 1},
    ])
    plan = apply_plan(session, {"/in": ["kind:raw"]}, {}, **sh("true")).plan.plan_id
    knitd()
    push_datum(session, "kind:raw")
    run_id = one_run(knit_home, plan)
    assert wait_run(knit_home, run_id)["status"] == "done"
    at = {status: t for status, t, _ in history(knit_home, run_id)}
    assert 900 <= at["starting"] - at["ready"] < 1000 + 1500, at  # the gate's 1 s, not longer
    log = (knit_home / "knitd.log").read_text()
    assert "slow-gate failed and was passed over (on-error: start): no answer within its timeout of 1s" in log


def test_a_hanging_before_hook_fails_the_run_at_its_timeout_by_default(knit_home, knitd, session, server):
    hang = server(lambda req: (0, b""))
    write_config([{"name": "gate", "when": "before", "url": hang.url, "timeout": 1}])
    plan = apply_plan(session, {"/in": ["kind:raw"]}, {}, **sh("true")).plan.plan_id
    knitd()
    push_datum(session, "kind:raw")
    run_id = one_run(knit_home, plan)
    row = wait_run(knit_home, run_id)
    assert row["status"] == "failed"
    assert row["message"] == ("hook gate failed: no answer within its timeout of 1s "
                              "(the run was not started; its on-error is fail)")
    at = {status: t for status, t, _ in history(knit_home, run_id)}
    assert at["aborting"] - at["ready"] < 1000 + 1500, at
    assert run_row(knit_home, run_id)["started_ms"] is None


def test_a_jobs_repr_never_shows_its_env():
    from daemon.executors.base import Job

    job = Job(run_id="r", plan_id="p", image="i", entrypoint=None, args=(), env={"TOKEN": "tok-secret-9"},
              inputs=(), outputs=())
    assert "tok-secret-9" not in repr(job) and "tok-secret-9" not in str(job)
