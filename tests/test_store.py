"""The store on disk: processes that open a new state directory at the same moment."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from newsletter.store import SCHEMA, Store


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
    assert result.metrics == {"scanned": 9, "spam": 1}
