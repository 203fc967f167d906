"""Lifecycle hooks in the catalog: the status changes waiting to be told (hook_event) and the deliveries
made of them (hook_delivery). The rules are knitctl/hooks.py; knitd's delivery is daemon/hooks.py."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence


def record_change(conn: sqlite3.Connection, run_id: str, old: str, new: str, at_ms: int) -> None:
    """A run's status change, in the transaction that made it."""
    conn.execute("INSERT INTO hook_event(run_id, old_status, new_status, at_ms) VALUES (?, ?, ?, ?)",
                 (run_id, old, new, at_ms))


def changes(conn: sqlite3.Connection, limit: int) -> list[tuple[int, str, str, str, int]]:
    """(seq, run_id, old, new, at_ms) of recorded changes not yet turned into deliveries, oldest first."""
    return [tuple(r) for r in conn.execute(
        "SELECT seq, run_id, old_status, new_status, at_ms FROM hook_event ORDER BY seq LIMIT ?", (limit,))]


def any_changes(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM hook_event LIMIT 1").fetchone() is not None


def forget_changes(conn: sqlite3.Connection, seqs: Sequence[int]) -> None:
    for i in range(0, len(seqs), 500):
        chunk = list(seqs[i : i + 500])
        conn.execute(f"DELETE FROM hook_event WHERE seq IN ({','.join('?' * len(chunk))})", chunk)


def add_delivery(conn: sqlite3.Connection, delivery_id: str, hook: str, run_id: str, old: str, new: str,
                 payload: str, now_ms: int) -> None:
    conn.execute(
        "INSERT INTO hook_delivery(delivery_id, hook, run_id, old_status, new_status, payload, created_ms, next_ms)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (delivery_id, hook, run_id, old, new, payload, now_ms, now_ms),
    )


DELIVERY_COLUMNS = "delivery_id, hook, run_id, old_status, new_status, payload, attempts, next_ms"


def due(conn: sqlite3.Connection, now_ms: int, limit: int) -> list[sqlite3.Row]:
    """Pending deliveries whose time has come, oldest first."""
    return conn.execute(
        f"SELECT {DELIVERY_COLUMNS} FROM hook_delivery"
        " WHERE delivered_ms IS NULL AND given_up_ms IS NULL AND next_ms <= ? ORDER BY next_ms, created_ms, rowid LIMIT ?",
        (now_ms, limit),
    ).fetchall()


def next_due_ms(conn: sqlite3.Connection) -> int | None:
    """When the earliest pending delivery is due, or None when none is pending."""
    row = conn.execute(
        "SELECT min(next_ms) FROM hook_delivery WHERE delivered_ms IS NULL AND given_up_ms IS NULL").fetchone()
    return row[0]


def make_all_due(conn: sqlite3.Connection, now_ms: int) -> int:
    """Every pending delivery due now (knitd's start: what was pending is delivered at once)."""
    return conn.execute(
        "UPDATE hook_delivery SET next_ms = ? WHERE delivered_ms IS NULL AND given_up_ms IS NULL AND next_ms > ?",
        (now_ms, now_ms),
    ).rowcount


def mark_delivered(conn: sqlite3.Connection, delivery_id: str, attempts: int, now_ms: int) -> None:
    conn.execute("UPDATE hook_delivery SET delivered_ms = ?, attempts = ?, last_error = NULL WHERE delivery_id = ?",
                 (now_ms, attempts, delivery_id))


def mark_failed(conn: sqlite3.Connection, delivery_id: str, attempts: int, error: str, *,
                next_ms: int | None, now_ms: int) -> None:
    """A failed attempt: retried at `next_ms`, or given up when it is None."""
    if next_ms is None:
        conn.execute("UPDATE hook_delivery SET attempts = ?, last_error = ?, given_up_ms = ? WHERE delivery_id = ?",
                     (attempts, error, now_ms, delivery_id))
    else:
        conn.execute("UPDATE hook_delivery SET attempts = ?, last_error = ?, next_ms = ? WHERE delivery_id = ?",
                     (attempts, error, next_ms, delivery_id))


def hold_pending(conn: sqlite3.Connection, hook: str, until_ms: int) -> None:
    """A hook's pending deliveries wait at least until `until_ms` (it failed: its retry comes first)."""
    conn.execute(
        "UPDATE hook_delivery SET next_ms = ? WHERE hook = ? AND delivered_ms IS NULL AND given_up_ms IS NULL"
        " AND next_ms < ?",
        (until_ms, hook, until_ms),
    )


def deliveries(conn: sqlite3.Connection, *, run_id: str | None = None, limit: int = 100) -> list[sqlite3.Row]:
    """Deliveries, newest first (all, or one run's)."""
    where = "WHERE run_id = ?" if run_id else ""
    params: list[object] = [run_id] if run_id else []
    return conn.execute(
        f"SELECT delivery_id, hook, run_id, old_status, new_status, created_ms, attempts, delivered_ms, given_up_ms,"
        f" last_error FROM hook_delivery {where} ORDER BY created_ms DESC, delivery_id LIMIT ?",
        (*params, limit),
    ).fetchall()


def prune(conn: sqlite3.Connection, before_ms: int) -> int:
    """Forget deliveries that ended (delivered or given up) before `before_ms`."""
    return conn.execute(
        "DELETE FROM hook_delivery WHERE coalesce(delivered_ms, given_up_ms) < ?", (before_ms,)).rowcount
