"""SQLite state of a workspace: collected snapshots, editions and the delivery ledger.

Every write commits at once (autocommit; `synchronous=FULL`), because the ledger's promise,
"`sending` is on disk before the message data leaves", depends on it.
"""

from __future__ import annotations

import json
import os
import pwd
import sqlite3
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from newsletter.errors import ConfigError
from newsletter.model import SourceResult

DB_NAME = "newsletter.db"
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
    # Cumulative counters of sources such as rspamd, one row per collection (collectors/rspamd.py).
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
]
# `accepted`: taken by an API (Microsoft Graph's 202) that does not say whether it was delivered;
# `left`: no longer among the recipients (the directory group, the file, the lists) before anything went out
LEDGER_STATES = ("queued", "sending", "sent", "accepted", "temp_failed", "perm_failed", "unknown", "left")
DONE_STATES = ("sent", "accepted")


def current_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def unusable(path: Path, what: str) -> ConfigError:
    """The one-line error for a state directory (or a file in it) that this user cannot use."""
    user = current_user()
    return ConfigError(f"{path}: user {user} cannot {what}; make it a folder {user} can write (systemd: "
                       "StateDirectory=), or set newsletter.state_dir (--state-dir, $NEWSLETTER_STATE_DIR) elsewhere")


def prepare_state_dir(state_dir: Path) -> None:
    """Create `state_dir` when missing and prove that this user can write in it."""
    _refuse_a_file_in_the_way(state_dir)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise unusable(state_dir, f"create the state directory ({exc.strerror or exc})") from None
    _probe(state_dir, state_dir)


def check_state_dir(state_dir: Path) -> None:
    """What `check` asks: could a run create and write `state_dir`? It leaves nothing behind."""
    existing = _refuse_a_file_in_the_way(state_dir)
    if existing != state_dir:  # a run would create it: prove that it could, in the part that exists
        _probe(state_dir, existing, folder=True)
        return
    _probe(state_dir, state_dir)
    database = state_dir / DB_NAME
    if database.exists() and not os.access(database, os.R_OK | os.W_OK):
        raise unusable(database, "write the state database (permission denied)")


def _refuse_a_file_in_the_way(state_dir: Path) -> Path:
    """The nearest part of `state_dir` that exists; it must be a folder."""
    existing = next(p for p in (state_dir, *state_dir.parents) if p.exists())
    if not existing.is_dir():
        what = "use it as the state directory: it is a file" if existing == state_dir else \
            f"create the state directory: {existing} is a file"
        raise unusable(state_dir, what)
    return existing


def _probe(state_dir: Path, where: Path, *, folder: bool = False) -> None:
    """Make and remove a file (or a folder) in `where`. Permission bits do not stop root, a
    read-only or special file system does: only trying tells."""
    try:
        if folder:
            os.rmdir(tempfile.mkdtemp(dir=where, prefix=".newsletter-probe-"))
        else:
            handle, name = tempfile.mkstemp(dir=where, prefix=".newsletter-probe-")
            os.close(handle)
            os.unlink(name)
    except OSError as exc:
        what = "create the state directory" if folder else "write in the state directory"
        raise unusable(state_dir, f"{what} ({exc.strerror or exc})") from None


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


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


class Store:
    def __init__(self, path: Path | str) -> None:
        self.path = path
        # the delivery loop hands single writes to one helper thread, never two at once
        self.db = sqlite3.connect(str(path), isolation_level=None, timeout=30, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        if str(path) != ":memory:":
            self._use_wal()
        self.sync = "FULL"
        self.db.execute("PRAGMA synchronous=FULL")
        self._migrate()

    @classmethod
    def open(cls, state_dir: Path) -> Store:
        """The state directory's database, the directory made when missing. A directory or database
        this user cannot write is a ConfigError naming both, not a traceback halfway into a run."""
        prepare_state_dir(state_dir)
        try:
            return cls(state_dir / DB_NAME)
        except sqlite3.OperationalError as exc:
            if "readonly" not in str(exc) and "unable to open" not in str(exc):
                raise
            raise unusable(state_dir / DB_NAME, f"write the state database ({exc})") from None

    @classmethod
    def memory(cls) -> Store:
        """A throwaway store: previews of the demo write nothing to disk."""
        return cls(":memory:")

    def counters(self, source: str) -> CounterSnapshots:
        """The cumulative-counter snapshots of `source` (see CounterSnapshots)."""
        return CounterSnapshots(self, source)

    def close(self) -> None:
        self.db.close()

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
            self.db.execute("ROLLBACK")
            raise

    def set_durability(self, full: bool) -> None:
        """FULL: every commit is on disk before it returns. NORMAL (WAL): it survives a crash of this
        process, not a power cut. The ledger's promise against power cuts needs FULL."""
        self.sync = "FULL" if full else "NORMAL"
        self.db.execute(f"PRAGMA synchronous={self.sync}")

    # snapshots ---------------------------------------------------------------------------------
    def save_results(self, month: str, results: Iterable[SourceResult]) -> None:
        """Store results; a failed result never overwrites an earlier good one for the same month."""
        stamp = now_iso()
        self.db.execute("BEGIN IMMEDIATE")
        for r in results:
            if r.status == "failed":
                old = self.db.execute(
                    "SELECT status FROM snapshots WHERE month=? AND source=?", (month, r.name)
                ).fetchone()
                if old is not None and old["status"] == "ok":
                    continue
            self.db.execute(
                "INSERT OR REPLACE INTO snapshots (month, source, type, kind, status, error, metrics, collected_at,"
                " partial, warnings) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (month, r.name, r.type, r.kind, r.status, r.error, json.dumps(r.metrics), stamp, int(r.partial),
                 json.dumps(r.warnings)),
            )
        self.db.execute("COMMIT")

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

    # the delivery ledger -------------------------------------------------------------------------
    def queue(self, month: str, recipients: Iterable[str]) -> None:
        """Add recipients as `queued`; rows that exist keep their state (a re-run never resets them)."""
        stamp = now_iso()
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany(
            "INSERT OR IGNORE INTO deliveries (month, recipient, status, attempts, updated_at)"
            " VALUES (?,?,'queued',0,?)",
            [(month, r, stamp) for r in recipients],
        )
        self.db.execute("COMMIT")

    def mark(self, month: str, recipient: str, status: str, *, error: str | None = None,
             message_id: str | None = None, detail: str | None = None, attempted: bool = False,
             durable: bool = True) -> None:
        """Record a state. An attempt counts at `sending`, or at a refusal before the data (`attempted`).

        `durable=False` (a `sent` after the server's answer) skips the disk flush: the next durable
        write (the next `sending`) flushes it. A power cut in between leaves the row `sending`, read
        as unknown: never a second copy.
        """
        assert status in LEDGER_STATES, status
        stamp = now_iso()
        if not durable:
            self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            """UPDATE deliveries SET
                 attempts=attempts + (CASE WHEN ? OR (? AND status != 'sending') THEN 1 ELSE 0 END),
                 status=?, last_error=?, message_id=COALESCE(?, message_id), detail=COALESCE(?, detail),
                 updated_at=?, first_attempt_at=CASE WHEN ? THEN COALESCE(first_attempt_at, ?)
                                                ELSE first_attempt_at END
               WHERE month=? AND recipient=?""",
            (status == "sending", attempted, status, error, message_id, detail, stamp,
             status == "sending" or attempted, stamp, month, recipient),
        )
        if not durable:
            self.db.execute(f"PRAGMA synchronous={self.sync}")

    def deliveries(self, month: str, statuses: Iterable[str] | None = None) -> list[Delivery]:
        rows = self.db.execute("SELECT * FROM deliveries WHERE month=? ORDER BY rowid", (month,))
        wanted = set(statuses) if statuses is not None else None
        return [Delivery(**dict(r)) for r in rows if wanted is None or r["status"] in wanted]

    def delivery_counts(self, month: str) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT status, COUNT(*) AS n FROM deliveries WHERE month=? GROUP BY status", (month,)
        )
        return {r["status"]: r["n"] for r in rows}


class CounterSnapshots:
    """Cumulative counters of one source (rspamd's), saved at every collection.

    Collectors run in worker threads and a sqlite3 connection belongs to its thread, so this opens
    its own short connection per call (an in-memory store is used from the calling thread only).
    """

    def __init__(self, store: Store, source: str) -> None:
        self.store = store
        self.source = source

    def _db(self) -> sqlite3.Connection:
        if str(self.store.path) == ":memory:":
            return self.store.db
        db = sqlite3.connect(str(self.store.path), isolation_level=None, timeout=30)
        db.row_factory = sqlite3.Row
        return db

    def save(self, taken_at: datetime, counters: dict[str, int]) -> None:
        db = self._db()
        try:
            db.execute("INSERT OR REPLACE INTO counter_snapshots VALUES (?,?,?)",
                       (self.source, taken_at.timestamp(), json.dumps(counters, sort_keys=True)))
        finally:
            if db is not self.store.db:
                db.close()

    def between(self, start: datetime, end: datetime) -> list[tuple[datetime, dict[str, int]]]:
        """Snapshots taken in [start, end], oldest first."""
        db = self._db()
        try:
            rows = db.execute(
                "SELECT taken_at, counters FROM counter_snapshots WHERE source=? AND taken_at BETWEEN ? AND ?"
                " ORDER BY taken_at", (self.source, start.timestamp(), end.timestamp())).fetchall()
        finally:
            if db is not self.store.db:
                db.close()
        return [(datetime.fromtimestamp(r["taken_at"], UTC), json.loads(r["counters"])) for r in rows]


def _result(row: sqlite3.Row) -> SourceResult:
    return SourceResult(  # lifted: rows stored before the partial column have it in their metrics only
        name=row["source"], type=row["type"], kind=row["kind"], status=row["status"],
        error=row["error"], metrics=json.loads(row["metrics"]), partial=bool(row["partial"]),
        warnings=json.loads(row["warnings"]),
    ).lifted()
