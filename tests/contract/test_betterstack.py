"""Better Stack Uptime API v2: monitors paged by pagination.next, per-monitor /sla for the month."""

from __future__ import annotations

import json

import pytest
from werkzeug import Response

from newsletter.binding import Secret
from newsletter.collectors.betterstack import BetterStack, BetterStackSettings
from newsletter.errors import SourceError
from tests.contract.conftest import OCTOBER
from tests.contract.helpers import FAULTS, Faults, check_fault, run


def monitor(id_, name, url, **attributes):
    return {"id": id_, "type": "monitor", "attributes": {
        "url": url, "pronounceable_name": name, "monitor_type": "status", "status": "up", "paused": False,
        "paused_at": None, "created_at": "2025-01-10T08:00:00.000Z", **attributes}}


PAGE_1 = [monitor("258338", "mx1", "https://mx1.corp.example:443"),
          monitor("258339", "VPN", "https://vpn.corp.example", created_at="2026-10-15T10:00:00.000Z")]
PAGE_2 = [monitor("258340", "Old intranet", "https://intranet.corp.example", status="paused", paused=True,
                  paused_at="2026-08-01T09:00:00Z"),
          monitor("258341", "Printer", "https://print.corp.example", created_at="2026-11-04T09:00:00Z"),
          monitor("258342", "Staging", "https://staging.corp.example")]
SLA = {
    "258338": {"availability": 99.98, "total_downtime": 600, "number_of_incidents": 3, "longest_incident": 300,
               "average_incident": 200},
    "258339": {"availability": "99.9958", "total_downtime": "60", "number_of_incidents": "1",
               "longest_incident": "60", "average_incident": "60"},  # numbers as strings
}


def serve(httpserver, asked=None):
    base = httpserver.url_for("/api/v2/monitors")
    httpserver.expect_request("/api/v2/monitors", query_string="page=2").respond_with_json(
        {"data": PAGE_2, "pagination": {"first": base + "?page=1", "last": base + "?page=2", "prev": base + "?page=1",
                                        "next": None}})
    httpserver.expect_request("/api/v2/monitors").respond_with_json(
        {"data": PAGE_1, "pagination": {"first": base + "?page=1", "last": base + "?page=2", "prev": None,
                                        "next": base + "?page=2"}})
    for id_, attributes in SLA.items():
        def handler(request, id_=id_, attributes=attributes):
            if asked is not None:
                asked.append((id_, request.args["from"], request.args["to"], request.headers["Authorization"]))
            return Response(json.dumps({"data": {"id": id_, "type": "monitor_sla", "attributes": attributes}}),
                            content_type="application/json")
        httpserver.expect_request(f"/api/v2/monitors/{id_}/sla").respond_with_handler(handler)


def make(httpserver, session, root=None):
    config = BetterStackSettings(token=Secret(env="BETTERSTACK_TOKEN"),
                                 base_url=httpserver.url_for("/api/v2" if root is None else root),
                                 rename={"https://mx1.corp.example:443": "Email"}, exclude=["Staging"])
    collector = BetterStack(config, name="uptime", session=session)
    collector.validate()
    return collector


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("BETTERSTACK_TOKEN", "bs-token-abcdef")


def test_month_figures_paused_and_new_monitors(httpserver, session):
    asked = []
    serve(httpserver, asked)
    metrics = make(httpserver, session).collect(OCTOBER).metrics()
    services = {s["name"]: s for s in metrics["services"]}
    assert list(services) == ["Email", "VPN", "Old intranet", "Printer"]
    assert services["Email"] == {"name": "Email", "uptime_pct": 99.98, "downtime_s": 600, "incidents": 3,
                                 "longest_outage_s": 300, "status": "monitored"}
    assert services["VPN"] == {"name": "VPN", "uptime_pct": 99.9958, "downtime_s": 60, "incidents": 1,
                               "longest_outage_s": 60, "status": "monitored"}
    assert services["Old intranet"]["status"] == "paused" and services["Old intranet"]["uptime_pct"] is None
    assert services["Printer"]["status"] == "not_monitored"
    # whole days of the Berlin month; the VPN only from its creation day (10:00 UTC = 12:00 CEST on the 15th)
    assert asked == [("258338", "2026-10-01", "2026-10-31", "Bearer bs-token-abcdef"),
                     ("258339", "2026-10-15", "2026-10-31", "Bearer bs-token-abcdef")]


@pytest.mark.parametrize("fault", FAULTS)
def test_faults(fault, httpserver, caplog):
    check_fault(Faults("/api/v2/monitors/258338/sla", lambda: serve(httpserver), lambda s: make(httpserver, s),
                       OCTOBER, hint="BETTERSTACK_TOKEN", secret="bs-token-abcdef"), fault, httpserver, caplog)


def test_a_next_page_on_another_server_is_refused(httpserver, session):
    httpserver.expect_request("/api/v2/monitors").respond_with_json(
        {"data": [], "pagination": {"next": "https://elsewhere.example/api/v2/monitors?page=2"}})
    with pytest.raises(SourceError, match="another server"):
        make(httpserver, session).collect(OCTOBER)


def test_a_repeated_next_page_is_stopped(httpserver, session):
    base = httpserver.url_for("/api/v2/monitors")
    httpserver.expect_request("/api/v2/monitors").respond_with_json(
        {"data": [], "pagination": {"next": base + "?page=2"}})
    with pytest.raises(SourceError, match="same page token twice"):
        make(httpserver, session).collect(OCTOBER)


@pytest.mark.parametrize("root", ["", "/", "/api/v2", "/api/v2/"], ids=["bare", "bare/", "root", "root/"])
def test_the_bare_url_works_as_well_as_the_api_root(root, httpserver, session):
    serve(httpserver)
    services = make(httpserver, session, root=root).collect(OCTOBER).metrics()["services"]
    assert len(services) == 4


def test_a_404_is_worded_for_betterstack(httpserver, session):
    httpserver.expect_request("/elsewhere/api/v2/monitors").respond_with_data("Not Found", status=404)
    with pytest.raises(SourceError) as info:
        make(httpserver, session, root="/elsewhere").collect(OCTOBER)
    where = httpserver.url_for("/elsewhere/api/v2/monitors")
    assert str(info.value) == (f"Better Stack answered 404 NOT FOUND for {where}: check base_url "
                               "(the API root, such as https://uptime.betterstack.com/api/v2, or the bare address)")


def test_an_availability_just_below_100_is_not_rounded_up_to_it(httpserver, session):
    httpserver.expect_request("/api/v2/monitors").respond_with_json(
        {"data": PAGE_1[:1], "pagination": {"next": None}})
    httpserver.expect_request("/api/v2/monitors/258338/sla").respond_with_json({"data": {"attributes": {
        "availability": 99.99997, "total_downtime": 1, "number_of_incidents": 1, "longest_incident": 1}}})
    [email] = make(httpserver, session).collect(OCTOBER).metrics()["services"]
    assert email["uptime_pct"] == 99.9999 and email["incidents"] == 1


@pytest.mark.parametrize("page", [
    {"data": PAGE_1[:1], "pagination": ["next"]},
    {"data": PAGE_1[:1], "pagination": {"next": {"href": "/api/v2/monitors?page=2"}}},
    {"data": [{"id": "1", "attributes": ["mx1"]}], "pagination": {"next": None}},
], ids=["pagination not an object", "next not a link", "attributes not an object"])
def test_a_monitor_list_of_another_shape_is_named(page, httpserver, session):
    httpserver.expect_request("/api/v2/monitors").respond_with_json(page)
    result = run(make(httpserver, session), OCTOBER)
    assert result.status == "failed"
    assert result.error.startswith("Better Stack answered a monitor list of another shape"), result.error


def test_numbers_that_are_not_finite_are_unknown_not_a_failure(httpserver, session):
    """A monitor without checks yet may come back with NaN or Infinity (JSON that Python reads): unknown."""
    httpserver.expect_request("/api/v2/monitors").respond_with_json(
        {"data": PAGE_1[:1], "pagination": {"next": None}})
    httpserver.expect_request("/api/v2/monitors/258338/sla").respond_with_data(
        '{"data": {"attributes": {"availability": NaN, "total_downtime": Infinity, "number_of_incidents": "NaN",'
        ' "longest_incident": "-Infinity"}}}', content_type="application/json")
    result = run(make(httpserver, session), OCTOBER)
    assert result.status == "ok", result.error
    [email] = result.metrics["services"]
    assert [email[k] for k in ("uptime_pct", "downtime_s", "incidents", "longest_outage_s")] == [None] * 4


def test_a_monitor_paused_during_the_first_day_is_asked_for_its_figures(httpserver, session):
    """Paused at 18:00 on 1 October (Berlin), it was watched for 18 hours: not "paused all month"."""
    paused = monitor("258338", "mx1", "https://mx1.corp.example:443", status="paused", paused=True,
                     paused_at="2026-10-01T16:00:00Z")
    httpserver.expect_request("/api/v2/monitors").respond_with_json({"data": [paused], "pagination": {"next": None}})
    httpserver.expect_request("/api/v2/monitors/258338/sla").respond_with_json(
        {"data": {"attributes": SLA["258338"]}})
    [email] = make(httpserver, session).collect(OCTOBER).metrics()["services"]
    assert email["status"] == "monitored" and email["uptime_pct"] == 99.98
