"""Uptime Kuma's /metrics (Prometheus text, HTTP Basic with the API key as password): daily readings
of monitor_status and monitor_uptime_ratio{window="1d"}, and a month built from them in the
workspace's zone, against a loopback server and a real store."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug import Request, Response

from newsletter.binding import Where, bind
from newsletter.collectors.uptime_kuma import UptimeKuma, parse_metrics
from newsletter.errors import SourceError
from newsletter.http import make_session
from newsletter.store import Store
from tests.contract.conftest import BERLIN, OCTOBER
from tests.contract.helpers import FAST, FAULTS, SECRET, Faults, check_fault, leaks, run

KEY_ENV = "UPTIME_KUMA_API_KEY"
BASIC = "Basic " + base64.b64encode(f":{SECRET}".encode()).decode()  # no user name, the key as password


def series(monitor_id, name, url, *, status=1, ratio=0.999, tags=""):
    """One monitor's lines as Uptime Kuma 2.0's prometheus.js writes them (a gauge per metric; the
    ratio and the average response time per window; the tag labels first)."""
    labels = (f'{tags}monitor_id="{monitor_id}",monitor_name="{name}",monitor_type="http",'
              f'monitor_url="{url}",monitor_hostname="null",monitor_port="null"')
    lines = [f"monitor_status{{{labels}}} {status}", f"monitor_response_time{{{labels}}} 182"]
    if ratio is not None:
        for window, value in (("1d", ratio), ("30d", 0.9991), ("365d", 0.9987)):
            lines.append(f'monitor_uptime_ratio{{{labels},window="{window}"}} {value}')
            lines.append(f'monitor_response_time_seconds{{{labels},window="{window}"}} 0.18')
    return lines


def exposition(*monitors) -> str:
    head = [
        "# HELP process_cpu_user_seconds_total Total user CPU time spent in seconds.",
        "# TYPE process_cpu_user_seconds_total counter",
        "process_cpu_user_seconds_total 12.5",
        "# HELP monitor_cert_days_remaining The number of days remaining until the certificate expires",
        "# TYPE monitor_cert_days_remaining gauge",
        "# HELP monitor_uptime_ratio Uptime ratio calculated over sliding window specified by the 'window' label. "
        "(0.0 - 1.0)",
        "# TYPE monitor_uptime_ratio gauge",
        "# HELP monitor_response_time_seconds Average response time in seconds calculated over sliding window",
        "# TYPE monitor_response_time_seconds gauge",
        "# HELP monitor_response_time Monitor Response Time (ms)",
        "# TYPE monitor_response_time gauge",
        "# HELP monitor_status Monitor Status (1 = UP, 0= DOWN, 2= PENDING, 3= MAINTENANCE)",
        "# TYPE monitor_status gauge",
    ]
    # prom-client groups lines by metric: keep each metric's lines together, as it does
    lines = [line for monitor in monitors for line in monitor]
    by_metric = sorted(lines, key=lambda line: ["monitor_uptime_ratio", "monitor_response_time_seconds",
                                                "monitor_response_time", "monitor_status"].index(line.split("{")[0]))
    return "\n".join(head + by_metric) + "\n"


GOOD = exposition(series(1, "mail.example.com", "https://mail.example.com/", ratio=0.9993, tags='Prod="Prod",'),
                  series(2, "VPN", "https://admin:hunter2@vpn.example.com/?k=v", ratio=1),
                  series(3, "Staging web", "https://staging.example.com", ratio=0.5))


def metrics(body: str = GOOD, seen: list | None = None):
    def handle(request: Request) -> Response:
        if request.headers.get("Authorization") != BASIC:
            return Response("Unauthorized", status=401)
        if seen is not None:
            seen.append(request)
        return Response(body, content_type="text/plain; version=0.0.4; charset=utf-8")
    return handle


def build(httpserver, monkeypatch, tmp_path, *, state, clock, session=None, **keys):
    monkeypatch.setenv(KEY_ENV, SECRET)
    table = {"base_url": httpserver.url_for("/"), "api_key_env": KEY_ENV, "exclude": ["Staging *"],
             "rename": {"mail.example.com": "Email"}, **keys}
    settings = bind(UptimeKuma.Settings, table, Where(tmp_path / "status.toml"))
    collector = UptimeKuma(settings, name="status", session=session or make_session(FAST), clock=clock, state=state)
    collector.validate()
    return collector


def at(day: int, hour: int = 6, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=BERLIN)


def test_a_snapshot_reads_every_monitor_with_basic_auth_and_keeps_no_credential(httpserver, monkeypatch, tmp_path):
    seen: list = []
    httpserver.expect_request("/metrics").respond_with_handler(metrics(seen=seen))
    collector = build(httpserver, monkeypatch, tmp_path, state=Store.memory(), clock=lambda: at(2))
    reading = collector.take_snapshot()
    assert seen[0].authorization.username == "" and seen[0].authorization.password == SECRET
    assert reading == {"monitors": [
        {"id": "1", "name": "mail.example.com", "url": "https://mail.example.com/", "status": 1, "ratio_1d": 0.9993},
        {"id": "2", "name": "VPN", "url": "https://vpn.example.com/", "status": 1, "ratio_1d": 1.0},
        {"id": "3", "name": "Staging web", "url": "https://staging.example.com", "status": 1, "ratio_1d": 0.5}]}
    assert "hunter2" not in str(reading)  # a monitor's own credentials stay in Uptime Kuma


def test_the_bare_dashboard_address_people_copy_works(httpserver, monkeypatch, tmp_path):
    httpserver.expect_request("/metrics").respond_with_handler(metrics())
    collector = build(httpserver, monkeypatch, tmp_path, state=Store.memory(), clock=lambda: at(2),
                      base_url=httpserver.url_for("/dashboard"))
    assert len(collector.take_snapshot()["monitors"]) == 3


def keep(store: Store, days, body_for) -> None:
    """Readings at 06:00 Berlin on each of `days` (of October; 32 is 1 November), as take_snapshot stores them."""
    for day in days:
        moment = at(day - 31, month=11) if day > 31 else at(day)
        store.save_snapshot("status", moment.astimezone(UTC), {"monitors": parse_metrics(body_for(day))})


def test_a_month_of_daily_readings_in_a_dst_month_missing_days_named(httpserver, monkeypatch, tmp_path):
    """October 2026 in Berlin (25 October has 25 hours). A 1-day ratio read at 06:00 counts for the
    day before, so the readings of 2 October to 1 November tell October; 4 and 18-20 October (read on
    the 5th and 19th-21st) are missing."""
    store = Store(tmp_path / "newsletter.db")
    ratios = {day: 1.0 - day / 10_000 for day in range(2, 33)}  # the day before's uptime, known per reading
    read = [day for day in range(2, 33) if day not in (5, 19, 20, 21)]
    keep(store, read, lambda day: exposition(series(1, "mail.example.com", "https://mail.example.com/",
                                                    ratio=ratios[day])))
    httpserver.expect_request("/metrics").respond_with_handler(metrics(exposition(
        series(1, "mail.example.com", "https://mail.example.com/", ratio=ratios[32]))))
    collector = build(httpserver, monkeypatch, tmp_path, state=store, clock=lambda: at(1, 6, month=11))
    result = run(collector, OCTOBER)
    assert result.status == "ok", result.error
    expected = [ratios[day] for day in read]
    [email] = result.metrics["services"]
    assert email["name"] == "Email" and email["status"] == "monitored"
    assert email["uptime_pct"] == round(sum(expected) / len(expected) * 100, 4)
    assert email["downtime_s"] == round(sum((1 - r) * 86400 for r in expected))
    assert email["incidents"] is None and email["longest_outage_s"] is None  # unknown, never 0
    assert result.partial and result.metrics["covered_days"] == 27
    assert result.warnings == [
        "no snapshot on 4 and 18–20 October: these numbers cover 27 of the 31 days of October 2026; "
        "'newsletter run' (daily from cron) or 'newsletter snapshot' stores one every day "
        "(docs/running.md, daily snapshots)"]


def test_every_day_read_is_a_whole_month(httpserver, monkeypatch, tmp_path):
    store = Store(tmp_path / "newsletter.db")
    keep(store, range(2, 32), lambda day: GOOD)
    httpserver.expect_request("/metrics").respond_with_handler(metrics())
    result = run(build(httpserver, monkeypatch, tmp_path, state=store, clock=lambda: at(1, 6, month=11)), OCTOBER)
    assert result.status == "ok" and not result.partial and result.warnings == []
    assert {s["name"]: s["uptime_pct"] for s in result.metrics["services"]} == {"Email": 99.93, "VPN": 100.0}


def test_maintenance_and_paused_monitors_read_as_such(httpserver, monkeypatch, tmp_path):
    store = Store(tmp_path / "newsletter.db")
    printer = series(4, "Printer", "https://print.example.com", ratio=0.97)
    september = exposition(printer, series(5, "Old wiki", "https://wiki.example.com"))
    store.save_snapshot("status", datetime(2026, 9, 30, 6, tzinfo=BERLIN), {"monitors": parse_metrics(september)})
    # October: the printer paused from the start (it left /metrics), the wiki in maintenance all month,
    # the VPN in maintenance on two readings and gone (paused) on three
    def october(day):
        vpn = [] if day in (10, 11, 12) else [series(2, "VPN", "https://vpn.example.com", ratio=0.9,
                                                     status=3 if day in (7, 8) else 1)]
        return exposition(series(5, "Old wiki", "https://wiki.example.com", status=3, ratio=1), *vpn)
    keep(store, range(2, 33), october)
    httpserver.expect_request("/metrics").respond_with_handler(metrics(october(32)))
    result = run(build(httpserver, monkeypatch, tmp_path, state=store, clock=lambda: at(1, 6, month=11)), OCTOBER)
    assert result.status == "ok", result.error
    services = {s["name"]: s for s in result.metrics["services"]}
    assert services["Printer"]["status"] == "paused" and services["Printer"]["uptime_pct"] is None
    assert services["Old wiki"]["status"] == "maintenance" and services["Old wiki"]["uptime_pct"] is None
    assert services["VPN"]["status"] == "monitored" and services["VPN"]["uptime_pct"] == 90.0
    assert ("VPN was not in Uptime Kuma's metrics on 9–11 October (paused or deleted): those days are left out "
            "of its uptime") in result.warnings
    assert "VPN was in maintenance at the reading of 6–7 October: those days are left out of its uptime" \
        in result.warnings
    assert not result.partial  # every day has a reading: the month is whole


def test_a_month_is_told_from_the_days_stored_when_uptime_kuma_cannot_be_read_now(httpserver, monkeypatch, tmp_path):
    store = Store(tmp_path / "newsletter.db")
    keep(store, range(2, 33), lambda day: GOOD)
    httpserver.expect_request("/metrics").respond_with_response(Response("down", status=503))
    result = run(build(httpserver, monkeypatch, tmp_path, state=store, clock=lambda: at(1, 7, month=11)), OCTOBER)
    assert result.status == "ok", result.error
    assert any(w.startswith("Uptime Kuma could not be read now (Uptime Kuma answered 503") for w in result.warnings)
    assert {s["name"] for s in result.metrics["services"]} == {"Email", "VPN"}


def test_a_month_without_any_reading_is_refused_not_invented(httpserver, monkeypatch, tmp_path):
    httpserver.expect_request("/metrics").respond_with_handler(metrics())
    store = Store(tmp_path / "newsletter.db")
    result = run(build(httpserver, monkeypatch, tmp_path, state=store, clock=lambda: at(1, 6, month=12)), OCTOBER)
    assert result.status == "failed" and "no snapshot of source status in October 2026" in result.error


@pytest.mark.parametrize(("body", "words"), [
    ("<html><body>Sign in</body></html>", "not the Prometheus text format"),
    ("monitor_status{monitor_name=\"Email\" 1\n", "not the Prometheus text format"),
    ("", "has no monitor_status"),
    ("# TYPE process_cpu_user_seconds_total counter\nprocess_cpu_user_seconds_total 1\n", "has no monitor_status"),
    (exposition(series(1, "Email", "https://mail.example.com", ratio=None)), "need Uptime Kuma 2.0 or later"),
])
def test_an_answer_that_is_not_uptime_kumas_metrics_says_what_to_check(body, words, httpserver, monkeypatch,
                                                                        tmp_path):
    httpserver.expect_request("/metrics").respond_with_handler(metrics(body))
    collector = build(httpserver, monkeypatch, tmp_path, state=Store.memory(), clock=lambda: at(2))
    with pytest.raises(SourceError, match=words):
        collector.take_snapshot()


def test_a_ratio_outside_zero_to_one_or_not_a_number_is_unknown_not_a_figure(httpserver, monkeypatch, tmp_path):
    body = exposition(series(1, "Email", "https://mail.example.com", ratio=1.5),
                      series(2, "VPN", "https://vpn.example.com", ratio=0.99)) + \
        'monitor_uptime_ratio{monitor_id="6",monitor_name="NaN one",window="1d"} NaN\n'
    httpserver.expect_request("/metrics").respond_with_handler(metrics(body))
    reading = build(httpserver, monkeypatch, tmp_path, state=Store.memory(), clock=lambda: at(2)).take_snapshot()
    assert {m["name"]: m["ratio_1d"] for m in reading["monitors"]} == {"Email": None, "VPN": 0.99, "NaN one": None}


def test_a_wrong_key_names_the_variable_and_leaks_nothing(httpserver, monkeypatch, tmp_path, caplog):
    httpserver.expect_request("/metrics").respond_with_handler(
        lambda request: Response(f"bad credentials {request.headers.get('Authorization')}", status=401))
    result = run(build(httpserver, monkeypatch, tmp_path, state=Store.memory(), clock=lambda: at(2)), OCTOBER)
    assert result.status == "failed" and "401" in result.error and KEY_ENV in result.error
    assert leaks(result.error, SECRET) == [] and leaks(caplog.text, SECRET) == []


# the fault harness: /metrics is a text format, so its bad bodies have a test of their own above
@pytest.mark.parametrize("fault", [name for name in FAULTS if name != "malformed JSON"])
def test_faults(fault, httpserver, caplog, monkeypatch, tmp_path):
    def fresh(session):  # a fresh store each time: the month is told by the reading collect takes
        return build(httpserver, monkeypatch, tmp_path, state=Store.memory(), clock=lambda: at(31, 20),
                     session=session)

    target = Faults("/metrics", lambda: httpserver.expect_request("/metrics").respond_with_handler(metrics()),
                    fresh, OCTOBER, KEY_ENV, SECRET)
    good = check_fault(target, fault, httpserver, caplog)
    assert {s["name"] for s in good.metrics["services"]} == {"Email", "VPN"}


def test_collect_keeps_the_reading_it_takes(httpserver, monkeypatch, tmp_path):
    httpserver.expect_request("/metrics").respond_with_handler(metrics())
    store = Store(tmp_path / "newsletter.db")
    run(build(httpserver, monkeypatch, tmp_path, state=store, clock=lambda: at(31, 20)), OCTOBER)
    assert len(store.snapshots("status", at(31, 19), at(31, 21))) == 1
    assert store.snapshots("status", at(1, 0) - timedelta(days=1), at(31, 19)) == []


def test_a_monitor_created_during_the_month_is_measured_from_its_first_day_without_a_warning(
        httpserver, monkeypatch, tmp_path):
    store = Store(tmp_path / "newsletter.db")
    printer = series(4, "Printer", "https://print.example.com", ratio=0.98)
    keep(store, range(2, 33), lambda day: exposition(*([printer] if day >= 16 else []),
                                                     series(2, "VPN", "https://vpn.example.com", ratio=1)))
    httpserver.expect_request("/metrics").respond_with_handler(metrics(exposition(
        printer, series(2, "VPN", "https://vpn.example.com", ratio=1))))
    result = run(build(httpserver, monkeypatch, tmp_path, state=store, clock=lambda: at(1, 6, month=11)), OCTOBER)
    services = {s["name"]: s for s in result.metrics["services"]}
    assert services["Printer"]["uptime_pct"] == 98.0 and services["Printer"]["status"] == "monitored"
    assert result.warnings == []


def test_two_monitors_shown_under_one_name_are_both_listed_with_a_warning(httpserver, monkeypatch, tmp_path):
    """Renamed to one name (or so named in Uptime Kuma): both are in the month, as other uptime sources
    list them, and the warning names their ids, so neither goes missing unnoticed."""
    store = Store(tmp_path / "newsletter.db")
    body = exposition(series(1, "mail.example.com", "https://mail.example.com/", ratio=0.99),
                      series(7, "mx2.example.com", "https://mx2.example.com/", ratio=0.5))
    keep(store, range(2, 33), lambda day: body)
    httpserver.expect_request("/metrics").respond_with_handler(metrics(body))
    collector = build(httpserver, monkeypatch, tmp_path, state=store, clock=lambda: at(1, 6, month=11),
                      rename={"mail.example.com": "Email", "7": "Email"})
    result = run(collector, OCTOBER)
    assert result.status == "ok", result.error
    assert sorted(s["uptime_pct"] for s in result.metrics["services"] if s["name"] == "Email") == [50.0, 99.0]
    assert result.warnings == ["Uptime Kuma monitors 1 and 7 are both shown as 'Email': rename one of them "
                               "(rename in the source's settings) to tell them apart"]
