"""The delivery ledger's tables in the workspace's SQLite store: a row per (edition, recipient).

Store (store.py) holds the connection and the schema; these are its ledger methods, kept apart so
each module stays readable. Every mark commits at once; the delivery's run commits its marks
without a flush of their own and flushes them together (`flushes_deferred`, `flush`), because the
ledger's promise, "`sending` is on disk before the message data leaves", needs each on disk
before its data, not a flush each (delivery/group_commit.py).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# `accepted`: taken by an API (Microsoft Graph's 202) that does not say whether it was delivered;
# `left`: no longer among the recipients (the directory group, the file, the lists) before anything went out
LEDGER_STATES = ("queued", "sending", "sent", "accepted", "temp_failed", "perm_failed", "unknown", "left")
DONE_STATES = ("sent", "accepted")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextlib.contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction (BEGIN IMMEDIATE ... COMMIT), rolled back when anything in it fails: a
    store kept open for hours (the live preview) must not be left inside a transaction that every
    later write would then fail on."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # a COMMIT that failed (a full disk) may have ended it already
            db.execute("ROLLBACK")
        raise


@dataclass(frozen=True)
class Mark:
    """One state to record for one person (Store.mark_many)."""

    recipient: str
    status: str
    error: str | None = None
    message_id: str | None = None
    detail: str | None = None
    attempted: bool = False  # a refusal before the data counts as an attempt
    untried: bool = False  # back to `queued`, nothing sent: the attempt its `sending` counted is taken back


@dataclass(frozen=True)
class Delivery:
    month: str
    recipient: str
    status: str
    attempts: int
    last_error: str | None
    message_id: str | None
    updated_at: str
    detail: str | None = None
    first_attempt_at: str | None = None


class LedgerTables:
    """The `deliveries` table's reads and writes; mixed into Store, which sets the attributes below."""

    db: sqlite3.Connection
    path: Path | str
    sync: str  # "FULL" or "NORMAL": ledger_sync
    _sync_now: str  # what the connection is set to now
    _wal: int | None  # the -wal file, opened by the first flush()
    _deferring: bool

    def queue(self, month: str, recipients: Iterable[str]) -> None:
        """Add recipients as `queued`; rows that exist keep their state (a re-run never resets them)."""
        stamp = now_iso()
        with immediate(self.db):
            self.db.executemany(
                "INSERT OR IGNORE INTO deliveries (month, recipient, status, attempts, updated_at)"
                " VALUES (?,?,'queued',0,?)",
                [(month, r, stamp) for r in recipients],
            )

    def mark(self, month: str, recipient: str, status: str, *, error: str | None = None,
             message_id: str | None = None, detail: str | None = None, attempted: bool = False,
             durable: bool = True) -> None:
        """Record a state. An attempt counts at `sending`, or at a refusal before the data (`attempted`).

        `durable=False` (a `sent` after the server's answer) skips the disk flush: the next durable
        write (the next `sending`) flushes it. A crash of the process keeps it (it is in the WAL); a
        power cut in between leaves the row `sending`, read as unknown: never a second copy.
        """
        self.mark_many(month, [Mark(recipient, status, error, message_id, detail, attempted)], durable=durable)

    def mark_many(self, month: str, marks: Iterable[Mark], *, durable: bool = True) -> None:
        """Record several states in one commit, so one disk flush covers them all (the delivery's
        group commit: delivery/group_commit.py). When it returns, every mark is committed; with
        `durable` and `synchronous=FULL`, on disk."""
        rows = []
        stamp = now_iso()
        for m in marks:
            assert m.status in LEDGER_STATES, m.status
            rows.append((m.status == "sending", m.attempted, m.untried, m.status, m.error, m.message_id, m.detail,
                         stamp, m.status == "sending" or m.attempted, stamp, m.untried, month, m.recipient))
        self._synchronous(self.sync if durable else "NORMAL")
        try:
            if len(rows) == 1:  # one statement is its own transaction (autocommit): no BEGIN, no COMMIT
                self.db.execute(_MARK, rows[0])
                return
            with immediate(self.db):
                self.db.executemany(_MARK, rows)
        finally:
            self._synchronous("NORMAL" if self._deferring else self.sync)

    @contextlib.contextmanager
    def flushes_deferred(self) -> Iterator[None]:
        """While it lasts, commits made with `durable=False` stay unflushed until `flush()` without
        switching `synchronous` back and forth for each (the delivery's run: group_commit.py)."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
            self._synchronous(self.sync)

    @property
    def flushes_itself(self) -> bool:
        """Whether `flush()` is needed for a commit made with `durable=False` to be on disk: the
        store is a file and its writes are meant to survive a power cut (ledger_sync = "full")."""
        return self.sync == "FULL" and str(self.path) != ":memory:"

    def flush(self) -> None:
        """Put every commit made so far on disk, also those made with `durable=False`.

        In WAL mode a commit is the frames appended to the `-wal` file; `synchronous=FULL` makes
        SQLite fsync that file at each commit, while the write lock is held. This fsyncs the same
        file afterwards, outside the lock, so the delivery can commit further marks (a `sent` that
        must not wait) while one flush covers everything committed before it. A checkpoint copies
        frames into the database only after SQLite fsynced the WAL, and fsyncs the database after,
        so a commit is on disk either way once this returns.
        """
        if not self.flushes_itself:
            return
        if self._wal is None:  # kept open: SQLite keeps the file while this connection is open
            self._wal = os.open(f"{self.path}-wal", os.O_RDONLY)
        getattr(os, "fdatasync", os.fsync)(self._wal)  # as SQLite syncs it: the data and what finds it

    def _synchronous(self, level: str) -> None:
        if level != self._sync_now:
            self.db.execute(f"PRAGMA synchronous={level}")
            self._sync_now = level

    def deliveries(self, month: str, statuses: Iterable[str] | None = None) -> list[Delivery]:
        return [Delivery(**dict(r)) for r in self._rows("*", month, statuses)]

    def recipients_in(self, month: str, statuses: Iterable[str]) -> list[str]:
        """The ledger keys of the rows in `statuses`, in the order they were queued: what a run
        reads of every row, without the rest of each."""
        return [r[0] for r in self._rows("recipient", month, statuses)]

    def _rows(self, columns: str, month: str, statuses: Iterable[str] | None) -> sqlite3.Cursor:
        if statuses is None:
            return self.db.execute(f"SELECT {columns} FROM deliveries WHERE month=? ORDER BY rowid", (month,))
        wanted = sorted(set(statuses))  # filtered by SQLite: a run reads a few states of every row
        marks = ",".join("?" * len(wanted))
        return self.db.execute(f"SELECT {columns} FROM deliveries WHERE month=? AND status IN ({marks}) ORDER BY rowid",
                               (month, *wanted))

    def delivery_counts(self, month: str) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT status, COUNT(*) AS n FROM deliveries WHERE month=? GROUP BY status", (month,)
        )
        return {r["status"]: r["n"] for r in rows}

    def delivery_reach(self, month: str) -> dict[str, tuple[int, str]]:
        """Per ledger state of the month: how many people, and the earliest first attempt among
        them (the last update for rows never tried)."""
        rows = self.db.execute(
            "SELECT status, COUNT(*) AS n, MIN(COALESCE(first_attempt_at, updated_at)) AS since FROM deliveries"
            " WHERE month=? GROUP BY status", (month,))
        return {r["status"]: (r["n"], r["since"]) for r in rows}


_MARK = """UPDATE deliveries SET
     attempts=attempts + (CASE WHEN ? OR (? AND status != 'sending') THEN 1 WHEN ? AND attempts > 0 THEN -1 ELSE 0 END),
     status=?, last_error=?, message_id=COALESCE(?, message_id), detail=COALESCE(?, detail),
     updated_at=?, first_attempt_at=CASE WHEN ? THEN COALESCE(first_attempt_at, ?)
       WHEN ? AND attempts <= 1 THEN NULL ELSE first_attempt_at END
   WHERE month=? AND recipient=?"""
