"""Prometheus HTTP API: raw probe_success samples a day at a time, exact month edges in Berlin time."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest
from werkzeug import Response

from newsletter.binding import Secret
from newsletter.collectors.prometheus import Prometheus, PrometheusSettings, parse_duration
from newsletter.errors import ConfigError, SourceError
from tests.contract.conftest import AFTER_OCTOBER, BERLIN, OCTOBER
from tests.contract.helpers import FAULTS, Faults, check_fault

MAIL, VPN, STAGING = "https://mail.example.com", "https://vpn.example.com", "https://staging.example.com"


def local(*args) -> float:
    return datetime(*args, tzinfo=BERLIN).timestamp()


def series() -> dict[str, list[tuple[float, str]]]:
    """One sample a minute; outages at known times (see the test for the arithmetic)."""
    start, end = OCTOBER.start.timestamp(), OCTOBER.end.timestamp()
    down_mail = set()
    down_mail |= {start + 60 * k for k in range(-3, 3)}  # 23:57..00:02 across the month's start
    down_mail |= {local(2026, 10, 5, 10, 0) + 60 * k for k in range(5)}  # 10:00..10:04
    down_mail.add(local(2026, 10, 20, 12, 0))  # then no samples for an hour: counts one interval
    missing = {local(2026, 10, 20, 12, 1) + 60 * k for k in range(59)}
    missing |= {local(2026, 10, 10, 0, 0) + 60 * k for k in range(120)}  # missed scrapes while up
    mail = [(t, "0" if t in down_mail else "1") for t in _minutes(start - 7200, end + 7200) if t not in missing]
    vpn_from = local(2026, 10, 15, 12, 0)  # created mid-month
    vpn = [(t, "0" if t == end - 60 else "1") for t in _minutes(vpn_from, end + 7200)]
    staging = [(t, "0") for t in _minutes(start, end)]
    return {MAIL: mail, VPN: vpn, STAGING: staging}


def _minutes(first: float, last: float) -> list[float]:
    return [float(t) for t in range(int(first), int(last), 60)]


def serve_prometheus(httpserver, data, retention="400d", seen=None):
    """The documented /api/v1/query answer for `selector[Ns]` at `time`: samples in (time - N, time]."""

    def query(request):
        if seen is not None:
            seen.append(request.args["query"])
        match = re.fullmatch(r'probe_success\{job="blackbox"\}\[(\d+)s\]', request.args["query"])
        if not match:
            return Response(json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error"}), 400)
        at, span = float(request.args["time"]), int(match[1])
        result = [{"metric": {"__name__": "probe_success", "instance": name, "job": "blackbox"},
                   "values": [[t, v] for t, v in samples if at - span < t <= at]}
                  for name, samples in data.items()]
        body = {"status": "success", "data": {"resultType": "matrix", "result": [r for r in result if r["values"]]}}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/api/v1/query").respond_with_handler(query)
    httpserver.expect_request("/api/v1/status/flags").respond_with_json(
        {"status": "success", "data": {"storage.tsdb.retention.time": retention, "web.enable-lifecycle": "false"}})


def make(httpserver, session, **settings):
    config = PrometheusSettings(base_url=httpserver.url_for("/"), selector='probe_success{job="blackbox"}',
                                rename={MAIL: "Email", VPN: "VPN", "https://intranet.example.com": "Intranet"},
                                exclude=["*staging*"], **settings)
    collector = Prometheus(config, name="monitoring", session=session, clock=lambda: AFTER_OCTOBER)
    collector.validate()
    return collector


def plain(httpserver, session):
    settings = PrometheusSettings(base_url=httpserver.url_for("/"), selector='probe_success{job="blackbox"}')
    return Prometheus(settings, name="monitoring", session=session, clock=lambda: AFTER_OCTOBER)


def test_uptime_downtime_and_incidents_over_the_berlin_month(httpserver, session):
    seen = []
    serve_prometheus(httpserver, series(), seen=seen)
    metrics = make(httpserver, session).collect(OCTOBER).metrics()
    services = {s["name"]: s for s in metrics["services"]}
    assert list(services) == ["Email", "VPN", "Intranet"]  # staging excluded
    # Email: 00:00-00:03 on the 1st (the minutes before the month don't count) = 180 s, 10:00-10:05 on
    # the 5th = 300 s, one lone failure on the 20th followed by an hour without samples = 60 s.
    # The two hours of missed scrapes on the 10th are not downtime. Month: 2_682_000 s (31 days + 1 h).
    assert services["Email"] == {"name": "Email", "uptime_pct": 99.9799, "downtime_s": 540, "incidents": 3,
                                 "longest_outage_s": 300, "status": "monitored"}
    # VPN: created 2026-10-15 12:00 CEST; measured from then to 2026-11-01 00:00 CET = 1_429_200 s,
    # down in the month's last minute only: 100 * (1 - 60 / 1_429_200) = 99.9958.
    assert services["VPN"] == {"name": "VPN", "uptime_pct": 99.9958, "downtime_s": 60, "incidents": 1,
                               "longest_outage_s": 60, "status": "monitored"}
    assert services["Intranet"]["status"] == "not_monitored" and services["Intranet"]["uptime_pct"] is None
    assert metrics["overall_uptime_pct"] == round((99.9799 + 99.9958) / 2, 4)
    assert len(seen) == 32  # 31 days and the extra hour of the DST change
    assert seen[0] == 'probe_success{job="blackbox"}[86400s]' and seen[-1].endswith("[3600s]")


def test_retention_shorter_than_the_month_is_refused(httpserver, session):
    serve_prometheus(httpserver, series(), retention="15d")
    with pytest.raises(SourceError, match=r"keeps 15d of data but 2026-10 began 32 days ago.*retention"):
        make(httpserver, session).collect(OCTOBER)


def test_no_samples_at_all_says_what_to_check(httpserver, session):
    serve_prometheus(httpserver, {})
    collector = plain(httpserver, session)
    with pytest.raises(SourceError, match=r"no samples of .* in 2026-10; check selector"):
        collector.collect(OCTOBER)


@pytest.mark.parametrize("fault", FAULTS)
def test_faults(fault, httpserver, caplog, monkeypatch):
    monkeypatch.setenv("PROM_TOKEN", "tok-123456")
    data = {MAIL: series()[MAIL]}
    check_fault(Faults("/api/v1/query", lambda: serve_prometheus(httpserver, data),
                       lambda s: make(httpserver, s, token=Secret(env="PROM_TOKEN")), OCTOBER, hint="PROM_TOKEN",
                       secret="tok-123456"), fault, httpserver, caplog)


def test_config_mistakes_are_caught_before_any_request(session):
    for settings, message in ((dict(selector="avg_over_time(probe_success[1d])"), "selector"),
                              (dict(base_url="localhost:9090"), "base_url"),
                              (dict(scrape_interval_s=0), "scrape_interval_s")):
        with pytest.raises(ConfigError, match=message):
            Prometheus(PrometheusSettings(**settings), name="p", session=session).validate()


def test_durations():
    assert parse_duration("15d") == 15 * 86400
    assert parse_duration("1y2w") == (365 + 14) * 86400
    assert parse_duration("0s") is None and parse_duration("soon") is None


def test_a_moment_is_in_the_month_only_once(httpserver, session):
    """Chunk edges: a sample exactly at a day boundary is read once, not twice."""
    start = OCTOBER.start.timestamp()
    data = {MAIL: [(start + 86400.0, "0"), (start + 86400.0 + 60, "1"), (start, "1")]}
    serve_prometheus(httpserver, data)
    collector = plain(httpserver, session)
    service = collector.collect(OCTOBER).metrics()["services"][0]
    assert (service["downtime_s"], service["incidents"]) == (60, 1)
    assert timedelta(seconds=service["downtime_s"]) == timedelta(minutes=1)


def test_a_service_no_longer_probed_is_measured_until_its_last_sample(httpserver, session):
    """Probes of the old VPN stop on the 5th (taken out of the blackbox config): the rest of the month was
    not watched, so it is not up either, as it is not before a service's first sample."""
    start = OCTOBER.start.timestamp()
    last = local(2026, 10, 5, 0, 0) - 60
    vpn = [(t, "0" if local(2026, 10, 3, 8, 0) <= t < local(2026, 10, 3, 9, 0) else "1")
           for t in _minutes(start, last + 60)]
    serve_prometheus(httpserver, {VPN: vpn})
    [service] = make(httpserver, session).collect(OCTOBER).metrics()["services"][:1]
    # an hour down of the 4 days watched (345_600 s): 100 * (1 - 3600 / 345_600) = 98.9583
    assert service == {"name": "VPN", "uptime_pct": 98.9583, "downtime_s": 3600, "incidents": 1,
                       "longest_outage_s": 3600, "status": "monitored"}


def test_two_instances_renamed_to_one_service_count_the_outages_of_both(httpserver, session):
    """mx1 and mx2 both read "Email": an outage of either is the service's, not only the last one's."""
    start, end = OCTOBER.start.timestamp(), OCTOBER.end.timestamp()
    mx1_down = set(_minutes(local(2026, 10, 3, 8, 0), local(2026, 10, 3, 8, 10)))  # 10 minutes on the 3rd
    mx2_down = set(_minutes(local(2026, 10, 5, 8, 0), local(2026, 10, 5, 8, 5)))  # 5 minutes on the 5th
    mx1 = [(t, "0" if t in mx1_down else "1") for t in _minutes(start, end)]
    mx2 = [(t, "0" if t in mx2_down else "1") for t in _minutes(start, end)]
    serve_prometheus(httpserver, {"https://mx1.example.com": mx1, "https://mx2.example.com": mx2})
    config = PrometheusSettings(base_url=httpserver.url_for("/"), selector='probe_success{job="blackbox"}',
                                rename={"https://mx1.example.com": "Email", "https://mx2.example.com": "Email"})
    collector = Prometheus(config, name="monitoring", session=session, clock=lambda: AFTER_OCTOBER)
    [email] = collector.collect(OCTOBER).metrics()["services"]
    assert (email["name"], email["downtime_s"], email["incidents"], email["longest_outage_s"]) == ("Email", 900, 2, 600)
