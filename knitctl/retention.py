"""Retention (`knitctl gc`, and knitd on a schedule): rules that free data's bytes and keep their metadata.

Rules, from the config file's `retention:` section or `knitctl gc`'s flags (flags replace the file's rules):

- `keep-newest: N` — among the data carrying all of the rule's `tags` (or, without tags, among the data with
  exactly the same user tags), keep the N newest; the older ones go.
- `older-than: DURATION` — data committed (their run done) longer ago than that go (with `tags`: only those).
- `failed-older-than: DURATION` — outputs of failed runs that ended longer ago than that go.

Never dropped: data carrying the pin tag (`keep:true` unless `retention.pin` says otherwise) and everything
upstream of them; data a run that is not finished takes as input; data still processing; data already dropped;
data whose digest a `--move` deferred and is not known yet. Nothing but the chosen data's directories is deleted.

Dropping one datum, crash-safe: every chosen datum is recorded `dropping` (and its MLMD artifact
MARKED_FOR_DELETION) in one transaction — from then on it is never nominated — then its directory goes
(`Store.discard_path`: an atomic rename into trash, then the delete), then it is recorded `dropped` (MLMD
DELETED). A gc killed half-way leaves data whole or `dropping`; the next gc (or knitd's) finishes those first.
The metadata stays: lineage still shows the datum, `data pull` says when and by which rule it was dropped, and
`explain` says why runs that would need it are not created.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import NamedTuple

from . import tags as tagrules
from .catalog import mlmd, now_ms
from .catalog import retention as q
from .errors import UsageError
from .runstate import LIVE

KEEP_NEWEST, OLDER_THAN, FAILED_OLDER_THAN = "keep-newest", "older-than", "failed-older-than"
KINDS = (KEEP_NEWEST, OLDER_THAN, FAILED_OLDER_THAN)
DEFAULT_PIN = tagrules.Tag("keep", "true")
KILL_AFTER_ENV = "KNIT_TEST_GC_KILL_AFTER"   # tests: SIGKILL this process after deleting that many data's bytes


# -- the rules (pure) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    kind: str                        # one of KINDS
    value: int                       # N for keep-newest, milliseconds for the others
    tags: tuple[str, ...] = ()       # 'k:v' selector; empty: every datum (keep-newest: per exact tag set)
    text: str = ""                   # how the user wrote the value (30d), for messages

    def __str__(self) -> str:
        sel = f" [{' '.join(self.tags)}]" if self.tags else (" [per tag set]" if self.kind == KEEP_NEWEST else "")
        return f"{self.kind} {self.text or self.value}{sel}"


@dataclass
class Retention:
    rules: list[Rule] = field(default_factory=list)
    pin: tagrules.Tag = DEFAULT_PIN
    every_ms: int | None = None      # knitd applies the rules this often (None: it does not)

    def to_dict(self) -> dict:
        d: dict = {"rules": [{r.kind: (r.value if r.kind == KEEP_NEWEST else r.text), **({"tags": list(r.tags)} if r.tags else {})}
                             for r in self.rules]}
        if self.pin != DEFAULT_PIN:
            d["pin"] = str(self.pin)
        if self.every_ms is not None:
            d["every"] = self.every_ms
        return d


class Fact(NamedTuple):
    """One datum gc may drop (a tuple: a gc reads 100,000 of them)."""

    knit_id: str
    status: str                      # the producing run's: done | failed
    finished_ms: int
    size: int
    tags: str                        # user tags, '\n'-wrapped sorted 'k:v' lines ('\ntype:m\nx:y\n'; '\n' for none)


def rule(kind: str, value, tags: Iterable[str] = (), *, where: str) -> Rule:
    """A checked rule; UsageError naming `where` otherwise."""
    sel = tuple(sorted(str(t) for t in tagrules.parse_many([str(t) for t in tags], where=f"{where}.tags")))
    if kind == KEEP_NEWEST:
        if isinstance(value, bool) or not isinstance(value, int) and not (isinstance(value, str) and value.strip().isdigit()):
            raise UsageError(f"{where}: keep-newest takes a whole number of data to keep (e.g. 3), not {value!r}")
        n = int(value)
        if n < 1:
            raise UsageError(f"{where}: keep-newest {n} would keep nothing; keep at least 1 (drop data with older-than)")
        return Rule(kind, n, sel, str(n))
    if kind in (OLDER_THAN, FAILED_OLDER_THAN):
        from .times import parse_duration

        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise UsageError(f"{where}: {kind} takes a duration (e.g. 30d, 12h), not {value!r}")
        ms = parse_duration(str(value), where=where if where.startswith("-") else f"{where}.{kind}")
        if ms <= 0:
            raise UsageError(f"{where}: {kind} {value} would drop everything at once; give a positive duration")
        return Rule(kind, ms, sel, str(value))
    raise UsageError(f"{where}: {kind!r} is not a retention rule; use one of {', '.join(KINDS)}")


def parse(doc, where: str = "retention") -> Retention:
    """The config file's `retention:` mapping (pure)."""
    if doc is None:
        return Retention()
    if not isinstance(doc, dict):
        raise UsageError(f"{where}: must be a mapping (rules, pin, every)")
    unknown = sorted(set(doc) - {"rules", "pin", "every"})
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r}; retention takes rules, pin, every")
    rules_doc = doc.get("rules") or []
    if not isinstance(rules_doc, list):
        raise UsageError(f"{where}.rules: must be a list of rules ({', '.join(KINDS)}, each with optional tags)")
    rules = []
    for i, r in enumerate(rules_doc):
        w = f"{where}.rules[{i}]"
        if not isinstance(r, dict):
            raise UsageError(f"{w}: must be a mapping such as {{keep-newest: 3, tags: [type:model]}}")
        kinds = [k for k in r if k != "tags"]
        if len(kinds) != 1:
            raise UsageError(f"{w}: give exactly one of {', '.join(KINDS)} (and optional tags)")
        tags = r.get("tags") or []
        if not isinstance(tags, list):
            raise UsageError(f"{w}.tags: must be a list of key:value tags")
        rules.append(rule(kinds[0], r[kinds[0]], tags, where=w))
    pin = DEFAULT_PIN
    if doc.get("pin") is not None:
        pin = tagrules.parse_user(str(doc["pin"]), where=f"{where}.pin")
    every = None
    if doc.get("every") is not None:
        from .times import parse_duration

        every = parse_duration(str(doc["every"]), where=f"{where}.every")
        if every < 1000:
            raise UsageError(f"{where}.every: {doc['every']!r} is too often; give at least 1s (e.g. 1h)")
    return Retention(rules, pin, every)


FactRow = tuple[str, str, int, int, str]   # a Fact, or the plain tuple the catalog gives in its order


def _selected(facts: list[FactRow], sel: tuple[str, ...]) -> list[FactRow]:
    if not sel:
        return facts
    needles = [f"\n{t}\n" for t in sel]
    if len(needles) == 1:
        (n,) = needles
        return [f for f in facts if n in f[4]]
    return [f for f in facts if all(n in f[4] for n in needles)]


def choose(facts: Sequence[FactRow], rules: Sequence[Rule], protected: set[str], now: int) -> dict[str, Rule]:
    """knit id -> the first rule that drops it. Protected data are never chosen (they still count as kept).
    `facts` are Facts or plain tuples in Fact's order (indexed, not named: this runs over every datum)."""
    out: dict[str, Rule] = {}
    by_status: dict[str, list[FactRow]] = {"done": [], "failed": []}
    for f in sorted(facts, key=itemgetter(2, 0), reverse=True):   # newest first: (finished_ms, knit_id)
        by_status[f[1]].append(f)
    for r in rules:
        pool = _selected(by_status["failed" if r.kind == FAILED_OLDER_THAN else "done"], r.tags)
        if r.kind in (OLDER_THAN, FAILED_OLDER_THAN):
            cutoff = now - r.value
            gone = [f for f in pool if f[2] < cutoff]
        elif r.tags:
            gone = pool[r.value:]
        else:   # per exact tag set: the first N of each set (newest first) are kept
            seen: dict[str, int] = {}
            gone = []
            for f in pool:
                n = seen.get(f[4], 0)
                if n >= r.value:
                    gone.append(f)
                seen[f[4]] = n + 1
        for f in gone:
            if f[0] not in protected and f[0] not in out:
                out[f[0]] = r
    return out


def _inputs(assignment: str | None) -> list[str]:
    return [line.rsplit("=", 1)[1] for line in (assignment or "").split("\n") if "=" in line]


# -- the catalog side ------------------------------------------------------------------------------


class Drop(NamedTuple):
    """One datum a gc drops (a tuple: a dry run may list 100,000)."""

    knit_id: str
    rule: str
    size: int
    tags: str = ""                   # user tags, '\n'-wrapped 'k:v' lines (as Fact has them)
    resumed: bool = False            # left `dropping` by a gc that was killed, finished now

    def to_dict(self) -> dict:
        return {"knit_id": self.knit_id, "rule": self.rule, "size": self.size,
                "tags": self.tags.strip("\n").split("\n") if self.tags.strip("\n") else [],
                **({"resumed": True} if self.resumed else {})}


@dataclass
class Report:
    dry_run: bool
    drops: list[Drop] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(d.size for d in self.drops)


def protected(conn, pin: tagrules.Tag) -> set[str]:
    """Data never dropped: pinned, upstream of pinned, or input of a run that is not finished."""
    keep: set[str] = set()
    frontier = q.with_tag(conn, pin.key, pin.value)
    while frontier:
        fresh = [k for k in frontier if k not in keep]
        keep.update(fresh)
        frontier = [i for a in q.producers(conn, fresh) for i in _inputs(a) if i not in keep]
    for a in q.live_assignments(conn, sorted(LIVE)):
        keep.update(_inputs(a))
    return keep


def freed_sizes(conn, drops: list[Drop], path_of: Callable[[str], os.PathLike]) -> list[Drop]:
    """The drops with sizes that are the bytes their deletion frees. A cached run's outputs are hard links to
    another run's files (knitctl.reuse): such a file's blocks are freed only with its last link, so a datum
    sharing files counts each file whose every link goes in this gc once (with the first datum holding it),
    and nothing for a file some kept datum still links. Other data free their recorded size."""
    shared = q.sharing_files(conn, [d.knit_id for d in drops])
    if not shared:
        return drops
    files: dict[tuple[int, int], list] = {}   # (device, inode) -> [size, links, links seen among the drops, first holder]
    for d in drops:
        if d.knit_id not in shared:
            continue
        for root, _dirs, names in os.walk(os.fspath(path_of(d.knit_id))):
            for name in names:
                try:
                    st = os.lstat(os.path.join(root, name))
                except OSError:
                    continue
                entry = files.setdefault((st.st_dev, st.st_ino), [st.st_size, st.st_nlink, 0, d.knit_id])
                entry[2] += 1
    freed: dict[str, int] = {}
    for size, links, seen, holder in files.values():
        if seen >= links:
            freed[holder] = freed.get(holder, 0) + size
    return [d._replace(size=freed.get(d.knit_id, 0)) if d.knit_id in shared else d for d in drops]


def plan(conn, retention: Retention, now: int) -> list[Drop]:
    """What the rules drop now (in the caller's snapshot or transaction)."""
    import gc as cyclic_gc

    # Hundreds of thousands of tuples and no reference cycles: the cyclic collector, which would walk the
    # growing heap again and again while they are made, is paused for the duration (a quarter of the time).
    paused = cyclic_gc.isenabled()
    cyclic_gc.disable()
    try:
        return _plan(conn, retention, now)
    finally:
        if paused:
            cyclic_gc.enable()


def _plan(conn, retention: Retention, now: int) -> list[Drop]:
    from .store import DEFERRED

    facts = q.candidates(conn, DEFERRED)   # plain tuples in Fact's order
    chosen = choose(facts, retention.rules, protected(conn, retention.pin), now)
    texts = {id(r): str(r) for r in retention.rules}   # by id: a Rule's own hash is Python code
    new = tuple.__new__   # a Drop made at C speed (NamedTuple's own __new__ is Python code)
    return sorted(new(Drop, (f[0], texts[id(chosen[f[0]])], f[3], f[4], False)) for f in facts if f[0] in chosen)


def gc(session, retention: Retention, *, dry_run: bool = False, at_ms: int | None = None,
       on_drop: Callable[[Drop], None] | None = None) -> Report:
    """Apply the rules: finish what a killed gc left `dropping`, then choose and drop. `dry_run` changes nothing."""
    from .pairing import status as pairing_status

    now = at_ms if at_ms is not None else now_ms()
    report = Report(dry_run)
    if dry_run:
        with session.catalog.read() as conn:
            report.drops = [Drop(k, rule_text, size, resumed=True) for k, rule_text, size in q.dropping(conn)]
            report.drops += freed_sizes(conn, plan(conn, retention, now), session.store.path_of)
        return report
    paired, why = pairing_status(session.home, session.catalog)
    if not paired:  # never delete data the catalog may not be the one for (the first GC's lesson)
        raise UsageError(f"gc: not run, nothing deleted: {why}; `knitctl doctor` explains what to do")
    planned: list[Drop] = []
    if retention.rules:   # the long part, in a snapshot: the write lock is held only for the check below
        with session.catalog.read() as conn:
            planned = freed_sizes(conn, plan(conn, retention, now), session.store.path_of)
    with session.catalog.write() as c:
        leftovers = [Drop(k, rule_text, size, resumed=True) for k, rule_text, size in q.dropping(c)]
        # what changed since the snapshot wins: a datum pinned, taken by a new run, removed or dropped meanwhile stays
        keep = protected(c, retention.pin)
        alive = q.still_candidates(c, [d.knit_id for d in planned])
        fresh = [d for d in planned if d.knit_id in alive and d.knit_id not in keep]
        if fresh:
            q.begin(c, [(d.knit_id, d.rule, d.size) for d in fresh], now)
            mlmd.set_artifact_state(c, [d.knit_id for d in fresh], mlmd.A_MARKED_FOR_DELETION, now)
    kill_after = int(os.environ.get(KILL_AFTER_ENV) or 0)
    for done, d in enumerate(leftovers + fresh, start=1):
        session.store.discard_path(session.store.path_of(d.knit_id))
        if kill_after and done >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)   # tests: a gc killed between deleting bytes and recording it
        t = now_ms()
        with session.catalog.write() as c:
            q.finish(c, [d.knit_id], t)
            mlmd.set_artifact_state(c, [d.knit_id], mlmd.A_DELETED, t)
        report.drops.append(d)
        if on_drop:
            on_drop(d)
    return report


def drop_info(conn, knit_id: str) -> dict | None:
    """{state, rule, size, dropped} of a dropped (or dropping) datum, or None."""
    row = q.drop_of(conn, knit_id)
    if row is None:
        return None
    state, rule_text, size, started, dropped = row
    return {"state": state, "rule": rule_text, "size": size,
            "dropped": tagrules.format_time(dropped if dropped is not None else started)}


def describe(info: dict) -> str:
    """One clause for messages: 'dropped by gc at T (rule keep-newest 3 [type:model])'."""
    verb = "dropped" if info["state"] == q.DROPPED else "being dropped (a gc was interrupted; the next gc finishes it)"
    return f"{verb} by gc at {info['dropped']} (rule: {info['rule']})"
