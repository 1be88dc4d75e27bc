"""Zabbix JSON-RPC (api_jsonrpc.php, Bearer token): sla.getsli for the Berlin month, service.get for names and
problem tags, event.get for the problem events (and their recoveries) as incidents; Zabbix's errors come as HTTP 200
with an `error` object."""

from __future__ import annotations

import itertools
import json

import pytest
from werkzeug import Request, Response

from newsletter.binding import Secret
from newsletter.collectors.zabbix import Zabbix, ZabbixSettings
from newsletter.errors import ConfigError, SourceError
from tests.contract.conftest import OCTOBER
from tests.contract.helpers import FAULTS, Faults, check_fault, leaks, run

START, END = 1790805600, 1793487600  # 2026-10-01 00:00 CEST, 2026-11-01 00:00 CET: 2_682_000 s
DAY = 86400
TOKEN = "zbx-token-0123456789abcdef"
PATH = "/api_jsonrpc.php"
# Email: 7,200 s of excluded downtime (a patch night) are in neither uptime nor downtime.
EMAIL = {"uptime": 2674200, "downtime": 600, "sli": 100 * 2674200 / 2674800, "error_budget": 2074,
         "excluded_downtimes": [{"name": "Patch night", "period_from": START + 3 * DAY, "period_to": START + 3 * DAY
                                 + 7200}]}
VPN = {"uptime": 2682000, "downtime": 0, "sli": 100, "error_budget": 2682, "excluded_downtimes": []}
INTRANET = {"uptime": 2681940, "downtime": 60, "sli": 100 * 2681940 / 2682000, "error_budget": 2622,
            "excluded_downtimes": []}
PRINTER = {"uptime": 0, "downtime": 0, "sli": -1, "error_budget": 0, "excluded_downtimes": []}  # no schedule
STAGING = {"uptime": 2000000, "downtime": 682000, "sli": 74.57, "error_budget": -679318, "excluded_downtimes": []}
MONTHLY = {"periods": [{"period_from": START, "period_to": END}], "serviceids": [3, 5, 8, 10, 9],
           "sli": [[EMAIL, VPN, INTRANET, PRINTER, STAGING]]}
SERVICES = [
    {"serviceid": "3", "name": "mail-cluster", "problem_tags": [{"tag": "service", "operator": "0", "value": "mail"},
                                                                 {"tag": "env", "operator": "2", "value": "prod"}]},
    {"serviceid": "5", "name": "VPN", "problem_tags": [{"tag": "service", "operator": "0", "value": "vpn"}]},
    {"serviceid": "8", "name": "Intranet", "problem_tags": []},  # a parent service: its children have the tags
    {"serviceid": "10", "name": "Printer", "problem_tags": [{"tag": "service", "operator": "0", "value": "print"}]},
    {"serviceid": "9", "name": "Staging", "problem_tags": [{"tag": "env", "operator": "0", "value": "staging"}]},
]
PROBLEMS = {"mail": 4, "vpn": 0, "print": 2, "staging": 9}  # problems apart from each other, a day between them
GROUP_PROBLEMS = {("12", "15"): 3, ("20",): 1}


def problems(count: int, first: int = START + DAY) -> list[dict]:
    """`count` problem events a day apart, each recovered 10 minutes later (ids and clocks as strings)."""
    return [{"eventid": str(100 + n), "clock": str(first + n * DAY), "r_eventid": str(900 + n)} for n in range(count)]


def recoveries(params) -> list[dict]:
    """event.get by eventids: the recovery events of `problems`, 10 minutes after theirs."""
    return [{"eventid": rid, "clock": str(START + DAY + (int(rid) - 900) * DAY + 600)} for rid in params["eventids"]]


def zabbix(answers=None, asked=None):
    """A Zabbix front end: each JSON-RPC method answered from `answers` (a result, or a handler of the params)."""
    answers = {"sla.getsli": MONTHLY, "service.get": SERVICES, "event.get": count_events, **(answers or {})}

    def handle(request: Request) -> Response:
        body = json.loads(request.get_data(as_text=True))
        if asked is not None:
            asked.append((body, request.headers.get("Authorization"), request.headers.get("Content-Type")))
        answer = answers[body["method"]]
        result = answer(body["params"]) if callable(answer) else answer
        payload = result if isinstance(result, dict) and "error" in result else {"result": result}
        return Response(json.dumps({"jsonrpc": "2.0", **payload, "id": body["id"]}), content_type="application/json")
    return handle


def count_events(params):
    if "eventids" in params:
        return recoveries(params)
    if "groupids" in params:
        return problems(GROUP_PROBLEMS[tuple(params["groupids"])])
    return problems(PROBLEMS[params["tags"][0]["value"]])


def serve(httpserver, answers=None, asked=None, path=PATH):
    httpserver.expect_request(path, method="POST").respond_with_handler(zabbix(answers, asked))


def make(httpserver, session, root=PATH, **keys):
    table = {"token": Secret(env="ZABBIX_TOKEN"), "slaid": 7, "rename": {"mail-cluster": "Email"},
             "exclude": ["Staging"], **keys}
    collector = Zabbix(ZabbixSettings(base_url=httpserver.url_for(root), **table), name="uptime", session=session)
    collector.validate()
    return collector


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("ZABBIX_TOKEN", TOKEN)


def by_name(stats):
    return {s["name"]: s for s in stats.metrics()["services"]}


def test_the_months_sli_per_service_and_problem_events_as_incidents(httpserver, session):
    asked = []
    serve(httpserver, asked=asked)
    stats = make(httpserver, session).collect(OCTOBER)
    services = by_name(stats)
    assert list(services) == ["Email", "Intranet", "Printer", "VPN"]
    # Zabbix's own SLI for the one monthly period: excluded downtime counts neither way
    assert services["Email"] == {"name": "Email", "uptime_pct": 99.9776, "downtime_s": 600, "incidents": 4,
                                 "longest_outage_s": None, "status": "monitored"}
    assert services["VPN"] == {"name": "VPN", "uptime_pct": 100.0, "downtime_s": 0, "incidents": 0,
                               "longest_outage_s": None, "status": "monitored"}
    # no problem tags: incidents unknown, not 0
    assert services["Intranet"] == {"name": "Intranet", "uptime_pct": 99.9978, "downtime_s": 60, "incidents": None,
                                    "longest_outage_s": None, "status": "monitored"}
    # nothing of the SLA's schedule measured: no figures (not 100 %, not the -1 Zabbix sends)
    assert services["Printer"]["status"] == "not_monitored" and services["Printer"]["uptime_pct"] is None
    assert stats.partial is False and stats.warnings == () and stats.covered_days == 31
    requests = [body for body, _, _ in asked]
    assert requests[0] == {"jsonrpc": "2.0", "method": "sla.getsli", "id": 1,
                           "params": {"slaid": "7", "period_from": START, "period_to": END}}
    assert requests[1]["method"] == "service.get" and requests[1]["params"]["serviceids"] == ["3", "5", "8", "10", "9"]
    events = [body["params"] for body in requests if body["method"] == "event.get" and "eventids" not in body["params"]]
    assert events[0] == {"output": ["eventid", "clock", "r_eventid"], "source": 0, "object": 0, "value": 1,
                         "time_from": START, "time_till": END - 1, "evaltype": 0,
                         "tags": [{"tag": "service", "value": "mail", "operator": 1},
                                  {"tag": "env", "value": "prod", "operator": 0}]}
    assert len(events) == 2  # Email and VPN; not the excluded, the untagged or the unmeasured service
    # the token travels in the Authorization header only, never in a body ("auth" is gone since 7.2)
    assert {auth for _, auth, _ in asked} == {f"Bearer {TOKEN}"}
    assert all("auth" not in body and TOKEN not in json.dumps(body) for body in requests)
    assert {kind for _, _, kind in asked} == {"application/json"}


def daily(first_day: int = 0):
    """31 daily periods of the Berlin October (the 25th has 25 hours), from `first_day` on."""
    edges = [START + n * DAY + (3600 if n > 24 else 0) for n in range(32)]
    periods = [{"period_from": lo, "period_to": hi} for lo, hi in itertools.pairwise(edges)][first_day:]
    cells = [[{"uptime": day["period_to"] - day["period_from"] - 30 * (n % 2), "downtime": 30 * (n % 2), "sli": 1,
               "error_budget": 0, "excluded_downtimes": []}] for n, day in enumerate(periods)]
    return {"periods": periods, "serviceids": ["5"], "sli": cells}


def test_daily_periods_are_summed_over_the_month(httpserver, session):
    serve(httpserver, {"sla.getsli": daily()})
    [vpn] = make(httpserver, session).collect(OCTOBER).services
    # 15 odd days with 30 s down: 450 s of 2_682_000 (the per-period sli is not averaged)
    assert (vpn.downtime_s, vpn.uptime_pct, vpn.incidents) == (450, round(100 * (1 - 450 / 2682000), 4), 0)


def test_an_sla_effective_since_mid_month_makes_the_month_partial(httpserver, session):
    serve(httpserver, {"sla.getsli": daily(first_day=14)})
    stats = make(httpserver, session).collect(OCTOBER)
    assert stats.partial is True and stats.covered_days == 17
    assert "Zabbix SLA 7's reporting periods cover 17.0 of the month's 31.0 days in Europe/Berlin" in stats.warnings[0]


def test_an_sla_in_another_time_zone_is_refused_with_what_to_set(httpserver, session):
    utc_month = {**MONTHLY, "periods": [{"period_from": START + 7200, "period_to": END + 3600}]}
    serve(httpserver, {"sla.getsli": utc_month})
    with pytest.raises(SourceError, match="set the SLA's time zone to Europe/Berlin and its period to daily or"):
        make(httpserver, session).collect(OCTOBER)


def test_incidents_by_host_group_as_configured(httpserver, session):
    asked = []
    serve(httpserver, asked=asked)
    stats = make(httpserver, session, incidents="host_groups", host_groups={"Email": [12, 15], "5": [20]})
    services = by_name(stats.collect(OCTOBER))
    assert (services["Email"]["incidents"], services["VPN"]["incidents"], services["Intranet"]["incidents"]) == (
        3, 1, None)
    groups = [body["params"]["groupids"] for body, _, _ in asked if "groupids" in body["params"]]
    assert groups == [["12", "15"], ["20"]]


def test_no_incidents_asked_for_when_none(httpserver, session):
    asked = []
    serve(httpserver, asked=asked)
    services = by_name(make(httpserver, session, incidents="none").collect(OCTOBER))
    assert {s["incidents"] for s in services.values()} == {None}
    assert [body["method"] for body, _, _ in asked] == ["sla.getsli", "service.get"]


@pytest.mark.parametrize("root", ["", "/", PATH, "/zabbix"], ids=["bare", "bare/", "api", "subpath"])
def test_the_front_ends_address_works_as_well_as_its_api_jsonrpc_php(root, httpserver, session):
    path = "/zabbix" + PATH if root == "/zabbix" else PATH
    serve(httpserver, path=path)
    assert len(make(httpserver, session, root=root).collect(OCTOBER).services) == 4


@pytest.mark.parametrize("fault", FAULTS)
def test_faults(fault, httpserver, caplog):
    check_fault(Faults(PATH, lambda: serve(httpserver), lambda s: make(httpserver, s), OCTOBER, hint="ZABBIX_TOKEN",
                       secret=TOKEN, method="POST"), fault, httpserver, caplog)


@pytest.mark.parametrize("said", ["Not authorised.", "Not authorized.", "Session terminated, re-login, please.",
                                  "API token expired."])
def test_a_refused_token_reads_as_wrong_credentials(said, httpserver, session, caplog):
    refused = {"error": {"code": -32602, "message": "Invalid params.", "data": said}}
    serve(httpserver, {"sla.getsli": refused})
    result = run(make(httpserver, session), OCTOBER)
    assert result.status == "failed" and result.metrics == {}
    assert result.error == (f"source uptime: Zabbix refused the API token (Invalid params. {said}): check "
                            "ZABBIX_TOKEN (token_env): a token that is enabled, not expired, of a user who may read "
                            "the SLA and its services")


def test_a_token_file_is_named_when_refused(httpserver, session, tmp_path):
    secret = tmp_path / "zabbix.token"
    secret.write_text(TOKEN + "\n")
    serve(httpserver, {"sla.getsli": {"error": {"code": -32602, "message": "Invalid params.",
                                                "data": "Not authorized."}}})
    with pytest.raises(SourceError, match=f"check {secret} \\(token_file\\)"):
        make(httpserver, session, token=Secret(file=secret)).collect(OCTOBER)


def test_another_json_rpc_error_is_named_with_zabbixs_words_bounded_and_without_the_token(httpserver, session):
    long = "No permissions to referred object or it does not exist! " + f"Bearer {TOKEN} " + "x" * 5000
    serve(httpserver, {"sla.getsli": {"error": {"code": -32500, "message": "Application error.", "data": long}}})
    result = run(make(httpserver, session), OCTOBER)
    assert result.error.startswith("Zabbix answered sla.getsli with an error: Application error. No permissions "
                                   "to referred object or it does not exist! Bearer ***")
    assert result.error.endswith("; check slaid and the token user's access to the SLA")
    assert len(result.error) < 300 and leaks(result.error, TOKEN) == []


def test_an_error_of_event_get_names_the_method(httpserver, session):
    serve(httpserver, {"event.get": {"error": {"code": -32602, "message": "Invalid params.",
                                               "data": 'Invalid parameter "/tags/1/operator": value must be one of'}}})
    with pytest.raises(SourceError, match=r'^Zabbix answered event.get with an error: Invalid params. Invalid '
                                          r'parameter "/tags/1/operator"'):
        make(httpserver, session).collect(OCTOBER)


@pytest.mark.parametrize(("answer", "words"), [
    ({"periods": [{"period_from": START, "period_to": END}], "serviceids": [3, 5], "sli": [[EMAIL]]},
     "an sli matrix that is not 1 periods by 2 services"),
    ({"periods": [{"period_from": START, "period_to": END}], "serviceids": [3], "sli": [[EMAIL], [EMAIL]]},
     "an sli matrix that is not 1 periods by 1 services"),
    ({"periods": [{"period_from": START, "period_to": END}], "serviceids": [3], "sli": [[99.9]]},
     "an sli matrix that is not 1 periods by 1 services"),
    ({"periods": [{"period_from": START}], "serviceids": [3], "sli": [[EMAIL]]},
     "a period without period_from and period_to"),
    ({"serviceids": [3], "sli": [[EMAIL]]}, "no periods, serviceids and sli"),
    ([], "no periods, serviceids and sli"),
], ids=["short row", "extra row", "cell not an object", "period without end", "no periods", "a list"])
def test_an_sli_answer_of_the_wrong_shape_is_refused(answer, words, httpserver, session):
    serve(httpserver, {"sla.getsli": answer})
    with pytest.raises(SourceError, match=f"Zabbix answered sla.getsli with {words}; check base_url"):
        make(httpserver, session).collect(OCTOBER)


def test_a_service_without_its_uptime_is_unknown_not_zero(httpserver, session):
    cells = [{k: v for k, v in EMAIL.items() if k != "uptime"}, VPN, INTRANET, PRINTER, STAGING]
    serve(httpserver, {"sla.getsli": {**MONTHLY, "sli": [cells]}})
    email = by_name(make(httpserver, session).collect(OCTOBER))["Email"]
    assert email == {"name": "Email", "uptime_pct": None, "downtime_s": None, "incidents": None,
                     "longest_outage_s": None, "status": "unknown"}


@pytest.mark.parametrize("answer", ["4", [{"eventid": "1"}], [{"eventid": "1", "clock": "x"}]],
                         ids=["a count", "no clock", "a clock that is no number"])
def test_problem_events_of_another_shape_are_refused(answer, httpserver, session):
    serve(httpserver, {"event.get": answer})
    with pytest.raises(SourceError, match=r"Zabbix answered event\.get with .*problem events"):
        make(httpserver, session).collect(OCTOBER)


def test_problems_at_the_same_time_are_one_interruption(httpserver, session):
    """An outage fires several triggers with the service's tags (ping lost, HTTP down): one interruption.
    Problems that only touch count once too; one still open at the month's end lasts until it."""
    day2, day9 = START + DAY, START + 8 * DAY
    events = [{"eventid": "1", "clock": str(day2), "r_eventid": "11"},  # 02.10 00:00-00:30
              {"eventid": "2", "clock": str(day2 + 60), "r_eventid": "12"},  # inside the first
              {"eventid": "3", "clock": str(day2 + 1800), "r_eventid": "13"},  # starts as the first ends
              {"eventid": "4", "clock": str(day9), "r_eventid": "0"},  # 09.10, never recovered
              {"eventid": "5", "clock": str(day9 + 7200), "r_eventid": "0"}]
    ends = {"11": day2 + 1800, "12": day2 + 600, "13": day2 + 2400}

    def answer(params):
        if "eventids" in params:
            return [{"eventid": rid, "clock": str(ends[rid])} for rid in params["eventids"]]
        return events if params["tags"][0]["value"] == "mail" else []
    serve(httpserver, {"event.get": answer})
    services = by_name(make(httpserver, session).collect(OCTOBER))
    assert (services["Email"]["incidents"], services["VPN"]["incidents"]) == (2, 0)


@pytest.mark.parametrize(("keys", "message"), [
    ({"slaid": 0}, "source uptime: slaid: expected a value of at least 1, got 0"),
    ({"incidents": "all"}, "source uptime: incidents: expected one of 'problem_tags', 'host_groups', 'none', "
                           "got 'all'"),
    ({"incidents": "host_groups"}, 'source uptime: host_groups: incidents = "host_groups" needs a [host_groups] table'),
    ({"host_groups": {"Email": [12]}}, 'source uptime: host_groups: only read with incidents = "host_groups"'),
    ({"incidents": "host_groups", "host_groups": {"Email": []}}, "source uptime: host_groups: 'Email': expected a "
                                                                 "list of host group ids"),
    ({"incidents": "host_groups", "host_groups": {"Email": [0]}}, "source uptime: host_groups: 'Email'"),
], ids=["slaid", "incidents", "groups missing", "groups unused", "no groups", "group 0"])
def test_keys_are_checked_before_any_request(keys, message, session):
    table = {"token": Secret(env="ZABBIX_TOKEN"), "slaid": 7, **keys}
    collector = Zabbix(ZabbixSettings(base_url="https://zabbix.example.com", **table), name="uptime",
                       session=session)
    with pytest.raises(ConfigError) as info:
        collector.validate()
    assert str(info.value).startswith(message)


def test_a_plain_http_address_elsewhere_is_refused(session):
    collector = Zabbix(ZabbixSettings(base_url="http://zabbix.example.com", token=Secret(env="ZABBIX_TOKEN"),
                                      slaid=7), name="uptime", session=session)
    with pytest.raises(ConfigError, match="base_url: use https://"):
        collector.validate()


def test_an_sla_without_services_is_an_error_not_an_empty_section(httpserver, session):
    serve(httpserver, {"sla.getsli": {"periods": [{"period_from": START, "period_to": END}], "serviceids": [],
                                      "sli": [[]]}})
    with pytest.raises(SourceError, match="Zabbix SLA 7 has no services: check slaid and the SLA's service tags"):
        make(httpserver, session).collect(OCTOBER)


@pytest.mark.parametrize("answer", [{"jsonrpc": "2.0", "id": 1}, ["not", "json-rpc"]], ids=["no result", "a list"])
def test_an_answer_that_is_no_json_rpc_names_base_url(answer, httpserver, session):
    httpserver.expect_request(PATH, method="POST").respond_with_json(answer)
    with pytest.raises(SourceError, match=r"^Zabbix answered sla.getsli without a JSON-RPC result; check base_url"):
        make(httpserver, session).collect(OCTOBER)
