"""ServiceNow contract: Table API with sysparm_query in UTC, offset paging, ACL-short pages, task_sla."""

from __future__ import annotations

import pytest
from werkzeug import Request

from newsletter.collectors.servicenow import ServiceNow
from tests.contract.helpers import FAULTS, SECRET, Case, Sequence, check_fault, json_response, run
from tests.contract.scenario import EXPECTED, LIVE, MONTH, Row

PATH = "/api/now/table/incident"


def glide(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""  # UTC, "" when empty


def sys_id(row: Row) -> str:
    return f"{row.number:032x}"


def incident(row: Row) -> dict:
    return {"sys_id": sys_id(row), "number": f"INC00100{row.number:02d}", "opened_at": glide(row.created),
            "resolved_at": glide(row.resolved), "closed_at": "", "state": "6" if row.resolved else "2",
            "category": "hardware" if row.number % 2 else "network", "made_sla": made_sla(row)}


def made_sla(row: Row) -> str:
    """The incident's own flag, as the SLA engine sets it: false once resolution took over a day."""
    return "false" if row.resolved and (row.resolved - row.created).total_seconds() > 86400 else "true"


def table(pages: list[list[Row]], total: int | None, link: bool = True):
    """Offset paging: a page may hold fewer rows than asked (ACLs), the total counts them all."""
    def handle(request: Request):
        limit, offset = int(request.args["sysparm_limit"]), int(request.args["sysparm_offset"])
        rows = pages[offset // limit] if offset // limit < len(pages) else []
        headers = {} if total is None else {"X-Total-Count": str(total)}
        if link:
            rels = [f'<{request.base_url}?sysparm_offset=0>;rel="first"']
            if offset + limit < (total or 0):
                rels.append(f'<{request.base_url}?sysparm_offset={offset + limit}>;rel="next"')
            headers["Link"] = ",".join(rels)
        return json_response({"result": [incident(r) for r in rows]}, headers=headers)
    return handle


def task_sla(request: Request, before: int = 0):
    """SLA records of the asked tasks: a response SLA stopped at the first response, and a
    resolution SLA breached when resolution took over a day; `before` canceled ones of each task
    first. Offset paging as the incident table's, with its X-Total-Count."""
    wanted = request.args["sysparm_query"].removeprefix("taskIN").split("^")[0].split(",")
    result = [{"task": task, "has_breached": "false", "stage": "cancelled", "end_time": "",
               "sla.target": "resolution"} for task in wanted for _ in range(before)]
    for row in LIVE:
        if sys_id(row) not in wanted:
            continue
        if row.first_response:
            result.append({"task": sys_id(row), "has_breached": "false", "stage": "completed",
                           "end_time": glide(row.first_response), "sla.target": "response"})
        if row.resolved:
            late = (row.resolved - row.created).total_seconds() > 86400
            result.append({"task": sys_id(row), "has_breached": "true" if late else "false", "stage": "completed",
                           "end_time": glide(row.resolved), "sla.target": "resolution"})
    limit, offset = int(request.args["sysparm_limit"]), int(request.args.get("sysparm_offset", 0))
    return json_response({"result": result[offset:offset + limit]}, headers={"X-Total-Count": str(len(result))})


PAGES = [LIVE[:3], LIVE[3:6], [LIVE[7]]]  # H (LIVE[6]) hidden by an ACL: the last page is short
SETTINGS = {"username": "newsletter", "password_env": "SN_PASSWORD", "page_size": 3}
CASE = Case(ServiceNow, SETTINGS, "SN_PASSWORD", PATH, table([LIVE[:1]], 1))


@pytest.mark.parametrize("link", [True, False], ids=["Link", "X-Total-Count"])
def test_numbers_over_three_pages(httpserver, monkeypatch, tmp_path, link):
    handler = Sequence(table(PAGES, 8, link))
    httpserver.expect_request(PATH).respond_with_handler(handler)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, first_response_field="u_first"), MONTH)
    assert result.status == "ok", result.error
    # No first-response field in the answer and no task_sla: response times are unknown, not zero.
    expected = {**EXPECTED, "first_response_median_s": None, "first_response_p90_s": None}
    assert {k: result.metrics[k] for k in EXPECTED} == expected
    assert result.metrics["sla_met_pct"] == 66.67  # the incidents' own made_sla: A breached; B and E met
    assert handler.calls == 3
    assert [r.args["sysparm_offset"] for r, _ in httpserver.log] == ["0", "3", "6"]
    first, _ = httpserver.log[0]
    assert "made_sla" in first.args["sysparm_fields"].split(",")
    assert first.args["sysparm_query"] == ("opened_at<2026-10-31 23:00:00^resolved_at>=2026-09-30 22:00:00"
                                           "^ORresolved_atISEMPTY^state!=8^ORDERBYopened_at^ORDERBYsys_id")
    assert first.authorization.username == "newsletter" and first.authorization.password == SECRET


def test_without_paging_headers_reads_until_an_empty_page(httpserver, monkeypatch, tmp_path):
    handler = Sequence(table(PAGES, None, link=False))
    httpserver.expect_request(PATH).respond_with_handler(handler)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.metrics["opened"] == 4 and handler.calls == 4


@pytest.mark.parametrize("sla", ["task_sla", True], ids=["task_sla", "true (as before)"])
def test_sla_and_first_response_from_task_sla(httpserver, monkeypatch, tmp_path, sla):
    httpserver.expect_request(PATH).respond_with_handler(table(PAGES, 8))
    httpserver.expect_request("/api/now/table/task_sla").respond_with_handler(task_sla)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, sla=sla), MONTH)
    assert result.status == "ok", result.error
    assert {k: result.metrics[k] for k in EXPECTED} == EXPECTED
    assert result.metrics["sla_met_pct"] == 66.67  # A breached; B and E met
    assert result.metrics["csat_responses"] is None
    assert len(httpserver.log) == 6  # one task_sla request per page of up to 100 tickets
    assert result.warnings == []


def test_task_sla_rows_past_one_page_are_read(httpserver, monkeypatch, tmp_path):
    """An incident whose SLA was re-attached many times has many task_sla rows: those past the
    first page still count (the real ones come after 400 canceled rows of each ticket)."""
    httpserver.expect_request(PATH).respond_with_handler(table(PAGES, 8))
    httpserver.expect_request("/api/now/table/task_sla").respond_with_handler(
        lambda request: task_sla(request, before=400))
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, sla="task_sla"), MONTH)
    assert result.status == "ok", result.error
    assert result.metrics["sla_met_pct"] == 66.67  # A breached; B and E met
    assert {k: result.metrics[k] for k in EXPECTED} == EXPECTED
    offsets = [r.args.get("sysparm_offset") for r, _ in httpserver.log if r.path.endswith("task_sla")]
    assert offsets == ["0", "1000", "0", "1000", "0"]  # pages of 3, 3 and 1 tickets


def test_made_sla_by_default_and_no_task_sla_request(httpserver, monkeypatch, tmp_path):
    httpserver.expect_request(PATH).respond_with_handler(table(PAGES, 8))
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.status == "ok", result.error
    assert result.metrics["sla_met_pct"] == 66.67
    assert all(r.path == PATH for r, _ in httpserver.log)


@pytest.mark.parametrize("code", [403, 404])
def test_unreadable_task_sla_falls_back_to_made_sla_with_a_warning(code, httpserver, monkeypatch, tmp_path):
    httpserver.expect_request(PATH).respond_with_handler(table(PAGES, 8))
    httpserver.expect_request("/api/now/table/task_sla").respond_with_json(
        {"error": {"message": "No Record found", "detail": "ACL restricts the record"}, "status": "failure"},
        status=code)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, sla=True), MONTH)
    assert result.status == "ok", result.error
    assert result.metrics["sla_met_pct"] == 66.67  # from made_sla
    assert result.metrics["first_response_median_s"] is None  # task_sla held it: unknown, not zero
    assert result.warnings == [f"task_sla answered {code}: SLA met read from the tickets' own made_sla "
                               "instead, first response unknown; give the user read access to task_sla "
                               '(or set sla = "made_sla")']
    assert sum(r.path.endswith("task_sla") for r, _ in httpserver.log) == 1  # asked once, not per page


def test_sla_off(httpserver, monkeypatch, tmp_path):
    httpserver.expect_request(PATH).respond_with_handler(table(PAGES, 8))
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, sla=False), MONTH)
    assert result.metrics["sla_met_pct"] is None
    assert "made_sla" not in httpserver.log[0][0].args["sysparm_fields"].split(",")


def test_bearer_token_and_scope(httpserver, monkeypatch, tmp_path):
    httpserver.expect_request("/api/now/table/sc_req_item").respond_with_handler(table([[]], 0))
    case = Case(ServiceNow, {"token_env": "SN_TOKEN"}, "SN_TOKEN", PATH, CASE.page)
    collector = case.build(httpserver.url_for("/"), monkeypatch, tmp_path, table="sc_req_item",
                           query="assignment_group.name=Service Desk")
    assert run(collector, MONTH).status == "ok"
    request, _ = httpserver.log[0]
    assert request.headers["Authorization"] == f"Bearer {SECRET}"
    assert request.args["sysparm_query"].startswith("assignment_group.name=Service Desk^opened_at<")


@pytest.mark.parametrize("keys", [
    {"username": "u"},  # neither password nor token
    {"username": "u", "password_env": "P", "token_env": "T"},  # both
    {"password_env": "P"},  # password without a user
    {"token_env": "T", "query": "active=true^ORDERBYnumber"},
    {"token_env": "T", "table": "incident; drop"},
    {"token_env": "T", "page_size": 0},
])
def test_bad_settings_are_refused_before_any_request(keys, monkeypatch, tmp_path):
    from newsletter.errors import ConfigError
    case = Case(ServiceNow, {}, "SN_PASSWORD", PATH, CASE.page)
    with pytest.raises(ConfigError, match="source helpdesk"):
        case.build("https://x.service-now.com", monkeypatch, tmp_path, **keys)


def test_an_unknown_sla_source_is_refused(monkeypatch, tmp_path):
    from newsletter.errors import ConfigError
    with pytest.raises(ConfigError, match="sla: expected one of 'made_sla', 'task_sla', 'none' or true or false"):
        CASE.build("https://x.service-now.com", monkeypatch, tmp_path, sla="yes")


@pytest.mark.parametrize("fault", FAULTS)
def test_faults(fault, httpserver, monkeypatch, tmp_path, caplog):
    check_fault(CASE.faults(httpserver, monkeypatch, tmp_path, MONTH), fault, httpserver, caplog)


def test_a_canceled_incident_is_not_open(httpserver, monkeypatch, tmp_path):
    """Canceled (state 8) is no resolution and leaves resolved_at empty: not open either, so it is
    neither in the backlog (every canceled incident ever would be) nor asked for."""
    canceled = [{"sys_id": f"{n:032x}", "number": f"INC00200{n:02d}", "opened_at": opened, "resolved_at": "",
                 "closed_at": "", "state": "8", "category": "network", "made_sla": "true"}
                for n, opened in ((1, "2026-03-02 09:00:00"), (2, "2026-10-12 09:00:00"))]

    def handle(request: Request):
        body = table([LIVE], 8)(request).get_json()
        return json_response({"result": body["result"] + canceled}, headers={"X-Total-Count": "10"})

    httpserver.expect_request(PATH).respond_with_handler(handle)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, page_size=100), MONTH)
    assert result.status == "ok", result.error
    assert (result.metrics["opened"], result.metrics["resolved"], result.metrics["backlog_end"]) == (4, 3, 3)
    assert "^state!=8^" in httpserver.log[0][0].args["sysparm_query"]


def test_another_task_table_counts_its_closed_records(httpserver, monkeypatch, tmp_path):
    """sc_req_item has no resolved_at and closes with states 3, 4 and 7 (complete, incomplete,
    skipped): a record is done once it is no longer active, at closed_at, as in every task table."""
    def item(row: Row) -> dict:
        return {"sys_id": sys_id(row), "number": f"RITM00100{row.number:02d}", "opened_at": glide(row.created),
                "closed_at": glide(row.resolved), "state": ("3" if row.number % 2 else "4") if row.resolved else "2",
                "active": "false" if row.resolved else "true", "category": "hardware"}

    httpserver.expect_request("/api/now/table/sc_req_item").respond_with_handler(
        lambda request: json_response({"result": [item(r) for r in LIVE]}, headers={"X-Total-Count": "8"}))
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, table="sc_req_item", page_size=100,
                            sla="none"), MONTH)
    assert result.status == "ok", result.error
    expected = {**EXPECTED, "first_response_median_s": None, "first_response_p90_s": None}
    assert {k: result.metrics[k] for k in EXPECTED} == expected
    request, _ = httpserver.log[0]
    assert request.args["sysparm_query"].startswith(  # no resolved_at there: ServiceNow would drop the condition
        "opened_at<2026-10-31 23:00:00^closed_at>=2026-09-30 22:00:00^ORclosed_atISEMPTY^")
    assert "active" in request.args["sysparm_fields"].split(",")
