"""The store on disk: processes that open a new state directory at the same moment, and one nobody can write."""

from __future__ import annotations

import json
import multiprocessing
import os
import pwd
import sqlite3
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newsletter.collectors.base import SnapshotState
from newsletter.errors import ConfigError
from newsletter.state_dir import check_state_dir
from newsletter.store import SCHEMA, Store
from tests.fixtures.workspace import BASE_CONFIG


def _open(folder: str, barrier) -> None:
    barrier.wait()
    Store.open(Path(folder)).close()


def test_runs_opening_a_new_state_directory_together_all_succeed(tmp_path):
    # cron and a person, or two timers, can start on an empty state directory at once: creating the
    # tables and switching to WAL must happen once, and the others wait instead of failing.
    context = multiprocessing.get_context("spawn")
    for round_ in range(8):
        folder = tmp_path / f"state{round_}"
        barrier = context.Barrier(4)
        processes = [context.Process(target=_open, args=(str(folder), barrier)) for _ in range(4)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
        assert [p.exitcode for p in processes] == [0, 0, 0, 0]
        with Store.open(folder) as store:
            assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(SCHEMA)
            assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_state_directory_from_before_partial_results_reads_them_lifted(tmp_path):
    """Rows stored before the `partial` column kept `partial` and `warnings` in their metrics."""
    import json
    import sqlite3

    db = sqlite3.connect(str(tmp_path / "newsletter.db"), isolation_level=None)
    for number, script in enumerate(SCHEMA[:4], start=1):
        for statement in script.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {number}")
    metrics = {"scanned": 9, "spam": 1, "partial": True, "warnings": ["Google has not published 2026-10-31 yet"]}
    db.execute("INSERT INTO snapshots VALUES ('2026-10','gmail','google_workspace','mail_security','ok',NULL,?,"
               "'2026-11-01T00:00:00+00:00')", (json.dumps(metrics),))
    db.close()
    with Store.open(tmp_path) as store:
        (result,) = store.results("2026-10")
    assert result.partial is True and result.warnings == ["Google has not published 2026-10-31 yet"]
    assert result.metrics == metrics
def unusable_state_dirs(tmp_path: Path) -> list[Path]:
    """State directories nobody can create or write, root included (chmod does not stop root)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    places = [blocker / "state", blocker, Path("/proc/newsletter-state"), Path("/proc")]
    if os.geteuid() != 0:  # only then does a folder without write permission stop anyone
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        places += [locked, locked / "state"]
    return places


def test_a_state_dir_that_cannot_be_created_or_written_is_one_line_naming_it_and_the_user(tmp_path):
    user = pwd.getpwuid(os.geteuid()).pw_name
    for state_dir in unusable_state_dirs(tmp_path):
        with pytest.raises(ConfigError) as caught:
            Store.open(state_dir)
        message = str(caught.value)
        assert message.startswith(f"{state_dir}: ") and f"user {user}" in message, message
        assert "\n" not in message and "state_dir" in message
        with pytest.raises(ConfigError) as probed:  # what `check` asks, without creating anything
            check_state_dir(state_dir)
        assert str(probed.value).startswith(f"{state_dir}: ") and f"user {user}" in str(probed.value)
    assert (tmp_path / "a-file").read_text() == "not a folder"


def test_checking_a_state_dir_creates_nothing_and_leaves_nothing(tmp_path):
    check_state_dir(tmp_path / "new" / "state")
    assert list(tmp_path.iterdir()) == [], "the probe cleans up after itself"
    (tmp_path / "state").mkdir()
    check_state_dir(tmp_path / "state")
    assert list((tmp_path / "state").iterdir()) == []


def test_approvals_are_kept_per_month_and_content_and_the_latest_is_found(tmp_path):
    # approval.py holds the rules; the rows and their SQL are the store's
    from newsletter.store import Approval

    with Store.open(tmp_path) as store:
        assert store.approval("2026-10", "aaa") is None and store.latest_approval("2026-10") is None
        first = Approval("2026-10", "aaa", "Alice", "2026-11-02T08:00:00+00:00")
        second = Approval("2026-10", "bbb", "Bob", "2026-11-02T08:00:00+00:00")  # same second: the later row
        for approval in (first, second, Approval("2026-09", "ccc", "Carol", "2026-11-03T08:00:00+00:00")):
            store.save_approval(approval)
        assert store.approval("2026-10", "aaa") == first and store.approval("2026-10", "ccc") is None
        assert store.latest_approval("2026-10") == second


def test_reviewers_are_recorded_as_asked_once_per_content(tmp_path):
    with Store.open(tmp_path) as store:
        assert store.review_requested_at("2026-10", "aaa") is None
        store.save_review_request("2026-10", "aaa", ["boss@example.com", "cto@example.com"])
        asked = store.review_requested_at("2026-10", "aaa")
        assert asked is not None and asked.startswith("20") and store.review_requested_at("2026-10", "bbb") is None
        row = store.db.execute("SELECT reviewers FROM review_requests").fetchone()
        assert row["reviewers"] == "boss@example.com, cto@example.com"


def test_the_ledger_says_per_state_how_many_and_since_when(tmp_path):
    with Store.open(tmp_path) as store:
        assert store.delivery_reach("2026-10") == {}
        store.queue("2026-10", ["a@example.com", "b@example.com", "c@example.com"])
        store.mark("2026-10", "a@example.com", "sending")
        store.mark("2026-10", "a@example.com", "sent")
        reach = store.delivery_reach("2026-10")
        assert set(reach) == {"sent", "queued"} and reach["queued"][0] == 2 and reach["sent"][0] == 1
        first_attempt = store.deliveries("2026-10", ["sent"])[0].first_attempt_at
        assert reach["sent"][1] == first_attempt  # queued rows, never tried: since their last update


def test_the_store_keeps_counter_snapshots_per_source_and_from_worker_threads(tmp_path):
    """What a collector may keep between runs (collectors.base.SnapshotState), in the store's own table:
    per source, by moment (a second snapshot at the same moment replaces the first), oldest first."""
    start = datetime(2026, 10, 1, tzinfo=UTC)
    with Store(tmp_path / "newsletter.db") as store:
        state: SnapshotState = store

        def keep(source: str, hours: int, scanned: int) -> None:
            state.save_snapshot(source, start + timedelta(hours=hours), {"scanned": scanned})

        workers = [threading.Thread(target=keep, args=("mail-filter", hours, 100 * hours)) for hours in (48, 0, 24)]
        for worker in workers:  # collectors run in worker threads; the store's connection is not theirs
            worker.start()
        for worker in workers:
            worker.join()
        keep("mail-filter", 24, 2500)
        keep("other-filter", 24, 7)
        assert state.snapshots("mail-filter", start, start + timedelta(hours=48)) == [
            (start, {"scanned": 0}), (start + timedelta(hours=24), {"scanned": 2500}),
            (start + timedelta(hours=48), {"scanned": 4800})]
        assert state.snapshots("mail-filter", start + timedelta(hours=1), start + timedelta(hours=24)) == [
            (start + timedelta(hours=24), {"scanned": 2500})]
        assert state.snapshots("nobody", start, start + timedelta(days=9)) == []
    with Store.memory() as memory:  # a demo preview's store: used from the calling thread only
        memory.save_snapshot("mail-filter", start, {"scanned": 1})
        assert memory.snapshots("mail-filter", start, start) == [(start, {"scanned": 1})]


def test_counter_snapshots_stored_before_daily_readings_are_read_back_after_the_upgrade(tmp_path):
    """rspamd's counters, kept in the old `counter_snapshots` table, become readings of the general
    snapshot table (`source_readings`) when a newer newsletter opens the database: none is lost."""
    path = tmp_path / "newsletter.db"
    taken_at = datetime(2026, 10, 1, tzinfo=UTC)
    old = sqlite3.connect(path)
    for number, script in enumerate(SCHEMA[:5], start=1):  # the schema as it was before daily readings
        old.executescript(script)
        old.execute(f"PRAGMA user_version = {number}")
    old.execute("INSERT INTO counter_snapshots VALUES (?,?,?)", ("mail-filter", taken_at.timestamp(),
                                                                 json.dumps({"scanned": 1200})))
    old.commit()
    old.close()
    with Store(path) as store:
        assert store.snapshots("mail-filter", taken_at, taken_at) == [(taken_at, {"scanned": 1200})]
        snapshot = store.snapshots("mail-filter", taken_at, taken_at)[0]
        assert snapshot.taken_at == taken_at and snapshot.reading == {"scanned": 1200}
        store.save_snapshot("uptime", taken_at, {"monitors": [{"name": "Email", "ratio_1d": 0.999, "status": 1}]})
        assert store.snapshots("uptime", taken_at, taken_at)[0].reading["monitors"][0]["name"] == "Email"
        tables = {row[0] for row in store.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "source_readings" in tables and "counter_snapshots" not in tables


def test_the_state_it_creates_is_readable_by_its_user_alone(tmp_path):
    # the database holds every colleague's address and how their delivery went: not for other users
    old = os.umask(0o022)  # cron's usual umask
    modes = {}
    try:
        (tmp_path / "systemd").mkdir(mode=0o755)  # StateDirectory= makes it 0755 by default
        for folder in ("state", "systemd"):
            with Store.open(tmp_path / folder) as store:
                store.save_edition("2026-10", "draft")
                modes[folder] = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / folder).iterdir()}
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    for folder in ("state", "systemd"):
        assert modes[folder] == {"newsletter.db": 0o600, "newsletter.db-wal": 0o600, "newsletter.db-shm": 0o600}


def test_a_state_dir_inside_a_folder_this_user_cannot_enter_is_one_line_naming_it(tmp_path):
    # an admin runs `check` or `preview` as themselves on the config of the service's user
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o000)
    state_dir = locked / "state"
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the modules are loaded; the child gives up root, since root enters any folder
        outcomes = []
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            for step in (check_state_dir, Store.open):
                try:
                    step(state_dir)
                    outcomes.append("no error")
                except BaseException as exc:  # whatever it is, the parent reports it
                    outcomes.append(f"{type(exc).__name__}: {exc}")
        finally:
            os.write(write, "\n".join(outcomes).encode())
            os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    outcomes = os.read(read, 10_000).decode().split("\n")
    locked.chmod(0o700)
    assert len(outcomes) == 2
    for outcome in outcomes:  # `check`'s question, then a run's
        assert outcome.startswith(f"ConfigError: {state_dir}: user "), outcome
        assert "Permission denied" in outcome and "state_dir" in outcome


def test_the_outbox_and_the_delivery_record_are_for_its_user_alone_the_site_for_everyone(workspace, tmp_path):
    # under systemd's StateDirectory= (0755) the outbox holds each colleague's personal email,
    # delivery.json the addresses skipped as invalid and edition.json the comments colleagues wrote in
    # tickets (quote candidates nobody picked): not for other users; the published site is for all
    old = os.umask(0o022)
    try:
        workspace.state.mkdir(mode=0o755)
        left = workspace.state / "archive" / "2026-10" / "delivery.json.tmp"  # by a run that crashed
        left.parent.mkdir(parents=True)
        left.write_text("{}")
        workspace.write("people.csv", "email\nann@example.com\nnot-an-address\n")
        workspace.configure(BASE_CONFIG.replace('to = ["all@example.com"]', 'recipients = "people.csv"\nto = []'),
                            base="")
        assert workspace.invoke("run", "--month", "2026-10").exit_code == 0
        assert workspace.invoke("publish", str(tmp_path / "site")).exit_code == 0
    finally:
        os.umask(old)

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    batch = next((workspace.state / "outbox").iterdir())
    assert mode(batch) == 0o700
    assert {mode(p) for p in batch.iterdir()} == {0o600}
    archive = workspace.state / "archive" / "2026-10"
    assert "not-an-address" in (archive / "delivery.json").read_text()
    assert mode(archive / "delivery.json") == mode(archive / "edition.json") == 0o600  # and the sources' quotes
    assert mode(archive / "web.html") == 0o644  # what `publish` shows is meant for everyone
    site = tmp_path / "site" / "2026-10"
    assert mode(site / "index.html") == 0o644
    assert {mode(p) for p in (site / "images").iterdir()} | {mode(site / "images")} <= {0o644, 0o755}


def test_a_write_that_fails_halfway_leaves_the_store_usable(tmp_path):
    # the live preview keeps one store open for hours: a write that fails (a value JSON cannot hold,
    # a full disk) must not leave a transaction open that every later write then fails on
    from newsletter.model import SourceResult

    good = SourceResult.ok("tickets", "demo_ticketing", "ticketing", {"opened": 3})
    bad = SourceResult.ok("mail", "demo_mail_security", "mail_security", {"when": object()})
    with Store.open(tmp_path / "state") as store:
        with pytest.raises(TypeError):
            store.save_results("2026-10", [good, bad])
        assert not store.db.in_transaction and not store.has_results("2026-10")  # all or nothing
        store.save_results("2026-10", [good])
        store.queue("2026-10", ["ann@example.com"])
        assert [r.name for r in store.results("2026-10")] == ["tickets"]
