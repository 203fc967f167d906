"""Data: push, find, show, pull, tag — the library functions behind `knitctl data`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import ids, runstate, times
from . import tags as tagrules
from .catalog import data as q
from .catalog import marks as mark_rows
from .catalog import now_ms, records
from .errors import KnitError, UsageError
from .projection import nominations_of, project_data
from .runstate import data_status
from .session import Session
from .store import DEFERRED, Manifest, check_source
from .tags import Tag

Progress = Callable[[int], None]


@dataclass
class Datum:
    knit_id: str
    tags: list[Tag]              # user tags
    status: str                  # done | failed | processing
    timestamp_ms: int | None
    run_id: str
    plan_id: str
    output_path: str
    digest: str | None
    size: int | None
    file_count: int | None
    source: str | None
    downstream: list[dict] = field(default_factory=list)
    nominations: list[dict] = field(default_factory=list)
    bad_roots: list[str] = field(default_factory=list)    # the roots whose bad mark it carries (knitctl.marks)
    marks: list[dict] = field(default_factory=list)       # show: each mark's root, reason and time
    dropped: dict | None = None                           # show: gc freed its bytes (knitctl.retention.drop_info)
    provenance: dict = field(default_factory=dict)   # who made it, how (knitctl.provenance); filled by show()

    @property
    def system_tags(self) -> list[Tag]:
        return tagrules.system_tags(self.knit_id, self.timestamp_ms, self.status, self.bad_roots)

    @property
    def all_tags(self) -> list[Tag]:
        return sorted(self.tags) + self.system_tags

    def to_dict(self) -> dict:
        d: dict[str, object] = {
            "knit_id": self.knit_id,
            "tags": [str(t) for t in self.all_tags],
            "status": self.status,
            "timestamp": tagrules.format_time(self.timestamp_ms) if self.timestamp_ms else None,
            "upstream": {"run_id": self.run_id, "plan_id": self.plan_id, "path": self.output_path},
            "digest": self.digest,
            "size": self.size,
            "file_count": self.file_count,
        }
        if self.source:
            d["source"] = self.source
        if self.downstream:
            d["downstream"] = self.downstream
        if self.nominations:
            d["nominations"] = self.nominations
        if self.marks:
            d["marked_bad"] = self.marks
        if self.dropped:
            d["dropped"] = self.dropped
        if self.provenance:
            from . import provenance  # here: listings never need it

            d["provenance"] = provenance.public(self.provenance)
        return d


# -- push ------------------------------------------------------------------------


def push(
    session: Session,
    sources: Iterable[str | os.PathLike],
    tags: Iterable[str] = (),
    *,
    name_tag: bool = False,
    move: bool = False,
    progress: Progress | None = None,
    on_staged: Callable[[str], None] | None = None,
) -> list[Datum]:
    """Commit each source directory (or file) as one uploaded datum.

    All inputs are checked before anything is written; all data of one call
    are committed in one catalog transaction.
    """
    from . import provenance  # here: listings never need them

    paths = [Path(s) for s in sources]
    if not paths:
        raise UsageError("give at least one directory to push")
    user_tags = tagrules.parse_many(tags, where="--tag")
    home_root = session.home.root.resolve()
    for p in paths:
        where = p.absolute().resolve()
        if where == home_root or home_root in where.parents:
            raise UsageError(f"{p}: is inside KNIT_HOME ({session.home.root}); push data from elsewhere")
        if where in home_root.parents:
            raise UsageError(f"{p}: holds KNIT_HOME ({session.home.root}); push a directory that does not contain it")
        check_source(p)
    uploads = []
    for p in paths:
        per = list(user_tags)
        if name_tag:
            nm = tagrules.name_tag(Path(os.path.abspath(p)).name, where=f"-n {p}")
            if nm not in per:
                per.append(nm)
        # the git state before staging: a --move takes the files away
        uploads.append(Upload(p, per, move=move, source=os.path.abspath(p), git=provenance.git_state(p)))
    return [get(session, k) for k in commit_uploads(session, uploads, progress=progress, on_staged=on_staged)]


@dataclass
class Upload:
    """One directory (or file) to commit as an uploaded datum."""

    path: Path
    tags: list[Tag]
    move: bool = False                # rename (same filesystem only) instead of copying
    source: str | None = None         # where it came from, shown by `data show`
    ingest_key: str | None = None     # recognises a watched-folder item already ingested
    git: dict | None = None           # git_commit, git_dirty of a path pushed from a git work tree (provenance)


INGEST_PROPERTY = "knit.ingest"


def commit_uploads(
    session: Session,
    uploads: list[Upload],
    *,
    progress: Progress | None = None,
    on_staged: Callable[[str], None] | None = None,
) -> list[str]:
    """Stage, publish and commit uploads as one catalog transaction (with projection). Returns the new ids."""
    from . import provenance  # here: listings never need them
    store = session.store
    staged: list[tuple[str, Path, Manifest, Upload]] = []
    try:
        with contextlib.ExitStack() as stack:
            for up in uploads:
                knit_id = ids.new_id()
                stack.enter_context(store.claim(knit_id))
                if up.move:
                    dest, manifest = store.stage_move(knit_id, up.path)
                else:
                    dest, manifest = store.stage_copy(knit_id, up.path, progress)
                staged.append((knit_id, dest, manifest, up))
                if on_staged:
                    on_staged(knit_id)
            for knit_id, dest, *_ in staged:
                store.publish(knit_id, dest)
            t = now_ms()
            made_by = provenance.who()
            with session.catalog.write() as c:
                for knit_id, _dest, manifest, up in staged:
                    run_id = records.insert_run(c, records.UPLOAD_PLAN, "done", at_ms=t)
                    records.insert_datum(
                        c, run_id, records.UPLOAD_PATH, up.tags,
                        knit_id=knit_id, digest=manifest.digest, size=manifest.size,
                        file_count=manifest.file_count, source=up.source,
                        uri=str(store.path_of(knit_id)), at_ms=t,
                    )
                    if up.ingest_key:
                        q.set_custom_string(c, knit_id, INGEST_PROPERTY, up.ingest_key)
                    provenance.record_upload(c, run_id, knit_id, {**made_by, **(up.git or {})}, at_ms=t)
                project_data(c, [s[0] for s in staged])
    except BaseException:
        # Locks are released: put moved sources back and clear what this commit left,
        # now rather than at the next command (committed data stay).
        with contextlib.suppress(Exception):
            session.reclaim()
        raise
    return [s[0] for s in staged]


def ingested(session: Session, ingest_key: str) -> str | None:
    """The datum an identical watched-folder item already became, if any."""
    return q.with_custom_string(session.catalog.conn, INGEST_PROPERTY, ingest_key)


# -- reading -------------------------------------------------------------------


def _from_rows(session: Session, rows) -> list[Datum]:
    tags = q.tags_of(session.catalog.conn, [r["knit_id"] for r in rows])
    bad = mark_rows.roots_of(session.catalog.conn, [r["knit_id"] for r in rows])
    return [
        Datum(
            knit_id=r["knit_id"],
            tags=sorted(Tag(k, v) for k, v in tags[r["knit_id"]]),
            status=data_status(r["run_status"]),
            timestamp_ms=r["finished_ms"] if r["run_status"] in runstate.FINISHED else None,
            run_id=r["run_id"],
            plan_id=r["plan_id"],
            output_path=r["output_path"],
            digest=r["digest"],
            size=r["size"],
            file_count=r["file_count"],
            source=r["source"],
            bad_roots=bad.get(r["knit_id"], []),
        )
        for r in rows
    ]


def resolve_id(session: Session, text: str) -> str:
    prefix = ids.check_prefix(text, what="data")
    return ids.pick_one(prefix, q.ids_with_prefix(session.catalog.conn, prefix), what="data")


def get(session: Session, text: str) -> Datum:
    knit_id = resolve_id(session, text)
    return _from_rows(session, q.by_id(session.catalog.conn, knit_id))[0]


def show(session: Session, text: str) -> Datum:
    """A datum with its downstream runs and the plan inputs it is nominated for."""
    from . import provenance, retention  # here: listings never need them
    with session.catalog.read() as conn:
        d = get(session, text)
        d.downstream = [
            {"run_id": r[0], "plan_id": r[1], "path": r[2], "status": r[3]} for r in q.downstream(conn, d.knit_id)
        ]
        d.nominations = nominations_of(conn, d.knit_id)
        d.marks = [{"root": r, "reason": why, "marked": tagrules.format_time(at)}
                   for r, why, at in mark_rows.marks_of(conn, d.knit_id)]
        d.dropped = retention.drop_info(conn, d.knit_id)
        d.provenance = provenance.of_datum(session, d.knit_id) or {}
    return d


def find(
    session: Session,
    tags: Iterable[str] = (),
    *,
    transient: str = "no",
    since: str | None = None,
    duration: str | None = None,
    marked: str = "both",
) -> list[Datum]:
    """Data carrying every given tag (system tags included), oldest first."""
    f = _filter(tags, transient, since, duration, marked)
    with session.catalog.read() as conn:
        return _from_rows(session, q.find(conn, f))


def _filter(tags: Iterable[str], transient: str, since: str | None, duration: str | None,
            marked: str = "both") -> q.DataFilter:
    """find's filters, checked; raises UsageError on a bad one."""
    wanted = tagrules.parse_many(tags, where="--tag", user=False)
    transient = {"true": "yes", "false": "no"}.get(transient, transient)  # Knitfab's spelling
    if transient not in ("yes", "no", "both"):
        raise UsageError(f"--transient: {transient!r} is not one of yes, no, both (or true, false)")
    f = q.DataFilter()
    for t in wanted:
        if t.key == tagrules.KEY_ID:
            f.knit_ids.append(t.value)
        elif t.key == tagrules.KEY_TIMESTAMP:
            f.done_at_ms.append(tagrules.parse_time(t.value, where="--tag knit#timestamp"))
        elif t.key == tagrules.KEY_TRANSIENT:
            if t.value == tagrules.TRANSIENT_FAILED:
                statuses = ["failed"]
            elif t.value == tagrules.TRANSIENT_PROCESSING:
                statuses = sorted(runstate.LIVE)
            else:
                raise UsageError(f"--tag: {t} is not a system tag; knit#transient is 'processing' or 'failed'")
            f.run_statuses = [s for s in statuses if f.run_statuses is None or s in f.run_statuses]
            transient = "both"
        elif t.key == tagrules.KEY_BAD:
            if t.value == tagrules.BAD_ANY:
                marked = "yes"
            else:
                f.bad_roots.append(t.value)
        elif t.reserved:
            raise UsageError(f"--tag: {t} is not a system tag; system keys are knit#id, knit#timestamp, knit#transient, knit#bad")
        else:
            f.user_tags.append((t.key, t.value))
    f.done = {"no": True, "yes": False}.get(transient)
    marked = {"true": "yes", "false": "no"}.get(marked, marked)
    if marked not in ("yes", "no", "both"):
        raise UsageError(f"--marked: {marked!r} is not one of yes, no, both")
    f.marked = {"yes": True, "no": False}.get(marked)
    f.finished_from_ms, f.finished_before_ms = times.window(since, duration)
    return f


LISTING_TEXT, LISTING_JSON = q.TAGS_TEXT, q.TAGS_JSON


def listing(
    session: Session,
    tags: Iterable[str] = (),
    *,
    transient: str = "no",
    since: str | None = None,
    duration: str | None = None,
    user_tags: str = LISTING_TEXT,
    marked: str = "both",
) -> list[tuple]:
    """find's data as tuples (knit_id, run status, finished_ms, run_id, plan_id, output_path, digest, size,
    file_count, source, bad-mark roots space-separated or None, user tags as `user_tags` aggregates them):
    no objects for a listing that only prints."""
    f = _filter(tags, transient, since, duration, marked)
    with session.catalog.read() as conn:
        return q.listing(conn, f, user_tags)


def system_tags_text(run_status: str, finished_ms: int | None, bad_roots: str | None = None) -> list[str]:
    """A datum's system tags but knit#id, as strings, in `Datum.all_tags` order (from its run's status and
    the space-separated roots of its bad marks)."""
    bad = [f"{tagrules.KEY_BAD}:{r}" for r in sorted(bad_roots.split())] if bad_roots else []
    if run_status == "done":
        return ([] if finished_ms is None else [f"{tagrules.KEY_TIMESTAMP}:{tagrules.format_time(finished_ms)}"]) + bad
    if run_status in ("failed", "invalidated"):
        out = [f"{tagrules.KEY_TRANSIENT}:{tagrules.TRANSIENT_FAILED}"]
        if finished_ms is not None and run_status == "failed":
            out.append(f"{tagrules.KEY_TIMESTAMP}:{tagrules.format_time(finished_ms)}")
        return out + bad
    return [f"{tagrules.KEY_TRANSIENT}:{tagrules.TRANSIENT_PROCESSING}"] + bad


def ensure_digest(session: Session, knit_id: str) -> str | None:
    """The datum's digest, computing and recording it first if its push deferred it (a --move)."""
    exists, digest = q.digest_of(session.catalog.conn, knit_id)
    if not exists or digest != DEFERRED:
        return digest
    digest = session.store.manifest(session.store.path_of(knit_id)).digest
    with session.catalog.write() as c:
        q.replace_digest(c, knit_id, DEFERRED, digest)
    return digest


def deferred(session: Session, limit: int = 100) -> list[str]:
    """Ids of data whose digest a --move deferred."""
    return q.with_digest(session.catalog.conn, DEFERRED, limit)


# -- pull ------------------------------------------------------------------------


def pull(session: Session, text: str, dest: str | os.PathLike, *, extract: bool, progress: Progress | None = None,
         stream=None) -> Path | None:
    """Into the directory `dest` (made when missing), or with dest "-" as a .tar.gz to `stream` (returns None)."""
    from . import retention  # here: listings never need them
    to_stream = str(dest) == "-"
    if to_stream and extract:
        raise UsageError("-x/--extract writes files, and - streams a .tar.gz; give a directory, or drop -x")
    target = Path(dest)
    if not to_stream and (target.exists() or target.is_symlink()) and not target.is_dir():
        raise UsageError(f"{target}: exists and is not a directory; give a directory to pull into (made when missing)")
    d = get(session, text)
    gone = retention.drop_info(session.catalog.conn, d.knit_id)
    if gone is not None:
        raise KnitError(f"datum {d.knit_id} was {retention.describe(gone)}: its files are gone, its metadata and "
                        "lineage remain (`knitctl data show`)")
    if d.status != "done" or not d.digest:
        raise KnitError(f"datum {d.knit_id} is not committed yet (its run is {d.status}); wait for it to finish")
    digest = ensure_digest(session, d.knit_id)
    if digest is None:
        raise KnitError(f"datum {d.knit_id} was removed while being pulled")
    d.digest = digest
    if to_stream:
        session.store.stream_tar(d.knit_id, stream, digest, progress)
        return None
    target.mkdir(parents=True, exist_ok=True)
    if extract:
        return session.store.export_dir(d.knit_id, target, digest, progress)
    return session.store.export_tar(d.knit_id, target, digest, progress)


# -- tag ---------------------------------------------------------------------------


def tag(
    session: Session,
    text: str,
    *,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    remove_keys: Iterable[str] = (),
) -> Datum:
    """Removals first, then additions; projection reacts in the same transaction."""
    add_t = tagrules.parse_many(add, where="--add")
    rm_t = tagrules.parse_many(remove, where="--remove")
    keys = []
    for k in remove_keys:
        k = k.strip()
        if not k:
            raise UsageError("--remove-key: the key is empty")
        if tagrules.is_reserved(k):
            raise UsageError(f"--remove-key: {k!r} is a reserved system key and can't be removed")
        keys.append(k)
    with session.catalog.write() as c:
        knit_id = resolve_id(session, text)
        if records.set_tags(c, knit_id, rm_t, keys, add_t):
            project_data(c, [knit_id])
    return get(session, knit_id)
