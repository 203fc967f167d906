"""Lifecycle hooks: commands and HTTP(S) URLs called on run status changes (README: Hooks).

Rules (pure): a hook's config entry (`parse`), the run document a hook is given (`document`), a
before-hook's answer (`parse_answer`), URL masking for display (`mask_url`), retry back-off
(`backoff_ms`). I/O at the edge: `call` runs a command or POSTs to a URL, within the hook's timeout.

A *before* hook is called when a run is about to start (`ready` → `starting`): it may veto the run
(the run fails with the hook's message) or give environment variables to that run's container
only. Those values are secrets: they are never logged, stored or printed; only their names are.
An *after* hook is told of a status change asynchronously by knitd (daemon/hooks.py), with
retries, at least once, each delivery with an id that stays the same across retries.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import shlex
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

WHEN = ("before", "after")
ON_ERROR = ("fail", "start")
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 600.0
DEFAULT_RETRIES = 5
MAX_RETRIES = 100
MAX_ANSWER_BYTES = 1 << 20
MAX_ENV = 256
MAX_ENV_VALUE = 64 * 1024
MAX_MESSAGE = 500
BACKOFF_FIRST_MS = 1000
BACKOFF_MAX_MS = 300_000
KEYS = ("name", "when", "on", "command", "url", "headers", "timeout", "retries", "on-error")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
HEADER_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
RESERVED_HEADERS = frozenset({"content-type", "content-length", "host", "x-knit-hook", "x-knit-delivery"})


class HookConfigError(ValueError):
    """A bad hooks entry: `field` names it (hooks[1].timeout), `what` says what it must be."""

    def __init__(self, field_name: str, what: str):
        super().__init__(f"{field_name}: {what}")
        self.field = field_name
        self.what = what


@dataclass(frozen=True)
class Hook:
    name: str
    when: str                                   # before | after
    command: tuple[str, ...] | None = None
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    on: frozenset[str] | None = None            # after hooks: the statuses that call it (None: every one)
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES              # after hooks: further attempts after the first
    on_error: str = "fail"                      # before hooks: fail the run, or start it without this hook

    @property
    def target(self) -> str:
        """What it calls, safe to print: the command line, or the URL with its secrets masked."""
        if self.command is not None:
            return shlex.join(self.command)
        return mask_url(self.url or "")

    def wants(self, new_status: str) -> bool:
        return self.when == "after" and (self.on is None or new_status in self.on)

    def to_dict(self) -> dict:
        """The config entry, as it is written back to the file."""
        d: dict[str, Any] = {"name": self.name, "when": self.when}
        if self.command is not None:
            d["command"] = list(self.command)
        else:
            d["url"] = self.url
            if self.headers:
                d["headers"] = dict(self.headers)
        if self.on is not None:
            d["on"] = sorted(self.on)
        if self.timeout != DEFAULT_TIMEOUT:
            d["timeout"] = self.timeout
        if self.when == "after" and self.retries != DEFAULT_RETRIES:
            d["retries"] = self.retries
        if self.when == "before" and self.on_error != "fail":
            d["on-error"] = self.on_error
        return d


# -- config ----------------------------------------------------------------------------------------


def parse(raw: object, statuses: Sequence[str]) -> list[Hook]:
    """The config's `hooks:` list as Hooks (pure). Raises HookConfigError naming the field."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        _bad("hooks", f"must be a list of hooks (name, when, command or url), not {type(raw).__name__}")
    hooks = [_hook(i, h, statuses) for i, h in enumerate(raw)]
    seen: set[str] = set()
    for i, h in enumerate(hooks):
        if h.name in seen:
            _bad(f"hooks[{i}].name", f"{h.name!r} is used by an earlier hook; hook names must be unique")
        seen.add(h.name)
    return hooks


def _bad(field_name: str, what: str) -> NoReturn:
    raise HookConfigError(field_name, what)


def _hook(i: int, h: object, statuses: Sequence[str]) -> Hook:
    where = f"hooks[{i}]"
    if not isinstance(h, dict):
        _bad(where, "must be a mapping (name, when, command or url, …)")
    if True in h and "on" not in h:  # YAML 1.1 reads a bare `on:` key as true
        h = {("on" if k is True else k): v for k, v in h.items()}
    unknown = [str(k) for k in h if k not in KEYS]
    if unknown:
        _bad(f"{where}.{unknown[0]}", f"is not a hook field; the fields are {', '.join(KEYS)}")
    name = h.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        _bad(f"{where}.name", "must be a name of letters, digits, '.', '_' or '-' (at most 63), e.g. notify-chat")
    where = f"hooks[{i}] ({name})"
    when = h.get("when")
    if when not in WHEN:
        _bad(f"{where}.when", f"must be before (may veto a run or give it env) or after (told of changes), not {when!r}")
    if ("command" in h) == ("url" in h):
        _bad(where, "needs exactly one of `command` (a program and its arguments) or `url` (http:// or https://)")
    command = _command(where, h["command"]) if "command" in h else None
    url = _url(where, h["url"]) if "url" in h else None
    headers: tuple[tuple[str, str], ...] = ()
    if "headers" in h:
        if url is None:
            _bad(f"{where}.headers", "only a `url` hook sends headers")
        headers = _headers(where, h["headers"])
    timeout = h.get("timeout", DEFAULT_TIMEOUT)
    if (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout)
            or not 0 < timeout <= MAX_TIMEOUT):
        _bad(f"{where}.timeout", f"must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}, not {timeout!r}")
    on: frozenset[str] | None = None
    if "on" in h:
        if when != "after":
            _bad(f"{where}.on", "only after hooks choose statuses (a before hook is called as a run starts)")
        on = _statuses(where, h["on"], statuses)
    retries = h.get("retries", DEFAULT_RETRIES)
    if "retries" in h and when != "after":
        _bad(f"{where}.retries", "only after hooks are retried (a before hook is called once, as the run starts)")
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        _bad(f"{where}.retries", f"must be a whole number from 0 to {MAX_RETRIES}, not {retries!r}")
    on_error = h.get("on-error", "fail")
    if "on-error" in h and when != "before":
        _bad(f"{where}.on-error", "only before hooks have it (an after hook that fails is retried, then logged)")
    if on_error not in ON_ERROR:
        _bad(f"{where}.on-error", f"must be fail (the run fails) or start (the run starts without it), not {on_error!r}")
    return Hook(name=name, when=when, command=command, url=url, headers=headers, on=on, timeout=float(timeout),
                retries=retries, on_error=on_error)


def _command(where: str, raw: object) -> tuple[str, ...]:
    if isinstance(raw, str):
        try:
            parts = shlex.split(raw)
        except ValueError as e:
            _bad(f"{where}.command", f"can't be split into words ({e}); give a list of words instead")
    elif isinstance(raw, list) and all(isinstance(p, str) for p in raw):
        parts = list(raw)
    else:
        _bad(f"{where}.command", "must be a command line or a list of words (program first)")
    if not parts or not parts[0]:
        _bad(f"{where}.command", "is empty; give the program to run")
    if any("\x00" in p for p in parts):
        _bad(f"{where}.command", "holds a NUL character")
    return (os.path.expanduser(parts[0]), *parts[1:])


def _url(where: str, raw: object) -> str:
    if not isinstance(raw, str):
        _bad(f"{where}.url", "must be an http:// or https:// URL")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in raw):
        _bad(f"{where}.url", "holds spaces or control characters; percent-encode them")
    try:
        parts = urllib.parse.urlsplit(raw)
    except ValueError:  # e.g. an unclosed [IPv6 address
        _bad(f"{where}.url", "is not a URL (its host part can't be read)")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        _bad(f"{where}.url", "must be an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 — a bad port raises here
    except ValueError:
        _bad(f"{where}.url", "has a port that is not a number from 0 to 65535")
    return raw


def _headers(where: str, raw: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict):
        _bad(f"{where}.headers", "must be a mapping of header name → value")
    out = []
    for k, v in raw.items():
        if not isinstance(k, str) or not HEADER_RE.match(k):
            _bad(f"{where}.headers", f"{k!r} is not a header name")
        if k.lower() in RESERVED_HEADERS:
            _bad(f"{where}.headers.{k}", "is set by knit; leave it out")
        if not isinstance(v, str) or any(ord(c) < 0x20 and c != "\t" or ord(c) == 0x7F for c in v):
            _bad(f"{where}.headers.{k}", "must be text on one line")
        out.append((k, v))
    return tuple(out)


def _statuses(where: str, raw: object, statuses: Sequence[str]) -> frozenset[str]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        _bad(f"{where}.on", f"must be a list of run statuses ({', '.join(statuses)})")
    for s in raw:
        if s not in statuses:
            _bad(f"{where}.on", f"{s!r} is not a run status; one of {', '.join(statuses)}")
    return frozenset(raw)


# -- what a hook is given and what it answers ------------------------------------------------------


def document(run: Any, inputs: Sequence[Mapping], outputs: Sequence[Mapping],
             tags: Mapping[str, Sequence[tuple[str, str]]], fmt: Callable[[int], str]) -> dict:
    """The run as a hook sees it (pure): `run` is a run row (run_id, plan_id, image, status, context,
    exit_code, message, *_ms), inputs/outputs are {path, knit_id}, `tags` each datum's user tags,
    `fmt` formats a time in ms."""
    def datum(d: Mapping) -> dict:
        return {"path": d["path"], "id": d["knit_id"], "tags": [f"{k}:{v}" for k, v in tags.get(d["knit_id"], ())]}

    outs = [datum(o) for o in outputs]
    return {
        "id": run["run_id"],
        "plan": run["plan_id"],
        "image": run["image"],
        "status": run["status"],
        "context": run["context"],
        "inputs": [datum(i) for i in inputs],
        "outputs": outs,
        "tags": sorted({t for o in outs for t in o["tags"]}),
        "exit": run["exit_code"],
        "message": run["message"],
        "times": {k: (fmt(run[f"{k}_ms"]) if run[f"{k}_ms"] is not None else None)
                  for k in ("created", "updated", "started", "finished")},
    }


def envelope(hook: Hook, run_doc: dict, *, old: str, new: str, delivery: str | None) -> bytes:
    """What a hook receives (pure): the change, the run, and (after hooks) the delivery id."""
    doc: dict[str, Any] = {"hook": hook.name, "when": hook.when, "from": old, "to": new}
    if delivery is not None:
        doc["delivery"] = delivery
    doc["run"] = run_doc
    return json.dumps(doc, sort_keys=False).encode()


@dataclass(frozen=True)
class Answer:
    allow: bool = True
    message: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # never the values, wherever an Answer is printed
        return f"Answer(allow={self.allow}, message={self.message!r}, env names={sorted(self.env)})"


class BadAnswer(ValueError):
    """A before hook's answer knit can't use; the message never quotes the answer (it may hold secrets)."""


def parse_answer(body: bytes) -> Answer:
    """A before hook's stdout or response body (pure): empty allows; else a JSON object with
    optional `allow` (true/false), `message` (why not) and `env` (name → value for the run)."""
    if not body.strip():
        return Answer()
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise BadAnswer("its answer is not JSON (give nothing, or an object with allow, message, env)") from None
    if not isinstance(doc, dict):
        raise BadAnswer("its answer must be a JSON object (allow, message, env)")
    unknown = sorted(set(doc) - {"allow", "message", "env"})
    if unknown:
        raise BadAnswer(f"its answer has unknown field(s) {', '.join(map(repr, unknown[:5]))}; the fields are allow, message, env")
    allow = doc.get("allow", True)
    if not isinstance(allow, bool):
        raise BadAnswer("its answer's `allow` must be true or false")
    message = doc.get("message")
    if message is not None and not isinstance(message, str):
        raise BadAnswer("its answer's `message` must be text")
    env = doc.get("env") or {}
    if not isinstance(env, dict):
        raise BadAnswer("its answer's `env` must be an object of name → value")
    if len(env) > MAX_ENV:
        raise BadAnswer(f"its answer gives more than {MAX_ENV} environment variables")
    for k, v in env.items():
        if not ENV_NAME_RE.match(k):
            raise BadAnswer(f"its answer's env name {_short(k)!r} is not a variable name (letters, digits, _)")
        if k.startswith("KNIT_"):
            raise BadAnswer(f"its answer's env name {k} is reserved (KNIT_ variables are knit's)")
        if not isinstance(v, str) or "\x00" in v or len(v) > MAX_ENV_VALUE:
            raise BadAnswer(f"its answer's env {k} must be text without NUL, at most {MAX_ENV_VALUE} characters")
    return Answer(allow=allow, message=clean_message(message) if message else None, env=dict(env))


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[:n] + "…"


def clean_message(text: str) -> str:
    """One line of a hook's text, fit for a run's message: controls gone, at most MAX_MESSAGE characters."""
    line = " ".join(re.sub(r"[\x00-\x1f\x7f-\x9f]", " ", text).split())
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 1] + "…"


def env_note(names_by_hook: Sequence[tuple[str, Sequence[str]]]) -> str | None:
    """The run history's note when hooks gave env (names only, values masked), or None."""
    parts = [f"{hook}: " + ", ".join(f"{n}=***" for n in sorted(names)) for hook, names in names_by_hook if names]
    return ("env from hooks " + "; ".join(parts)) if parts else None


def mask_url(url: str) -> str:
    """The URL with what may be a secret masked (pure): the password of user:password, every query
    value, the fragment, and path segments of 16 characters or more (webhook tokens)."""
    try:
        p = urllib.parse.urlsplit(url)
    except ValueError:
        return "***"
    netloc = p.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"***@{host}"
    path = "/".join("***" if len(seg) >= 16 else seg for seg in p.path.split("/"))
    query = "&".join(f"{kv.split('=', 1)[0]}=***" if "=" in kv else "***" for kv in p.query.split("&") if kv)
    return urllib.parse.urlunsplit((p.scheme, netloc, path, query, "***" if p.fragment else ""))


def backoff_ms(attempt: int) -> int:
    """The wait before retry number `attempt` (1, 2, …): doubling from 1 s, at most 5 minutes (pure)."""
    return min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** min(max(attempt - 1, 0), 20))


# -- calling ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """What happened when a hook was called. `error`: it could not be called, timed out or failed
    (HTTP status); `veto`: a command exited non-zero (its message); `body`: stdout / response body."""

    error: str | None = None
    veto: str | None = None
    body: bytes = b""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.veto is None

    def __repr__(self) -> str:  # the body may hold secrets
        return f"Reply(error={self.error!r}, veto={self.veto!r}, body=<{len(self.body)} bytes>, seconds={self.seconds:.3f})"


def call(hook: Hook, payload: bytes, *, delivery: str | None = None) -> Reply:
    """Call the hook with `payload` (the envelope's JSON): a command on its stdin, a URL by POST.
    Returns within the hook's timeout (plus a moment to reap a killed command)."""
    t0 = time.monotonic()
    r = _run_command(hook, payload, delivery) if hook.command is not None else _post(hook, payload, delivery)
    return Reply(r.error, r.veto, r.body, time.monotonic() - t0)


def _run_command(hook: Hook, payload: bytes, delivery: str | None) -> Reply:
    assert hook.command is not None
    env = dict(os.environ, KNIT_HOOK=hook.name, KNIT_HOOK_WHEN=hook.when)
    if delivery is not None:
        env["KNIT_HOOK_DELIVERY"] = delivery
    try:
        proc = subprocess.Popen(list(hook.command), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True, close_fds=True)
    except OSError as e:
        return Reply(error=f"can't run {hook.command[0]}: {e.strerror or e}")
    try:
        out, err = proc.communicate(payload, timeout=hook.timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:
            proc.communicate(timeout=2)
        except subprocess.TimeoutExpired:  # a grandchild that left the group holds the pipes: leave it
            pass
        return Reply(error=f"no answer within its timeout of {hook.timeout:g}s (killed)")
    if proc.returncode != 0:
        last = [line for line in err.decode(errors="replace").splitlines() if line.strip()]
        why = clean_message(last[-1]) if last else f"exited with code {proc.returncode}"
        return Reply(veto=why, body=out)
    if len(out) > MAX_ANSWER_BYTES:
        return Reply(error=f"its answer is larger than {MAX_ANSWER_BYTES >> 20} MiB")
    return Reply(body=out)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        try:
            proc.kill()
        except OSError:
            pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001 — urllib's signature
        return None  # a redirect is an answer of its own (an error below): a POST is never re-sent elsewhere


def _post(hook: Hook, payload: bytes, delivery: str | None) -> Reply:
    """POST within the hook's timeout overall (urllib's timeout is per socket operation, so the request
    runs in a thread and is abandoned when the deadline passes)."""
    result: list[Reply] = []
    t = threading.Thread(target=lambda: result.append(_post_now(hook, payload, delivery)), daemon=True,
                         name=f"hook-{hook.name}")
    t.start()
    t.join(hook.timeout + 0.5)
    if not result:
        return Reply(error=f"no answer within its timeout of {hook.timeout:g}s")
    return result[0]


def _request(hook: Hook, payload: bytes, delivery: str | None) -> urllib.request.Request:
    """The POST: user:password in the URL becomes Basic authentication (urllib takes no userinfo)."""
    assert hook.url is not None
    parts = urllib.parse.urlsplit(hook.url)
    headers = {"Content-Type": "application/json", "User-Agent": "knit-hooks", "X-Knit-Hook": hook.name}
    url = hook.url
    if "@" in parts.netloc:
        userinfo, host = parts.netloc.rsplit("@", 1)
        user, _, password = userinfo.partition(":")
        creds = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(creds).decode()
        url = urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, ""))
    headers.update(dict(hook.headers))  # the config's own Authorization, if any, wins
    if delivery is not None:
        headers["X-Knit-Delivery"] = delivery
    return urllib.request.Request(url, data=payload, headers=headers, method="POST")


def _post_now(hook: Hook, payload: bytes, delivery: str | None) -> Reply:
    assert hook.url is not None
    opener = urllib.request.build_opener(_NoRedirect())  # https: the default context verifies certificates
    where = mask_url(hook.url)
    try:
        req = _request(hook, payload, delivery)
        with opener.open(req, timeout=hook.timeout) as resp:
            body = resp.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as e:
        return Reply(error=f"HTTP {e.code} from {where}")
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            return Reply(error=f"no answer within its timeout of {hook.timeout:g}s")
        why = (reason.strerror or str(reason)) if isinstance(reason, OSError) else "the URL was refused"
        return Reply(error=f"can't reach {where}: {why}")
    except TimeoutError:
        return Reply(error=f"no answer within its timeout of {hook.timeout:g}s")
    except OSError as e:  # connection reset, ...
        return Reply(error=f"can't reach {where}: {type(e).__name__}: {e.strerror or type(e).__doc__}")
    except Exception as e:  # noqa: BLE001 — a bad status line, an invalid URL: never its text (it may quote the URL)
        return Reply(error=f"can't reach {where}: {type(e).__name__}")
    if len(body) > MAX_ANSWER_BYTES:
        return Reply(error=f"its answer is larger than {MAX_ANSWER_BYTES >> 20} MiB")
    return Reply(body=body)


# -- a before hook's verdict -----------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """The before hooks' decision on one run: `veto` (the run's message) or the env to add."""

    veto: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    names: tuple[tuple[str, tuple[str, ...]], ...] = ()   # (hook, env names it gave)
    problems: tuple[str, ...] = ()                       # hooks that failed and were passed over (on-error: start)

    def __repr__(self) -> str:
        return f"Verdict(veto={self.veto!r}, env names={sorted(self.env)}, problems={self.problems!r})"


def judge(hook: Hook, reply: Reply) -> tuple[str | None, Answer | None, str | None]:
    """One before hook's reply as (veto message, answer, problem) (pure). A problem (it failed, timed
    out, answered nonsense) vetoes unless the hook's on-error is `start`."""
    if reply.veto is not None:
        return f"vetoed by hook {hook.name}: {reply.veto}", None, None
    problem = reply.error
    answer = None
    if problem is None:
        try:
            answer = parse_answer(reply.body)
        except BadAnswer as e:
            problem = str(e)
    if problem is not None:
        if hook.on_error == "start":
            return None, None, f"hook {hook.name} failed and was passed over (on-error: start): {problem}"
        return f"hook {hook.name} failed: {problem} (the run was not started; its on-error is fail)", None, None
    assert answer is not None
    if not answer.allow:
        return f"vetoed by hook {hook.name}" + (f": {answer.message}" if answer.message else ""), None, None
    return None, answer, None


def decide(hooks: Sequence[Hook], payload_for: Callable[[Hook], bytes],
           caller: Callable[[Hook, bytes], Reply] = lambda h, p: call(h, p)) -> Verdict:
    """Call the before hooks in order: the first veto ends it; env merges (a later hook's name wins)."""
    env: dict[str, str] = {}
    names = []
    problems: list[str] = []
    for hook in hooks:
        veto, answer, problem = judge(hook, caller(hook, payload_for(hook)))
        if veto is not None:
            return Verdict(veto=veto, problems=tuple(problems))
        if problem is not None:
            problems.append(problem)
            continue
        assert answer is not None
        env.update(answer.env)
        if answer.env:
            names.append((hook.name, tuple(sorted(answer.env))))
    return Verdict(env=env, names=tuple(names), problems=tuple(problems))


def run_document(conn, run_id: str) -> dict | None:
    """The run as a hook sees it (see `document`), read from the catalog; None when it does not exist."""
    from .catalog import data as data_rows
    from .catalog import runs as run_rows
    from .tags import format_time

    rows = run_rows.rows_by_id(conn, run_id)
    if not rows:
        return None
    ins, outs = run_rows.inputs_and_outputs(conn, [run_id])
    ids = [d["knit_id"] for d in ins[run_id] + outs[run_id]]
    return document(rows[0], ins[run_id], outs[run_id], data_rows.tags_of(conn, ids), format_time)


def sample_document() -> dict:
    """A made-up run for `knitctl hook test` without --run."""
    t = int(time.time() * 1000)
    row = {"run_id": "0123456789ab", "plan_id": "fedcba987654", "image": "knit/busybox:1", "status": "ready",
           "context": "local", "exit_code": None, "message": None, "created_ms": t, "updated_ms": t,
           "started_ms": None, "finished_ms": None}
    from .tags import format_time

    return document(row, [{"path": "/in", "knit_id": "00000000000a"}], [{"path": "/out", "knit_id": "00000000000b"}],
                    {"00000000000a": [("kind", "sample")], "00000000000b": [("kind", "result")]}, format_time)
