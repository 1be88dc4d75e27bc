"""The runner: offline sources run in the caller's thread, the rest in workers, results in source order."""

from __future__ import annotations

import threading
from pathlib import Path

from newsletter.collect import collect_month
from newsletter.collectors.base import Collector, NoSettings
from newsletter.config import SourceConfig
from newsletter.period import Month

MONTH = Month(2026, 10)


class Recorder(Collector):
    """Reports the thread it ran in; `fail` raises to show a failure stays in its place."""

    type = "recorder"
    kind = "custom"

    def __init__(self, name: str, *, offline: bool, fail: bool = False) -> None:
        super().__init__(NoSettings(), name=name)
        self.offline = offline
        self.fail = fail

    def collect(self, month: Month):
        if self.fail:
            raise RuntimeError("broken")
        return self.result({"values": {"thread": {"value": threading.get_ident(), "label": "Thread"}}})


def sources(*collectors: Recorder) -> list[tuple[SourceConfig, Collector]]:
    return [(SourceConfig(Path(f"{c.name}.toml"), c.name, c.type, False, True, c.settings), c) for c in collectors]


def test_offline_sources_run_in_the_callers_thread_and_results_keep_source_order():
    results = collect_month(sources(Recorder("a", offline=False), Recorder("b", offline=True),
                                    Recorder("c", offline=False, fail=True), Recorder("d", offline=True)), MONTH)
    assert [r.name for r in results] == ["a", "b", "c", "d"]
    assert [r.status for r in results] == ["ok", "ok", "failed", "ok"]
    here = threading.get_ident()
    thread = [r.metrics["values"]["thread"]["value"] if r.status == "ok" else None for r in results]
    assert thread[1] == here and thread[3] == here
    assert thread[0] != here
    assert "RuntimeError: broken" in results[2].error


def test_only_offline_sources_need_no_pool():
    results = collect_month(sources(Recorder("x", offline=True)), MONTH)
    assert [(r.name, r.status) for r in results] == [("x", "ok")]
    assert collect_month([], MONTH) == []
