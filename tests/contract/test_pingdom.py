"""Pingdom 3.1: /checks, then /summary.outage/{id} states for the Berlin month."""

from __future__ import annotations

import pytest

from newsletter.binding import Secret
from newsletter.collectors.pingdom import Pingdom, PingdomSettings
from newsletter.errors import SourceError
from tests.contract.conftest import OCTOBER
from tests.contract.helpers import FAULTS, Faults, check_fault

START, END = 1790805600, 1793487600  # 2026-10-01 00:00 CEST, 2026-11-01 00:00 CET
CHECKS = [
    {"id": 85975, "name": "mx1", "hostname": "mx1.corp.example", "created": 1297446423, "status": "up",
     "type": "http", "resolution": 1},
    {"id": 85976, "name": "VPN", "hostname": "vpn.corp.example", "created": "1792058400", "status": "up",
     "type": "tcp", "resolution": 1},  # created 2026-10-15 12:00 CEST
    {"id": 85977, "name": "Old intranet", "hostname": "intranet.corp.example", "created": 1297446423,
     "status": "paused", "type": "http", "resolution": 5},
    {"id": 85978, "name": "Staging", "hostname": "staging.corp.example", "created": 1297446423, "status": "down"},
]
STATES = {
    # mx1: down 23:50-00:10 across the month's start (600 s count), 08:00-08:07 on the 3rd (420 s),
    # and a probe gap ("unknown") that is not downtime.
    85975: [{"status": "down", "timefrom": START - 600, "timeto": START + 600},
            {"status": "up", "timefrom": START + 600, "timeto": 1791007200},
            {"status": "down", "timefrom": 1791007200, "timeto": "1791007620"},
            {"status": "unknown", "timefrom": 1791007620, "timeto": 1791011220},
            {"status": "up", "timefrom": 1791011220, "timeto": END}],
    85976: [{"status": "unknown", "timefrom": START, "timeto": 1792058400},
            {"status": "up", "timefrom": 1792058400, "timeto": 1792479600},
            {"status": "down", "timefrom": 1792479600, "timeto": 1792479660},  # 2026-10-20 09:00 CEST, 60 s
            {"status": "up", "timefrom": 1792479660, "timeto": END}],
    85977: [{"status": "unknown", "timefrom": START, "timeto": END}],
}


def serve(httpserver, asked=None):
    httpserver.expect_request("/api/3.1/checks").respond_with_json({"checks": CHECKS, "counts": {"total": 4}})
    for check_id, states in STATES.items():
        httpserver.expect_request(f"/api/3.1/summary.outage/{check_id}", query_string=f"from={START}&to={END}"
                                  ).respond_with_json({"summary": {"states": states}})


def make(httpserver, session, root=None):
    config = PingdomSettings(token=Secret(env="PINGDOM_TOKEN"),
                             base_url=httpserver.url_for("/api/3.1" if root is None else root),
                             rename={"mx1.corp.example": "Email"}, exclude=["Staging"])
    collector = Pingdom(config, name="uptime", session=session)
    collector.validate()
    return collector


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("PINGDOM_TOKEN", "pd-token-123456")


def test_month_figures_paused_and_new_checks(httpserver, session):
    serve(httpserver)
    metrics = make(httpserver, session).collect(OCTOBER).metrics()
    services = {s["name"]: s for s in metrics["services"]}
    assert list(services) == ["Email", "VPN", "Old intranet"]
    # Email: 600 + 420 = 1020 s of 2_682_000: 100 * (1 - 1020 / 2_682_000) = 99.962
    assert services["Email"] == {"name": "Email", "uptime_pct": 99.962, "downtime_s": 1020, "incidents": 2,
                                 "longest_outage_s": 600, "status": "monitored"}
    # VPN: from its creation (1_429_200 s before the month's end), 60 s down: 99.9958
    assert services["VPN"] == {"name": "VPN", "uptime_pct": 99.9958, "downtime_s": 60, "incidents": 1,
                               "longest_outage_s": 60, "status": "monitored"}
    assert services["Old intranet"]["status"] == "paused" and services["Old intranet"]["uptime_pct"] is None


@pytest.mark.parametrize("fault", FAULTS)
def test_faults(fault, httpserver, caplog):
    check_fault(Faults("/api/3.1/summary.outage/85976", lambda: serve(httpserver), lambda s: make(httpserver, s),
                       OCTOBER, hint="PINGDOM_TOKEN", secret="pd-token-123456"), fault, httpserver, caplog)


def test_an_unexpected_answer_names_base_url(httpserver, session):
    httpserver.expect_request("/api/3.1/checks").respond_with_json({"error": {"statuscode": 403}})
    with pytest.raises(SourceError, match="check base_url"):
        make(httpserver, session).collect(OCTOBER)


@pytest.mark.parametrize("root", ["", "/", "/api/3.1", "/api/3.1/"], ids=["bare", "bare/", "root", "root/"])
def test_the_bare_url_works_as_well_as_the_api_root(root, httpserver, session):
    serve(httpserver)
    services = make(httpserver, session, root=root).collect(OCTOBER).metrics()["services"]
    assert len(services) == 3


def test_a_404_is_worded_for_pingdom(httpserver, session):
    httpserver.expect_request("/elsewhere/api/3.1/checks").respond_with_data("Not Found", status=404)
    with pytest.raises(SourceError) as info:
        make(httpserver, session, root="/elsewhere").collect(OCTOBER)
    where = httpserver.url_for("/elsewhere/api/3.1/checks")
    assert str(info.value) == (f"Pingdom answered 404 NOT FOUND for {where}: check base_url "
                               "(the API root, such as https://api.pingdom.com/api/3.1, or the bare address)")


def test_one_second_down_in_the_month_is_not_rounded_up_to_100(httpserver, session):
    """1 s of 2_682_000 is 99.99996%: kept below 100 beside its incident, and so is the mean."""
    checks = [CHECKS[0], {**CHECKS[0], "id": 85979, "name": "web", "hostname": "web.corp.example"}]
    httpserver.expect_request("/api/3.1/checks").respond_with_json({"checks": checks})
    httpserver.expect_request("/api/3.1/summary.outage/85975").respond_with_json({"summary": {"states": [
        {"status": "up", "timefrom": START, "timeto": 1791007200},
        {"status": "down", "timefrom": 1791007200, "timeto": 1791007201},
        {"status": "up", "timefrom": 1791007201, "timeto": END}]}})
    httpserver.expect_request("/api/3.1/summary.outage/85979").respond_with_json({"summary": {"states": [
        {"status": "up", "timefrom": START, "timeto": END}]}})
    metrics = make(httpserver, session).collect(OCTOBER).metrics()
    email, web = metrics["services"]
    assert (email["downtime_s"], email["incidents"]) == (1, 1)
    assert email["uptime_pct"] == 99.9999 and web["uptime_pct"] == 100
    assert metrics["overall_uptime_pct"] == 99.9999


def test_an_outage_summary_of_another_shape_names_base_url(httpserver, session):
    httpserver.expect_request("/api/3.1/checks").respond_with_json({"checks": CHECKS[:1]})
    httpserver.expect_request("/api/3.1/summary.outage/85975").respond_with_json({"summary": ["down"]})
    with pytest.raises(SourceError, match="no outage summary for check 85975; check base_url"):
        make(httpserver, session).collect(OCTOBER)


def test_a_check_paused_during_the_month_is_measured_until_its_pause(httpserver, session):
    """After the pause Pingdom has no results ("unknown"): that time is not monitored, so not up either."""
    paused = {**CHECKS[2], "name": "Wiki", "hostname": "wiki.corp.example"}
    httpserver.expect_request("/api/3.1/checks").respond_with_json({"checks": [paused]})
    httpserver.expect_request("/api/3.1/summary.outage/85977").respond_with_json({"summary": {"states": [
        {"status": "up", "timefrom": START, "timeto": START + 172800},
        {"status": "down", "timefrom": START + 172800, "timeto": START + 176400},  # an hour down on the 3rd
        {"status": "up", "timefrom": START + 176400, "timeto": START + 345600},  # paused on the 5th
        {"status": "unknown", "timefrom": START + 345600, "timeto": END}]}})
    [wiki] = make(httpserver, session).collect(OCTOBER).metrics()["services"]
    # 3600 s down of the 345_600 s monitored: 100 * (1 - 3600 / 345_600) = 98.9583
    assert wiki == {"name": "Wiki", "uptime_pct": 98.9583, "downtime_s": 3600, "incidents": 1,
                    "longest_outage_s": 3600, "status": "monitored"}
