"""UptimeRobot v2 getMonitors: form POST, offset paging, ratios as strings, down logs."""

from __future__ import annotations

import json

import pytest
from werkzeug import Response

from newsletter.binding import Secret
from newsletter.collectors.uptimerobot import UptimeRobot, UptimeRobotSettings
from newsletter.errors import SourceError
from tests.contract.conftest import OCTOBER
from tests.contract.helpers import FAULTS, Faults, check_fault, run

# October 2026 in Berlin as unix seconds: 2026-10-01 00:00 CEST and 2026-11-01 00:00 CET.
START, END = 1790805600, 1793487600
MONITORS = [
    {"id": 777, "friendly_name": "mx1", "url": "https://mx1.corp.example:443", "type": 1, "status": 2,
     "create_datetime": 1700000000, "custom_uptime_ranges": "99.973",
     "logs": [{"type": 1, "datetime": 1791007200, "duration": 420},  # 2026-10-03 08:00 CEST, 7 minutes
              {"type": 2, "datetime": 1791007620, "duration": 86400},
              {"type": 1, "datetime": 1790805300, "duration": 600}]},  # 2026-09-30 23:55: 5 of its 10 min in October
    {"id": 778, "friendly_name": "vpn gateway", "url": "vpn.corp.example", "type": 3, "status": "2",
     "create_datetime": "1792058400", "custom_uptime_ranges": "99.996",  # created 2026-10-15 12:00 CEST
     "logs": [{"type": 98, "datetime": 1792058400, "duration": 0},
              {"type": 1, "datetime": 1792479600, "duration": "60"}]},  # 2026-10-20 09:00 CEST
    {"id": 779, "friendly_name": "Old intranet", "url": "https://intranet.corp.example", "type": 1, "status": 0,
     "create_datetime": 1600000000, "custom_uptime_ranges": "100.000", "logs": []},
    {"id": 780, "friendly_name": "Staging", "url": "https://staging.corp.example", "type": 1, "status": 9,
     "create_datetime": 1600000000, "custom_uptime_ranges": "12.000", "logs": []},
    {"id": 781, "friendly_name": "Printer", "url": "https://print.corp.example", "type": 1, "status": 2,
     "create_datetime": 1793833200, "custom_uptime_ranges": "0.000", "logs": []},  # created 2026-11-05
]


def serve(httpserver, forms=None, page_size=4):
    def get_monitors(request):
        if forms is not None:
            forms.append(dict(request.form))
        offset = int(request.form["offset"])
        body = {"stat": "ok", "pagination": {"offset": offset, "limit": 50, "total": len(MONITORS)},
                "monitors": MONITORS[offset:offset + page_size]}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/v2/getMonitors", method="POST").respond_with_handler(get_monitors)


def make(httpserver, session, root=None, **settings):
    config = UptimeRobotSettings(api_key=Secret(env="UPTIMEROBOT_API_KEY"),
                                 base_url=httpserver.url_for("/v2" if root is None else root),
                                 rename={"https://mx1.corp.example:443": "Email", "778": "VPN"},
                                 exclude=["Staging"], **settings)
    collector = UptimeRobot(config, name="uptime", session=session)
    collector.validate()
    return collector


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("UPTIMEROBOT_API_KEY", "ur-secret-key-1")


def test_month_figures_paused_and_new_monitors(httpserver, session):
    forms = []
    serve(httpserver, forms)
    metrics = make(httpserver, session).collect(OCTOBER).metrics()
    services = {s["name"]: s for s in metrics["services"]}
    assert list(services) == ["Email", "VPN", "Old intranet", "Printer"]
    # Email: UptimeRobot's ratio for the month; 420 s on the 3rd + 300 s of the outage that began before the month
    assert services["Email"] == {"name": "Email", "uptime_pct": 99.973, "downtime_s": 720, "incidents": 2,
                                 "longest_outage_s": 420, "status": "monitored"}
    # VPN: created mid-month; one minute down
    assert services["VPN"] == {"name": "VPN", "uptime_pct": 99.996, "downtime_s": 60, "incidents": 1,
                               "longest_outage_s": 60, "status": "monitored"}
    assert services["Old intranet"]["status"] == "paused" and services["Old intranet"]["uptime_pct"] is None
    assert services["Printer"]["status"] == "not_monitored" and services["Printer"]["uptime_pct"] is None
    assert metrics["overall_uptime_pct"] == round((99.973 + 99.996) / 2, 4)
    assert [f["offset"] for f in forms] == ["0", "4"]
    assert forms[0]["custom_uptime_ranges"] == f"{START}_{END}"
    assert forms[0]["api_key"] == "ur-secret-key-1" and forms[0]["logs"] == "1"


@pytest.mark.parametrize("fault", FAULTS)
def test_faults(fault, httpserver, caplog):
    check_fault(Faults("/v2/getMonitors", lambda: serve(httpserver), lambda s: make(httpserver, s), OCTOBER,
                       hint="UPTIMEROBOT_API_KEY", secret="ur-secret-key-1", method="POST"),
                fault, httpserver, caplog)


def test_a_refused_key_is_named_without_its_value(httpserver, session):
    httpserver.expect_request("/v2/getMonitors", method="POST").respond_with_json(
        {"stat": "fail", "error": {"type": "invalid_parameter", "parameter_name": "api_key",
                                   "passed_value": "ur-secret-key-1", "message": "api_key is invalid."}})
    with pytest.raises(SourceError, match=r"api_key is invalid\.; check UPTIMEROBOT_API_KEY") as info:
        make(httpserver, session).collect(OCTOBER)
    assert "ur-secret-key-1" not in str(info.value)


def test_an_empty_page_ends_paging_and_a_repeated_one_stops_it(httpserver, session):
    httpserver.expect_request("/v2/getMonitors", method="POST").respond_with_json(
        {"stat": "ok", "pagination": {"offset": 0, "limit": 50, "total": 99}, "monitors": []})
    assert make(httpserver, session).collect(OCTOBER).metrics()["services"] == []
    httpserver.clear()
    httpserver.expect_request("/v2/getMonitors", method="POST").respond_with_json(
        {"stat": "ok", "pagination": {"offset": 0, "limit": 50, "total": 99}, "monitors": MONITORS[:2]})
    with pytest.raises(SourceError, match="same monitors"):
        make(httpserver, session).collect(OCTOBER)


@pytest.mark.parametrize("root", ["", "/", "/v2", "/v2/"], ids=["bare", "bare/", "root", "root/"])
def test_the_bare_url_works_as_well_as_the_api_root(root, httpserver, session):
    serve(httpserver)
    services = make(httpserver, session, root=root).collect(OCTOBER).metrics()["services"]
    assert len(services) == 4


def test_a_404_is_worded_for_uptimerobot(httpserver, session):
    httpserver.expect_request("/elsewhere/v2/getMonitors").respond_with_data("Not Found", status=404)
    with pytest.raises(SourceError) as info:
        make(httpserver, session, root="/elsewhere").collect(OCTOBER)
    where = httpserver.url_for("/elsewhere/v2/getMonitors")
    assert str(info.value) == (f"UptimeRobot answered 404 NOT FOUND for {where}: check base_url "
                               "(the API root, such as https://api.uptimerobot.com/v2, or the bare address)")


def test_an_outage_that_began_before_the_logs_reach_back_is_not_zero_downtime(httpserver, session):
    """The logs start 7 days before the month: a longer outage shows only as the up log that ended it,
    or, still going on, as no log at all; its downtime is then from the month's start, or unknown."""
    ended = {"id": 790, "friendly_name": "Wiki", "url": "https://wiki.corp.example", "type": 1, "status": 2,
             "create_datetime": 1600000000, "custom_uptime_ranges": "90.335",
             "logs": [{"type": 2, "datetime": START + 259200, "duration": 86400},  # up again on the 4th
                      {"type": 1, "datetime": START + 345600, "duration": 60}]}
    dead = {"id": 791, "friendly_name": "Old build box", "url": "https://build.corp.example", "type": 1, "status": 9,
            "create_datetime": 1600000000, "custom_uptime_ranges": "0.000", "logs": []}
    httpserver.expect_request("/v2/getMonitors", method="POST").respond_with_json(
        {"stat": "ok", "pagination": {"offset": 0, "limit": 50, "total": 2}, "monitors": [ended, dead]})
    wiki, box = make(httpserver, session).collect(OCTOBER).metrics()["services"]
    assert (wiki["downtime_s"], wiki["incidents"], wiki["longest_outage_s"]) == (259260, 2, 259200)
    assert wiki["uptime_pct"] == 90.335
    assert box["uptime_pct"] == 0 and (box["downtime_s"], box["incidents"], box["longest_outage_s"]) == (
        None, None, None)


@pytest.mark.parametrize("answer", [
    {"stat": "ok", "pagination": [0, 50, 99], "monitors": MONITORS[:1]},
    {"stat": "ok", "pagination": {"total": 99}, "monitors": ["777"]},
], ids=["pagination not an object", "a monitor not an object"])
def test_an_answer_of_another_shape_is_named(answer, httpserver, session):
    httpserver.expect_request("/v2/getMonitors", method="POST").respond_with_json(answer)
    result = run(make(httpserver, session), OCTOBER)
    assert result.status == "failed"
    assert result.error.startswith("UptimeRobot answered"), result.error
    assert "base_url" in result.error


def test_a_monitor_paused_in_the_month_after_a_long_quiet_spell_has_its_figures(httpserver, session):
    """Its last change before the pause is older than the logs reach: the pause log alone says it ran until then."""
    paused = {"id": 792, "friendly_name": "Fax gateway", "url": "https://fax.corp.example", "type": 1, "status": 0,
              "create_datetime": 1600000000, "custom_uptime_ranges": "100.000",
              "logs": [{"type": 99, "datetime": START + 777600, "duration": 1900000}]}  # paused on the 10th
    httpserver.expect_request("/v2/getMonitors", method="POST").respond_with_json(
        {"stat": "ok", "pagination": {"offset": 0, "limit": 50, "total": 1}, "monitors": [paused]})
    [fax] = make(httpserver, session).collect(OCTOBER).metrics()["services"]
    assert fax == {"name": "Fax gateway", "uptime_pct": 100, "downtime_s": 0, "incidents": 0,
                   "longest_outage_s": 0, "status": "monitored"}
