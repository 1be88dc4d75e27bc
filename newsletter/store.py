"""SQLite state of a workspace: collected snapshots, editions, approvals and the delivery ledger.

The schema and every SQL statement on it live here (the ledger's in ledger_store.py); the rules
that decide what to write live with their stage (approval.py, editions.py, delivery/ledger.py). The
state directory that holds the database is state_dir.py's. Every write commits at once (autocommit;
`synchronous=FULL`), because the ledger's promise, "`sending` is on disk before the message data
leaves", depends on it; the delivery's marks from parallel connections share their flushes instead
(ledger_store.py, delivery/group_commit.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsletter.ledger_store import DONE_STATES, LEDGER_STATES, Delivery, LedgerTables, Mark, immediate, now_iso
from newsletter.model import Snapshot, SourceResult
from newsletter.state_dir import DB_NAME, prepare_state_dir, unusable

__all__ = ["DONE_STATES", "LEDGER_STATES", "SCHEMA", "Approval", "Delivery", "Edition", "Mark", "Store",
           "now_iso"]

SCHEMA = [
    """
    CREATE TABLE snapshots (
        month TEXT NOT NULL, source TEXT NOT NULL, type TEXT NOT NULL, kind TEXT NOT NULL,
        status TEXT NOT NULL, error TEXT, metrics TEXT NOT NULL, collected_at TEXT NOT NULL,
        PRIMARY KEY (month, source));
    CREATE TABLE editions (
        month TEXT PRIMARY KEY, status TEXT NOT NULL, subject TEXT, content_hash TEXT,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL, sent_at TEXT);
    CREATE TABLE deliveries (
        month TEXT NOT NULL, recipient TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL,
        last_error TEXT, message_id TEXT, updated_at TEXT NOT NULL,
        PRIMARY KEY (month, recipient));
    """,
    # Approval gate (newsletter/approval.py): who approved which content, and which reviewers were asked.
    """
    CREATE TABLE approvals (
        month TEXT NOT NULL, content_hash TEXT NOT NULL, approved_by TEXT NOT NULL, approved_at TEXT NOT NULL,
        PRIMARY KEY (month, content_hash));
    CREATE TABLE review_requests (
        month TEXT NOT NULL, content_hash TEXT NOT NULL, reviewers TEXT NOT NULL, requested_at TEXT NOT NULL,
        PRIMARY KEY (month, content_hash));
    """,
    # Cumulative counters of rspamd, one row per collection (renamed to source_readings below).
    """
    CREATE TABLE counter_snapshots (
        source TEXT NOT NULL, taken_at REAL NOT NULL, counters TEXT NOT NULL,
        PRIMARY KEY (source, taken_at));
    """,
    # the server's answer ("250 2.0.0 queued as ...", "202 Accepted") and the first attempt, which
    # starts the clock of delivery.retry_until_days
    """
    ALTER TABLE deliveries ADD COLUMN detail TEXT;
    ALTER TABLE deliveries ADD COLUMN first_attempt_at TEXT;
    """,
    # a result that covers only part of its month, and why (model.SourceResult.partial, .warnings)
    """
    ALTER TABLE snapshots ADD COLUMN partial INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE snapshots ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]';
    """,
    # Readings of sources that need daily snapshots (collectors.base.Collector.needs_snapshots, newsletter
    # snapshot): rspamd's counters were the first, so their table becomes the general one, rows kept.
    """
    ALTER TABLE counter_snapshots RENAME TO source_readings;
    ALTER TABLE source_readings RENAME COLUMN counters TO reading;
    """,
]
@dataclass(frozen=True)
class Edition:
    month: str
    status: str  # draft | approved | sending | sent | failed
    subject: str | None
    content_hash: str | None
    created_at: str
    updated_at: str
    sent_at: str | None


@dataclass(frozen=True)
class Approval:
    """Who approved which content of an edition (approval.py holds the rules)."""

    month: str
    content_hash: str
    approved_by: str
    approved_at: str

    @property
    def short_hash(self) -> str:
        return self.content_hash[:12]


class Store(LedgerTables):
    def __init__(self, path: Path | str) -> None:
        self.path = path
        # the delivery's connections write through one lock (delivery/group_commit.py), never two at once
        self.db = sqlite3.connect(str(path), isolation_level=None, timeout=30, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        if str(path) != ":memory:":
            self._use_wal()
        self.sync = self._sync_now = "FULL"
        self._wal: int | None = None  # the -wal file, for flush()
        self._deferring = False
        self.db.execute("PRAGMA synchronous=FULL")
        self._migrate()

    @classmethod
    def open(cls, state_dir: Path) -> Store:
        """The state directory's database, the directory made when missing. A directory or database
        this user cannot write is a ConfigError naming both, not a traceback halfway into a run."""
        prepare_state_dir(state_dir)
        try:
            _create_private(state_dir / DB_NAME)
            return cls(state_dir / DB_NAME)
        except sqlite3.OperationalError as exc:
            if not any(word in str(exc) for word in ("readonly", "unable to open", "disk is full", "disk I/O")):
                raise
            raise unusable(state_dir / DB_NAME, f"write the state database ({exc})") from None
        except OSError as exc:
            raise unusable(state_dir / DB_NAME, f"create the state database ({exc.strerror or exc})") from None

    @classmethod
    def memory(cls) -> Store:
        """A throwaway store: previews of the demo write nothing to disk."""
        return cls(":memory:")

    def close(self) -> None:
        self.db.close()
        if self._wal is not None:
            os.close(self._wal)
            self._wal = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _use_wal(self) -> None:
        """WAL lets a preview read while a run writes. It is kept in the file, so only a new database
        switches; that switch does not wait for a lock another opener holds, so retry it briefly."""
        deadline = time.monotonic() + 30
        while self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _migrate(self) -> None:
        """Apply the schema steps this database lacks, holding the write lock while reading the version:
        two runs opening a new state directory at once must not both create the tables."""
        if self.db.execute("PRAGMA user_version").fetchone()[0] >= len(SCHEMA):
            return
        self.db.execute("BEGIN IMMEDIATE")  # waits (timeout) while another process migrates
        try:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(SCHEMA[version:], start=version + 1):
                for statement in script.split(";"):  # plain DDL: no semicolons inside statements
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number}")
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:  # SQLite may have rolled back itself (a disk full): not again
                self.db.execute("ROLLBACK")
            raise

    def set_durability(self, full: bool) -> None:
        """FULL: every commit is on disk before it returns. NORMAL (WAL): it survives a crash of this
        process, not a power cut. The ledger's promise against power cuts needs FULL."""
        self.sync = "FULL" if full else "NORMAL"
        self._synchronous(self.sync)

    # snapshots ---------------------------------------------------------------------------------
    def save_results(self, month: str, results: Iterable[SourceResult]) -> None:
        """Store results; a failed result never overwrites an earlier good one for the same month."""
        stamp = now_iso()
        with immediate(self.db):
            for r in results:
                if r.status == "failed":
                    old = self.db.execute(
                        "SELECT status FROM snapshots WHERE month=? AND source=?", (month, r.name)
                    ).fetchone()
                    if old is not None and old["status"] == "ok":
                        continue
                self.db.execute(
                    "INSERT OR REPLACE INTO snapshots (month, source, type, kind, status, error, metrics,"
                    " collected_at, partial, warnings) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (month, r.name, r.type, r.kind, r.status, r.error, json.dumps(r.metrics), stamp, int(r.partial),
                     json.dumps(r.warnings)),
                )

    def results(self, month: str) -> list[SourceResult]:
        rows = self.db.execute("SELECT * FROM snapshots WHERE month=? ORDER BY source", (month,))
        return [_result(row) for row in rows]

    def has_results(self, month: str) -> bool:
        return self.db.execute("SELECT 1 FROM snapshots WHERE month=? LIMIT 1", (month,)).fetchone() is not None

    def history(self, months: Iterable[str]) -> dict[str, list[SourceResult]]:
        return {month: self.results(month) for month in months}

    def first_month(self) -> str | None:
        """The earliest month with stored results ('2025-11'); None when nothing is stored."""
        return self.db.execute("SELECT MIN(month) FROM snapshots").fetchone()[0]

    # editions ----------------------------------------------------------------------------------
    def edition(self, month: str) -> Edition | None:
        row = self.db.execute("SELECT * FROM editions WHERE month=?", (month,)).fetchone()
        return Edition(**dict(row)) if row else None

    def editions(self) -> list[Edition]:
        return [Edition(**dict(r)) for r in self.db.execute("SELECT * FROM editions ORDER BY month DESC")]

    def save_edition(self, month: str, status: str, subject: str | None = None, content_hash: str | None = None):
        stamp = now_iso()
        self.db.execute(
            """INSERT INTO editions (month, status, subject, content_hash, created_at, updated_at)
               VALUES (?,?,?,?,?,?)
               ON CONFLICT(month) DO UPDATE SET status=excluded.status,
                 subject=COALESCE(excluded.subject, subject),
                 content_hash=COALESCE(excluded.content_hash, content_hash), updated_at=excluded.updated_at,
                 sent_at=CASE WHEN excluded.status='sent' THEN excluded.updated_at ELSE sent_at END""",
            (month, status, subject, content_hash, stamp, stamp),
        )

    # approvals and review requests (the rules: approval.py) -----------------------------------
    def approval(self, month: str, content_hash: str | None) -> Approval | None:
        """The approval of exactly this content of the month's edition, if any."""
        row = self.db.execute("SELECT * FROM approvals WHERE month=? AND content_hash=?",
                              (month, content_hash)).fetchone()
        return Approval(**dict(row)) if row else None

    def latest_approval(self, month: str) -> Approval | None:
        """The most recent approval for the month, whatever content it was for."""
        row = self.db.execute("SELECT * FROM approvals WHERE month=? ORDER BY approved_at DESC, rowid DESC LIMIT 1",
                              (month,)).fetchone()
        return Approval(**dict(row)) if row else None

    def save_approval(self, approval: Approval) -> None:
        """Record an approval; approving the same content again replaces the earlier record."""
        self.db.execute("INSERT OR REPLACE INTO approvals VALUES (?,?,?,?)",
                        (approval.month, approval.content_hash, approval.approved_by, approval.approved_at))

    def review_requested_at(self, month: str, content_hash: str) -> str | None:
        """When the reviewers were asked to approve this content (UTC, ISO 8601); None if never."""
        row = self.db.execute("SELECT requested_at FROM review_requests WHERE month=? AND content_hash=?",
                              (month, content_hash)).fetchone()
        return row["requested_at"] if row else None

    def save_review_request(self, month: str, content_hash: str, reviewers: Iterable[str]) -> None:
        """Record that `reviewers` were asked, now, to approve this content."""
        self.db.execute("INSERT INTO review_requests VALUES (?,?,?,?)",
                        (month, content_hash, ", ".join(reviewers), now_iso()))

    # source readings: what a collector may keep between runs (collectors.base.SnapshotState) -----
    def save_snapshot(self, source: str, taken_at: datetime, reading: Mapping[str, Any]) -> None:
        """Keep a reading of `source` (its JSON form) as it was at `taken_at`; the same moment replaces it."""
        with self._own_connection() as db:
            db.execute("INSERT OR REPLACE INTO source_readings (source, taken_at, reading) VALUES (?,?,?)",
                       (source, taken_at.timestamp(), json.dumps(dict(reading), sort_keys=True)))

    def snapshots(self, source: str, since: datetime, until: datetime) -> list[Snapshot]:
        """The readings of `source` taken in [since, until], oldest first."""
        with self._own_connection() as db:
            rows = db.execute(
                "SELECT taken_at, reading FROM source_readings WHERE source=? AND taken_at BETWEEN ? AND ?"
                " ORDER BY taken_at", (source, since.timestamp(), until.timestamp())).fetchall()
        return [Snapshot(datetime.fromtimestamp(r["taken_at"], UTC), json.loads(r["reading"])) for r in rows]

    @contextlib.contextmanager
    def _own_connection(self) -> Iterator[sqlite3.Connection]:
        """Collectors run in worker threads and a sqlite3 connection belongs to its thread, so source
        readings take a short connection of their own (an in-memory store is used from the calling
        thread only, and has no other connection to take)."""
        if str(self.path) == ":memory:":
            yield self.db
            return
        db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
        db.row_factory = sqlite3.Row
        try:
            yield db
        finally:
            db.close()


def _create_private(path: Path) -> None:
    """A new database file readable by this user alone (SQLite gives its -wal and -shm files the
    same mode): it holds every colleague's address and how their delivery went. An existing one
    keeps the mode it has."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _result(row: sqlite3.Row) -> SourceResult:
    return SourceResult(  # lifted: rows stored before the partial column have it in their metrics only
        name=row["source"], type=row["type"], kind=row["kind"], status=row["status"],
        error=row["error"], metrics=json.loads(row["metrics"]), partial=bool(row["partial"]),
        warnings=json.loads(row["warnings"]),
    ).lifted()
