"""The runner: offline sources run in the caller's thread, the rest in workers, results in source order."""

from __future__ import annotations

import re
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


def failing_source(workspace, httpserver, required: bool) -> None:
    """A Prometheus that refuses our token (401, never retried): the source fails at once."""
    httpserver.expect_request(re.compile("^/api/")).respond_with_json({"status": "error"}, status=401)
    workspace.write("sources/probes.toml", f"""\
        type = "prometheus"
        name = "probes"
        base_url = "{httpserver.url_for("").rstrip("/")}"
        selector = 'probe_success{{job="blackbox"}}'
        required = {str(required).lower()}
        """)


def test_collect_exits_1_when_a_required_source_failed(workspace, httpserver):
    failing_source(workspace, httpserver, required=True)
    result = workspace.invoke("collect", "--month", "2026-10")
    assert result.exit_code == 1, result.output
    assert re.search(r"^probes +failed ", result.stdout, re.M)
    assert "required source failed: probes" in result.stderr


def test_collect_warns_and_exits_0_when_only_an_optional_source_failed(workspace, httpserver):
    failing_source(workspace, httpserver, required=False)
    result = workspace.invoke("collect", "--month", "2026-10")
    assert result.exit_code == 0, result.output
    assert re.search(r"^probes +failed ", result.stdout, re.M)
    assert "warning: optional source probes failed" in result.stderr and "without it" in result.stderr
    assert re.search(r"^helpdesk +ok", result.stdout, re.M), "the other sources are collected and stored"
    json_run = workspace.invoke("collect", "--month", "2026-10", "--json")
    assert json_run.exit_code == 0 and '"status": "failed"' in json_run.stdout
