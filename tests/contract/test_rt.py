"""Request Tracker 5 REST2 contract: /REST/2.0/tickets with TicketSQL, page/per_page paging."""

from __future__ import annotations

import json

import pytest
from werkzeug import Request

from newsletter.collectors.rt import RequestTracker
from tests.contract.helpers import FAULTS, SECRET, Case, Sequence, check_fault, json_response, run, status
from tests.contract.scenario import EXPECTED, MONTH, ROWS, Row

EMPTY = "1970-01-01T00:00:00Z"  # RT's "never"


def iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else EMPTY


def item(row: Row, queue: str = "General") -> dict:
    status = "deleted" if row.deleted else ("resolved" if row.resolved else ("open" if row.first_response else "new"))
    return {"id": str(row.number), "type": "ticket", "_url": f"http://rt/REST/2.0/ticket/{row.number}",
            "Created": iso(row.created), "Started": iso(row.first_response), "Resolved": iso(row.resolved),
            "Status": status, "Queue": {"id": "1", "type": "queue", "Name": queue}}


def pager(items: list[dict], per_page: int, *, with_next: bool = True):
    """RT's list answer: total/count/page/pages/per_page/items, next_page except on the last page."""
    def handle(request: Request):
        page = int(request.args.get("page", 1))
        chunk = items[(page - 1) * per_page: page * per_page]
        pages = -(-len(items) // per_page)
        body = {"total": len(items), "count": len(chunk), "page": page, "pages": pages, "per_page": per_page,
                "items": chunk}
        if with_next and page < pages:
            body["next_page"] = f"http://rt/REST/2.0/tickets?page={page + 1}"
        return json_response(body)
    return handle


CASE = Case(RequestTracker, {"token_env": "RT_TOKEN", "page_size": 3}, "RT_TOKEN", "/REST/2.0/tickets",
            pager([item(ROWS[0])], 3))


@pytest.mark.parametrize("with_next", [True, False], ids=["next_page", "pages only"])
def test_numbers_over_three_pages(httpserver, monkeypatch, tmp_path, with_next):
    handler = Sequence(pager([item(r) for r in ROWS], 3, with_next=with_next))
    httpserver.expect_request("/REST/2.0/tickets").respond_with_handler(handler)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.status == "ok", result.error
    assert {k: result.metrics[k] for k in EXPECTED} == EXPECTED
    assert result.metrics["sla_met_pct"] is None and result.metrics["csat_pct"] is None  # RT has neither
    assert result.metrics["csat_responses"] is None  # unknown, not "0 ratings"
    assert result.metrics["top_categories"] == [["General", 4]]
    assert handler.calls == 3  # 9 tickets, 3 per page


def test_query_and_auth_sent(httpserver, monkeypatch, tmp_path):
    httpserver.expect_request("/REST/2.0/tickets").respond_with_handler(pager([], 3))
    collector = CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, queues=["IT", "Facilities"])
    assert run(collector, MONTH).status == "ok"
    request, _ = httpserver.log[0]
    assert request.headers["Authorization"] == f"token {SECRET}"
    # October in Berlin is [09-30 22:00Z, 10-31 23:00Z); the query asks a day wider each side, in UTC.
    assert request.args["query"] == ("Created < '2026-11-01 23:00:00' AND (Resolved >= '2026-09-29 22:00:00' "
                                     "OR Status = '__Active__') AND (Queue = 'IT' OR Queue = 'Facilities')")
    assert request.args["fields"] == "Created,Started,Resolved,Status,Queue"
    assert request.args["per_page"] == "3" and request.args["page"] == "1"


def test_reopened_ticket_is_open_and_empty_started_is_unknown(httpserver, monkeypatch, tmp_path):
    reopened = {**item(ROWS[1]), "Status": "open"}  # Resolved stays set after a reopen
    never_started = {**item(ROWS[2]), "Started": EMPTY, "Status": "new"}
    httpserver.expect_request("/REST/2.0/tickets").respond_with_handler(pager([reopened, never_started], 3))
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.metrics["opened"] == 2 and result.metrics["resolved"] == 0
    assert result.metrics["backlog_end"] == 2
    assert result.metrics["first_response_median_s"] == 600  # B's; C's 1970 "Started" is unknown, not 0


def test_page_that_repeats_forever_is_stopped(httpserver, monkeypatch, tmp_path):
    def same_page(request):
        return json_response({"page": 1, "pages": 99, "next_page": "x", "items": [item(ROWS[2])]})
    httpserver.expect_request("/REST/2.0/tickets").respond_with_handler(same_page)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH, max_pages=50)
    assert result.status == "failed" and "50 pages" in result.error


def test_answer_without_items_names_the_endpoint(httpserver, monkeypatch, tmp_path):
    httpserver.expect_request("/REST/2.0/tickets").respond_with_handler(status(200, body={"message": "hi"}))
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.status == "failed" and "/REST/2.0/tickets" in result.error


def test_record_of_another_shape_is_a_clear_failure(httpserver, monkeypatch, tmp_path):
    httpserver.expect_request("/REST/2.0/tickets").respond_with_handler(pager(["1", "2"], 3))
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.status == "failed"
    assert result.error == ("Request Tracker sent a ticket record in an unexpected shape (AttributeError); "
                            "check base_url and the API version")


@pytest.mark.parametrize("fault", FAULTS)
def test_faults(fault, httpserver, monkeypatch, tmp_path, caplog):
    check_fault(CASE.faults(httpserver, monkeypatch, tmp_path, MONTH), fault, httpserver, caplog)


def test_missing_token_variable_fails_the_source_naming_it(httpserver, monkeypatch, tmp_path):
    collector = CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path)
    monkeypatch.delenv("RT_TOKEN")
    result = run(collector, MONTH)
    assert result.status == "failed" and "RT_TOKEN" in result.error
    assert json.dumps(result.to_json())  # storable as is


def test_a_page_served_twice_counts_each_ticket_once(httpserver, monkeypatch, tmp_path):
    """RT serving page 1 again as page 2 (as offset paging does when tickets arrive meanwhile)."""
    items = [item(r) for r in ROWS]
    pages = [items[:4], items[:4], items[4:]]

    def repeating(request: Request):
        page = int(request.args.get("page", 1))
        body = {"total": 13, "count": len(pages[page - 1]), "page": page, "pages": 3, "per_page": 4,
                "items": pages[page - 1]}
        return json_response({**body, **({"next_page": "more"} if page < 3 else {})})
    httpserver.expect_request("/REST/2.0/tickets").respond_with_handler(repeating)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.status == "ok", result.error
    assert {k: result.metrics[k] for k in EXPECTED} == EXPECTED
    assert len(httpserver.log) == 3 and result.metrics["warnings"] == []


def test_a_ticket_dated_in_the_future_is_left_out_with_a_warning(httpserver, monkeypatch, tmp_path):
    future = {**item(ROWS[2]), "id": "99", "Created": "2099-01-01T00:00:00Z"}
    httpserver.expect_request("/REST/2.0/tickets").respond_with_handler(pager([*map(item, ROWS), future], 100))
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert {k: result.metrics[k] for k in EXPECTED} == EXPECTED
    assert result.metrics["partial"] is False
    assert result.metrics["warnings"] == ["1 ticket left out of the figures: 1 dated after the collection; check "
                                          "the help desk's dates (and its clock)"]


def test_pages_hidden_by_rights_are_skipped_not_taken_for_the_end(httpserver, monkeypatch, tmp_path):
    """When RT checks rights in code (the token's user may not see every queue), it sends no total
    or pages, a page may show none of its rows, and next_page names the next page holding one the
    user sees, which may be several pages on: the listing goes on from there."""
    visible = [item(r) for r in ROWS]
    seen_on = {1: visible[:3], 5: visible[3:6], 6: visible[6:]}  # pages 2-4: rows of a queue the user may not see

    def handle(request: Request):
        page = int(request.args.get("page", 1))
        shown = seen_on.get(page, [])
        later = next((p for p in sorted(seen_on) if p > page), None)
        body = {"total": None, "count": len(shown), "page": page, "pages": None, "per_page": 3, "items": shown}
        if later is not None:
            body["next_page"] = f"http://rt/REST/2.0/tickets?query=x&per_page=3&page={later}"
        return json_response(body)

    httpserver.expect_request("/REST/2.0/tickets").respond_with_handler(handle)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.status == "ok", result.error
    assert {k: result.metrics[k] for k in EXPECTED} == EXPECTED
    assert [r.args["page"] for r, _ in httpserver.log] == ["1", "5", "6"]
