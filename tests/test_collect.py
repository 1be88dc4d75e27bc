"""The runner: offline sources run one at a time in a thread of their own, the rest in workers, each
under its deadline, results in source order."""

from __future__ import annotations

import base64
import logging
import re
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import pytest

from newsletter.binding import Secret
from newsletter.collect import collect_month
from newsletter.collectors.base import Collector, NoSettings
from newsletter.config import SourceConfig
from newsletter.errors import SourceError
from newsletter.period import Month
from newsletter.results import CustomMetrics, CustomValue, MailStats, ServiceUptime, TicketStats, UptimeStats
from newsletter.store import Store
from tests.conftest import REPO
from tests.contract.helpers import leaks

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
        return CustomMetrics({"thread": CustomValue(threading.get_ident(), "Thread")})


def sources(*collectors: Collector) -> list[tuple[SourceConfig, Collector]]:
    return [(SourceConfig(Path(f"{c.name}.toml"), c.name, c.type, False, True, c.settings), c) for c in collectors]


def test_offline_sources_run_one_after_another_in_one_thread_and_results_keep_source_order():
    results = collect_month(sources(Recorder("a", offline=False), Recorder("b", offline=True),
                                    Recorder("c", offline=False, fail=True), Recorder("d", offline=True)), MONTH)
    assert [r.name for r in results] == ["a", "b", "c", "d"]
    assert [r.status for r in results] == ["ok", "ok", "failed", "ok"]
    here = threading.get_ident()
    thread = [r.metrics["values"]["thread"]["value"] if r.status == "ok" else None for r in results]
    assert thread[1] == thread[3] != here  # one thread of their own: no GIL hand-offs between them
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


@dataclass(frozen=True)
class TokenSettings:
    token: Secret


class Quoting(Collector):
    """A collector whose own error quotes its secret in a wire form the runner must still catch."""

    type = "quoting"
    kind = "custom"

    def __init__(self, form: str) -> None:
        super().__init__(TokenSettings(Secret(env="QUOTING_TOKEN")), name="quoting")
        self.form = form

    def collect(self, month: Month):
        secret = self.settings.token.reveal()
        said = {"raw": f"Bearer {secret}", "url": quote(f"key={secret}/x", safe=""),
                "basic": "Basic " + base64.b64encode(f"someone@corp.example:{secret}".encode()).decode(),
                "json": f"key=\\/{secret}".replace("/", "\\/")}[self.form]
        raise SourceError(f"the vendor said: {said} (and again: {said})")


@pytest.mark.parametrize("form", ["raw", "url", "basic", "json"])
def test_the_runner_masks_a_secret_in_every_wire_form(monkeypatch, form):
    secret = "Qu0ting/secret+value=42"
    monkeypatch.setenv("QUOTING_TOKEN", secret)
    [result] = collect_month(sources(Quoting(form)), MONTH)
    assert result.status == "failed" and result.error.startswith("the vendor said: ")
    assert leaks(result.error, secret) == [] and "***" in result.error


class Unforeseen(Quoting):
    """A collector whose library fails with something other than SourceError, its credential in the text."""

    def collect(self, month: Month):
        try:
            super().collect(month)
        except SourceError as exc:
            raise RuntimeError(str(exc)) from exc


@pytest.mark.parametrize("form", ["raw", "url", "basic", "json"])
def test_the_traceback_of_an_unforeseen_failure_logged_with_vv_masks_the_secret(monkeypatch, caplog, form):
    secret = "Qu0ting/secret+value=42"
    monkeypatch.setenv("QUOTING_TOKEN", secret)
    caplog.set_level(logging.DEBUG, logger="newsletter")
    [result] = collect_month(sources(Unforeseen(form)), MONTH)
    assert result.status == "failed" and "RuntimeError" in caplog.text and "Traceback" in caplog.text
    assert leaks(caplog.text, secret) == [] and "***" in caplog.text


class Stuck(Collector):
    """Waits far longer than its deadline, as a thread stuck in a read would."""

    type = "stuck"
    kind = "custom"

    def __init__(self, name: str = "stuck", seconds: float = 30.0) -> None:
        super().__init__(NoSettings(), name=name)
        self.seconds = seconds

    def collect(self, month: Month):
        time.sleep(self.seconds)
        return CustomMetrics()


def test_a_source_past_its_deadline_fails_and_the_others_carry_on():
    stuck, quick = sources(Stuck(), Recorder("quick", offline=False))
    stuck = (replace(stuck[0], deadline_s=0.3), stuck[1])
    started = time.monotonic()
    results = collect_month([stuck, quick], MONTH)
    assert time.monotonic() - started < 2
    assert [(r.name, r.status) for r in results] == [("stuck", "failed"), ("quick", "ok")]
    assert "stuck" in results[0].error and "deadline_s = 0.3 s" in results[0].error
    assert "stuck.toml" in results[0].error


def test_an_offline_source_past_its_deadline_fails_and_the_others_carry_on():
    # a plugin that says it is offline but waits on the network, or a file on a stuck mount
    stuck = Stuck("stuck", 30)
    stuck.offline = True
    (source, _), quick, local = sources(stuck, Recorder("quick", offline=False), Recorder("local", offline=True))
    started = time.monotonic()
    results = collect_month([(replace(source, deadline_s=0.3), stuck), quick, local], MONTH)
    assert time.monotonic() - started < 2
    assert [(r.name, r.status) for r in results] == [("stuck", "failed"), ("quick", "ok"), ("local", "ok")]
    assert "deadline_s = 0.3 s" in results[0].error and "stuck.toml" in results[0].error


def test_more_sources_than_workers_each_get_their_own_deadline():
    many = [(replace(s, deadline_s=1.0), c) for s, c in sources(*(Stuck(f"s{i}", 0.2) for i in range(12)))]
    started = time.monotonic()
    results = collect_month(many, MONTH)
    assert [r.status for r in results] == ["ok"] * 12  # the last four waited for a worker, then had 1 s
    assert time.monotonic() - started < 2


def test_the_process_ends_promptly_though_a_source_is_still_stuck():
    script = textwrap.dedent("""
        from dataclasses import replace
        from tests.test_collect import MONTH, Stuck, sources
        from newsletter.collect import collect_month
        [(source, collector)] = sources(Stuck(seconds=60))
        [result] = collect_month([(replace(source, deadline_s=0.5), collector)], MONTH)
        print(result.status)
        """)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "failed", done.stderr
    assert time.monotonic() - started < 10


class Returns(Collector):
    """A plugin that returns whatever it was given: a result of the right type with a wrong figure."""

    type = "returns"
    kind = "ticketing"

    def __init__(self, stats: object, kind: str = "ticketing") -> None:
        super().__init__(NoSettings(), name="returns")
        self.stats, self.kind = stats, kind

    def collect(self, month: Month):
        return self.stats


@pytest.mark.parametrize(("stats", "kind", "problem"), [
    (TicketStats(opened=-5, resolved=3), "ticketing", "opened: -5 is negative"),
    (TicketStats(opened=5, resolution_median_s=-100.0), "ticketing", "resolution_median_s: -100.0 is negative"),
    (TicketStats(opened=5, sla_met_pct=250.0), "ticketing", "sla_met_pct: 250.0 is above 100"),
    (TicketStats(opened=10**30), "ticketing", "opened: 1000000000000000000000000000000 is too large"),
    (TicketStats(opened=5, top_categories=(("Email", -2),)), "ticketing", "top_categories[0]"),
    (UptimeStats(services=(ServiceUptime("Mail", 1e300, 0, 0, 0),)), "uptime",
     "services[0].uptime_pct: 1e+300 is too large"),
    (MailStats(scanned=10, spam=-1), "mail_security", "spam: -1 is negative"),
    (CustomMetrics({"x": CustomValue(1e300, "Things")}), "custom", "values.x.value: 1e+300 is too large"),
])
def test_a_negative_impossible_or_huge_figure_fails_the_source_instead_of_reaching_the_edition(stats, kind, problem):
    [result] = collect_month(sources(Returns(stats, kind)), MONTH)
    assert result.status == "failed", result
    assert problem in result.error and "the collector needs fixing" in result.error


class OddTickets(TicketStats):
    """A plugin's result subclass whose JSON form holds what JSON cannot."""

    def __init__(self, odd: object) -> None:
        super().__init__(opened=5)
        object.__setattr__(self, "odd", odd)

    def metrics(self):
        return self.odd


@pytest.mark.parametrize(("odd", "problem"), [
    ({**TicketStats(opened=5).metrics(), "since": datetime(2026, 10, 1)}, "metrics()['since']: datetime"),
    ({**TicketStats(opened=5).metrics(), "seen": {1, 2}}, "metrics()['seen']: set"),
    ({**TicketStats(opened=5).metrics(), "ratio": float("nan")}, "metrics()['ratio']: nan"),
    ({**TicketStats(opened=5).metrics(), 7: "seven"}, "metrics(): the key 7"),
    ([["opened", 5]], "metrics(): list instead of a dict"),
])
def test_a_result_whose_metrics_are_not_json_fails_its_source_naming_the_plugin(odd, problem):
    [result] = collect_month(sources(Returns(OddTickets(odd))), MONTH)
    assert result.status == "failed", result
    assert "collector 'returns'" in result.error and "the collector needs fixing" in result.error
    assert problem in result.error, result.error
    store = Store.memory()
    store.save_results("2026-10", [result])
    assert store.results("2026-10")[0].status == "failed"


def test_a_custom_figure_may_be_below_zero():
    [result] = collect_month(sources(Returns(CustomMetrics({"x": CustomValue(-3.5, "Budget change")}), "custom")),
                             MONTH)
    assert result.status == "ok" and result.metrics["values"]["x"]["value"] == -3.5


class StuckReading(Collector):
    """A plugin whose daily reading waits forever in a socket read of its own (no HTTP layer to bound it)."""

    type = "stuck_reading"
    kind = "custom"
    needs_snapshots = True

    def take_snapshot(self):
        import socket

        here, _there = socket.socketpair()
        here.recv(1)  # nothing ever comes
        return {}


def test_a_daily_reading_stuck_in_a_read_fails_at_its_deadline_and_the_run_goes_on(workspace):
    from tests.test_draft_whole import with_plugins

    workspace.write("sources/stuck.toml", 'type = "stuck_reading"\nname = "stuck"\ndeadline_s = 0.5\n')
    started = time.monotonic()
    result = workspace.invoke("snapshot", registry=with_plugins(StuckReading))
    assert time.monotonic() - started < 10
    assert result.exit_code == 1, result.output
    assert "no snapshot stored today for stuck" in result.stderr and "deadline_s = 0.5 s" in result.stdout


class BuggyReading(StuckReading):
    """A plugin whose daily reading fails with a bug of its own, a ValueError that has nothing to do with JSON."""

    type = "buggy_reading"

    def take_snapshot(self):
        return {"level": int("n/a")}


def test_a_daily_reading_that_fails_with_a_bug_names_the_plugin_and_is_not_called_not_json(workspace):
    from tests.test_draft_whole import with_plugins

    workspace.write("sources/buggy.toml", 'type = "buggy_reading"\nname = "buggy"\n')
    result = workspace.invoke("snapshot", registry=with_plugins(BuggyReading))
    assert result.exit_code == 1, result.output
    [line] = [line for line in result.stdout.splitlines() if "buggy" in line]
    assert "not JSON" not in line
    assert "collector 'buggy_reading' (tests.test_collect.BuggyReading) failed: unexpected ValueError: " in line


def test_a_plugins_quotes_are_scrubbed_and_bounded_as_the_help_desks_are():
    # the picked quotes go into the highlights file: no colleague's address or phone, no megabyte of comment
    from newsletter.collectors.quotes import MAX_QUOTES
    from newsletter.results import Quote

    quotes = (Quote("Great help, thanks! Write me at anna.berg@example.com or call +49 30 1234 5678", "2026-10-02"),
              Quote("x" * 2**20, "2026-10-03"), Quote("Fine", "y" * 2**20), Quote("Good", "ann@example.com"),
              Quote("Quick", "2026-10-02 16:40:00"),
              *(Quote(f"Thanks {n}", "2026-10-04") for n in range(MAX_QUOTES + 5)))
    [result] = collect_month(sources(Returns(TicketStats(opened=5, quotes=quotes))), MONTH)
    assert result.status == "ok", result
    kept = result.metrics["quotes"]
    assert kept[0] == {"text": "Great help, thanks! Write me at … or call …", "rated_at": "2026-10-02"}
    assert all(len(q["text"]) <= 600 and len(q["rated_at"]) <= 40 for q in kept)
    assert kept[1:4] == [{"text": "Fine", "rated_at": ""}, {"text": "Good", "rated_at": ""},
                         {"text": "Quick", "rated_at": "2026-10-02 16:40:00"}]
    assert len(kept) == MAX_QUOTES
