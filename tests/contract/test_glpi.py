"""GLPI REST API contract: initSession (App-Token, `Authorization: user_token`), search/Ticket with date
criteria and forcedisplay, paged with `range` (Content-Range gives the total), then killSession.

The server below is a small GLPI: it checks the tokens as GLPI does (a wrong user token is 401, a wrong
App-Token 400), evaluates the search criteria it is sent over its tickets (those in the trash are never
searched) and answers with rows keyed by search option id, dates in its own zone without an offset."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from werkzeug import Request, Response

from newsletter.collectors import glpi
from newsletter.collectors.glpi import Glpi
from tests.contract.helpers import FAULTS, SECRET, Case, Faults, Sequence, check_fault, json_response, leaks, run
from tests.contract.scenario import BERLIN, EXPECTED, MONTH, ROWS, Row

APP = "app-T0KEN-3c2b1a-glpi"
SESSION = "83af7e620c83a50a18d3eac2f6ed05a3ca0bea62"
UTC_ZONE = ZoneInfo("UTC")


def local(moment: datetime | None, zone) -> str | None:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if moment else None


def record(row: Row, zone) -> dict:
    """A ticket's columns by search option id (status 2 processing, 5 solved, 6 closed)."""
    closed = row.key == "E"  # closed straight away: only the close date is set
    taken = int((row.first_response - row.created).total_seconds()) if row.first_response else 0
    due = row.created + timedelta(hours=24) if row.key in "ABE" else None
    return {"1": f"Ticket {row.key}", "2": row.number, "80": "Root entity",
            "15": local(row.created, zone), "17": None if closed else local(row.resolved, zone),
            "16": local(row.resolved, zone) if closed else None,
            "12": (6 if closed else 5) if row.resolved else 2,
            "7": "Hardware &#62; Laptops" if row.number < 4 else "Access",
            "150": taken, "18": local(due, zone), "82": int(bool(due and row.resolved and row.resolved > due)),
            "deleted": row.deleted}


def criteria(args) -> dict:
    """The criteria[...] query arguments as nested dicts: {"0": {"field": "15", ...}, "1": {"criteria": ...}}."""
    tree: dict = {}
    for name, value in args.items():
        if name.startswith("criteria["):
            node = tree
            *path, last = re.findall(r"\[([^\]]*)\]", name)
            for part in path:
                node = node.setdefault(part, {})
            node[last] = value
    return tree


def matches(ticket: dict, group: dict) -> bool:
    """GLPI's search: criteria in order, each ANDed or ORed (`link`) with what came before."""
    result = None
    for key in sorted(group, key=int):
        item = group[key]
        if "criteria" in item:
            value = matches(ticket, item["criteria"])
        else:
            field, kind, wanted = item["field"], item["searchtype"], item["value"]
            have = ticket.get(field)
            if field == "12" and kind == "equals" and wanted == "notold":
                value = have not in (5, 6)
            elif kind == "lessthan":
                value = have is not None and have < wanted
            elif kind == "morethan":
                value = have is not None and have > wanted
            else:
                raise AssertionError(f"unexpected criterion {item}")
        link = item.get("link", "AND")
        result = value if result is None else (result or value if link == "OR" else result and value)
    return bool(result)


class Glpi_:
    """initSession, search/Ticket and killSession of one GLPI whose dates are in `zone`."""

    def __init__(self, rows: list[Row], zone=BERLIN, app_token: str | None = APP) -> None:
        self.tickets = [record(r, zone) for r in rows]
        self.app_token = app_token
        self.killed = 0

    def init(self, request: Request) -> Response:
        if self.app_token and request.headers.get("App-Token") != self.app_token:
            return json_response(["ERROR_WRONG_APP_TOKEN_PARAMETER", "parameter app_token seems wrong"], 400)
        if request.headers.get("Authorization") != f"user_token {SECRET}":
            return json_response(["ERROR_GLPI_LOGIN_USER_TOKEN", "parameter user_token seems invalid"], 401)
        return json_response({"session_token": SESSION})

    def search(self, request: Request) -> Response:
        if request.headers.get("Session-Token") != SESSION:
            return json_response(["ERROR_SESSION_TOKEN_INVALID", "session_token seems invalid"], 401)
        found = sorted((t for t in self.tickets if not t["deleted"] and matches(t, criteria(request.args))),
                       key=lambda t: t[request.args["sort"]])
        shown = {v for k, v in request.args.items() if k.startswith("forcedisplay[")} | {"1", "2", "80"}
        start, end = (int(n) for n in request.args.get("range", "0-49").split("-"))
        if found and start >= len(found):
            return json_response(["ERROR_RANGE_EXCEED_TOTAL", "Provided range exceed total count of data"], 400)
        chunk = [{k: v for k, v in t.items() if k in shown} for t in found[start:end + 1]]
        last = start + len(chunk) - 1
        headers = {"Content-Range": f"{start}-{last}/{len(found)}", "Accept-Range": "Ticket 1000"}
        body = {"totalcount": len(found), "count": len(chunk), "sort": [2], "order": ["ASC"], "data": chunk,
                "content-range": f"{start}-{last}/{len(found)}"}
        return json_response(body, 206 if len(chunk) < len(found) else 200, headers)

    def kill(self, request: Request) -> Response:
        self.killed += 1
        return Response("", 200) if request.headers.get("Session-Token") == SESSION else json_response(
            ["ERROR_SESSION_TOKEN_INVALID", "session_token seems invalid"], 401)

    def serve(self, httpserver) -> Sequence:
        httpserver.expect_request(glpi.INIT).respond_with_handler(self.init)
        searched = Sequence(self.search)
        httpserver.expect_request(glpi.SEARCH).respond_with_handler(searched)
        httpserver.expect_request(glpi.KILL).respond_with_handler(self.kill)
        return searched


SETTINGS = {"user_token_env": "GLPI_USER_TOKEN", "app_token_env": "GLPI_APP_TOKEN", "page_size": 3}
CASE = Case(Glpi, SETTINGS, "GLPI_USER_TOKEN", glpi.SEARCH, Glpi_(ROWS[:2]).search)


def build(httpserver, monkeypatch, tmp_path, **keys):
    monkeypatch.setenv("GLPI_APP_TOKEN", APP)
    return CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, **keys)


def paths(httpserver) -> list[str]:
    return [request.path for request, _ in httpserver.log]


def test_the_scenario_page_by_page_in_one_session(httpserver, monkeypatch, tmp_path):
    server = Glpi_(ROWS)
    searched = server.serve(httpserver)
    result = run(build(httpserver, monkeypatch, tmp_path), MONTH)
    assert result.status == "ok", result.error
    assert {k: result.metrics[k] for k in EXPECTED} == EXPECTED  # the backlog too: old open tickets are searched
    assert result.metrics["sla_met_pct"] == 66.67  # A late; B and E in time; C D had no SLA
    assert result.metrics["csat_pct"] is None and result.metrics["csat_responses"] is None
    assert dict(result.metrics["top_categories"]) == {"Hardware > Laptops": 2, "Access": 2}  # B C | D E
    # A B C D E G I match (H was solved before the month, X is in the trash): 7 tickets, 3 a page
    assert paths(httpserver) == [glpi.INIT, glpi.SEARCH, glpi.SEARCH, glpi.SEARCH, glpi.KILL]
    assert searched.calls == 3 and server.killed == 1
    init, first = httpserver.log[0][0], httpserver.log[1][0]
    assert init.headers["Authorization"] == f"user_token {SECRET}" and init.headers["App-Token"] == APP
    assert first.headers["Session-Token"] == SESSION and first.headers["App-Token"] == APP
    assert "Authorization" not in first.headers
    assert [r.args["range"] for r, _ in httpserver.log[1:4]] == ["0-2", "3-5", "6-8"]
    assert criteria(first.args) == {
        "0": {"field": "15", "searchtype": "lessthan", "value": "2026-11-02 00:00:00"},  # Berlin, a day late
        "1": {"link": "AND", "criteria": {
            "0": {"field": "12", "searchtype": "equals", "value": "notold"},
            "1": {"link": "OR", "field": "17", "searchtype": "morethan", "value": "2026-09-30 00:00:00"},
            "2": {"link": "OR", "field": "16", "searchtype": "morethan", "value": "2026-09-30 00:00:00"}}}}
    shown = {v for k, v in first.args.items() if k.startswith("forcedisplay[")}
    assert shown == {"2", "15", "17", "16", "12", "150", "18", "82", "7"}
    assert (first.args["sort"], first.args["order"]) == ("2", "ASC")


def test_dates_in_the_zone_glpi_writes_them(httpserver, monkeypatch, tmp_path):
    Glpi_(ROWS, zone=UTC_ZONE).serve(httpserver)
    result = run(build(httpserver, monkeypatch, tmp_path, timezone="UTC"), MONTH)
    assert {k: result.metrics[k] for k in EXPECTED} == EXPECTED
    assert criteria(httpserver.log[1][0].args)["0"]["value"] == "2026-11-01 23:00:00"


def test_read_in_the_wrong_zone_the_numbers_differ(httpserver, monkeypatch, tmp_path):
    """The check that the zone matters: GLPI's UTC dates read as Berlin's move B out of October."""
    Glpi_(ROWS, zone=UTC_ZONE).serve(httpserver)
    result = run(build(httpserver, monkeypatch, tmp_path), MONTH)
    assert {k: result.metrics[k] for k in EXPECTED} != EXPECTED


def test_without_an_app_token_none_is_sent(httpserver, monkeypatch, tmp_path):
    Glpi_(ROWS, app_token=None).serve(httpserver)
    keys = {"user_token_env": "GLPI_USER_TOKEN", "page_size": 100}
    collector = Case(Glpi, keys, "GLPI_USER_TOKEN", glpi.SEARCH, CASE.page).build(
        httpserver.url_for("/"), monkeypatch, tmp_path)
    result = run(collector, MONTH)
    assert result.status == "ok", result.error
    assert all("App-Token" not in request.headers for request, _ in httpserver.log)
    assert paths(httpserver) == [glpi.INIT, glpi.SEARCH, glpi.KILL]  # 7 tickets in one page of 100


def test_no_ticket_at_all(httpserver, monkeypatch, tmp_path):
    Glpi_([]).serve(httpserver)
    result = run(build(httpserver, monkeypatch, tmp_path), MONTH)
    assert result.status == "ok", result.error
    assert (result.metrics["opened"], result.metrics["backlog_end"]) == (0, 0)
    assert paths(httpserver) == [glpi.INIT, glpi.SEARCH, glpi.KILL]


def test_an_empty_page_before_the_total_is_not_the_end(httpserver, monkeypatch, tmp_path):
    """GLPI counted 7 tickets but sent none for 3-5: the month would lack them, so the source fails."""
    server = Glpi_(ROWS)
    httpserver.expect_request(glpi.INIT).respond_with_handler(server.init)

    def search(request: Request) -> Response:
        answer = server.search(request)
        if request.args["range"] != "3-5":
            return answer
        body = {**answer.get_json(), "count": 0, "data": []}
        return json_response(body, 206, {"Content-Range": "3-5/7"})

    httpserver.expect_request(glpi.SEARCH).respond_with_handler(search)
    httpserver.expect_request(glpi.KILL).respond_with_handler(server.kill)
    result = run(build(httpserver, monkeypatch, tmp_path), MONTH)
    assert result.status == "failed"
    assert result.error.endswith("GLPI sent no tickets for 3-5 of the 7 it counted (/apirest.php/search/Ticket); "
                                 "the tickets changed while being read, or GLPI miscounted: run again")
    assert server.killed == 1


def test_a_wrong_user_token_is_refused_and_named(httpserver, monkeypatch, tmp_path):
    server = Glpi_(ROWS)
    server.serve(httpserver)
    collector = build(httpserver, monkeypatch, tmp_path)
    monkeypatch.setenv("GLPI_USER_TOKEN", "wrong-" + SECRET[::-1])
    result = run(collector, MONTH)
    assert result.status == "failed" and "401" in result.error and "GLPI_USER_TOKEN" in result.error
    assert paths(httpserver) == [glpi.INIT]  # no session: nothing searched, nothing to close
    assert leaks(result.error, SECRET[::-1]) == [] and APP not in result.error


def test_a_wrong_app_token_is_explained(httpserver, monkeypatch, tmp_path):
    Glpi_(ROWS).serve(httpserver)
    collector = build(httpserver, monkeypatch, tmp_path)
    monkeypatch.setenv("GLPI_APP_TOKEN", "not-the-app-token-at-all")
    result = run(collector, MONTH)
    assert result.status == "failed", result.error
    assert "ERROR_WRONG_APP_TOKEN_PARAMETER" in result.error and "GLPI_APP_TOKEN" in result.error
    assert "not-the-app-token" not in result.error and "\n" not in result.error


def test_the_session_is_closed_when_the_search_fails(httpserver, monkeypatch, tmp_path):
    server = Glpi_(ROWS)
    httpserver.expect_request(glpi.INIT).respond_with_handler(server.init)
    httpserver.expect_request(glpi.SEARCH).respond_with_json({"message": "broken"}, status=500)
    httpserver.expect_request(glpi.KILL).respond_with_handler(server.kill)
    result = run(build(httpserver, monkeypatch, tmp_path), MONTH)
    assert result.status == "failed" and "500" in result.error
    assert server.killed == 1


def test_a_search_answer_without_rows_is_explained(httpserver, monkeypatch, tmp_path):
    server = Glpi_(ROWS)
    httpserver.expect_request(glpi.INIT).respond_with_handler(server.init)
    httpserver.expect_request(glpi.SEARCH).respond_with_json({"totalcount": 7, "data": "none"})
    httpserver.expect_request(glpi.KILL).respond_with_handler(server.kill)
    result = run(build(httpserver, monkeypatch, tmp_path), MONTH)
    assert result.status == "failed" and glpi.SEARCH in result.error and "base_url" in result.error


@pytest.mark.parametrize("keys", [{"timezone": "Mars/Olympus"}, {"page_size": 0}, {"category_field": 0}])
def test_bad_keys(keys, monkeypatch, tmp_path):
    from newsletter.errors import ConfigError
    with pytest.raises(ConfigError, match=f"^source helpdesk: {next(iter(keys))}: "):
        CASE.build("https://glpi.example.com", monkeypatch, tmp_path, **keys)


def faults(httpserver, monkeypatch, tmp_path, path: str) -> Faults:
    """check_fault's target: the faults on `path`, GLPI's other endpoints answering as usual."""
    monkeypatch.setenv("GLPI_APP_TOKEN", APP)
    target = CASE.faults(httpserver, monkeypatch, tmp_path, MONTH)
    target.path = path
    target.serve = lambda: Glpi_(ROWS[:2]).serve(httpserver)
    return target


@pytest.mark.parametrize("fault", FAULTS)
def test_faults_on_the_search(fault, httpserver, monkeypatch, tmp_path, caplog):
    check_fault(faults(httpserver, monkeypatch, tmp_path, glpi.SEARCH), fault, httpserver, caplog)
    assert httpserver.log[-1][0].path == glpi.KILL  # the session is closed after a fault too


@pytest.mark.parametrize("fault", FAULTS)
def test_faults_on_the_session(fault, httpserver, monkeypatch, tmp_path, caplog):
    check_fault(faults(httpserver, monkeypatch, tmp_path, glpi.INIT), fault, httpserver, caplog)


def test_a_redirect_elsewhere_gets_no_token(httpserver, monkeypatch, tmp_path):
    """A proxy in front of GLPI that sends the client to another server (a sign-in page, say): requests
    drops Authorization there itself, but would send the App-Token and Session-Token: refused."""
    from pytest_httpserver import HTTPServer

    server = Glpi_(ROWS)
    elsewhere = HTTPServer(host="127.0.0.1")
    elsewhere.start()
    try:
        elsewhere.expect_request(glpi.SEARCH).respond_with_json({"message": "sign in"}, status=401)
        httpserver.expect_request(glpi.INIT).respond_with_handler(server.init)
        httpserver.expect_request(glpi.SEARCH).respond_with_handler(
            lambda request: Response("", 302, {"Location": elsewhere.url_for(glpi.SEARCH)}))
        httpserver.expect_request(glpi.KILL).respond_with_handler(server.kill)
        result = run(build(httpserver, monkeypatch, tmp_path), MONTH)
        assert result.status == "failed"
        sent = [dict(request.headers) for request, _ in elsewhere.log]
    finally:
        elsewhere.clear()
        elsewhere.stop()
    assert sent == [] and "redirected to another server" in result.error
    for token in (APP, SESSION, SECRET):
        assert leaks(result.error, token) == [], token
