"""Freshservice v2 contract: /api/v2/tickets?updated_since&include=stats, Link-header paging."""

from __future__ import annotations

import json
import time

import pytest
from werkzeug import Request

from newsletter.collectors.freshservice import Freshservice
from tests.contract.helpers import FAULTS, SECRET, Case, Sequence, check_fault, json_response, run
from tests.contract.scenario import EXPECTED, MONTH, ROWS, Row


def zulu(moment) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def ticket(row: Row) -> dict:
    late = bool(row.resolved and (row.resolved - row.created).total_seconds() > 86400)
    closed = row.key == "E"  # closed straight away: only closed_at is set
    return {"id": row.number, "workspace_id": 2, "created_at": zulu(row.created), "updated_at": zulu(row.created),
            "status": (5 if closed else 4) if row.resolved else 2,
            "category": "Hardware" if row.number < 4 else "Access",
            "fr_escalated": False, "is_escalated": late, "deleted": row.deleted,
            "due_by": zulu(row.created), "fr_due_by": zulu(row.created),
            "stats": {"first_responded_at": zulu(row.first_response),
                      "resolved_at": None if closed else zulu(row.resolved),
                      "closed_at": zulu(row.resolved) if closed else None}}


def pages(rows: list[Row], per_page: int):
    """Freshservice sets `Link: <...page=N+1>; rel="next"` on every page but the last."""
    def handle(request: Request):
        page = int(request.args.get("page", 1))
        chunk = rows[(page - 1) * per_page: page * per_page]
        headers = {"X-RateLimit-Total": "500", "X-RateLimit-Remaining": "499"}
        if page * per_page < len(rows):
            headers["Link"] = f'<{request.base_url}?page={page + 1}&per_page={per_page}>; rel="next"'
        return json_response({"tickets": [ticket(r) for r in chunk]}, headers=headers)
    return handle


SETTINGS = {"api_key_env": "FRESHSERVICE_KEY", "page_size": 3}
CASE = Case(Freshservice, SETTINGS, "FRESHSERVICE_KEY", "/api/v2/tickets", pages(ROWS[:1], 3))


def test_numbers_over_three_pages(httpserver, monkeypatch, tmp_path):
    handler = Sequence(pages(ROWS, 3))
    httpserver.expect_request(CASE.path).respond_with_handler(handler)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.status == "ok", result.error
    assert {k: result.metrics[k] for k in EXPECTED} == {**EXPECTED, "backlog_end": None}
    assert result.metrics["sla_met_pct"] == 66.67  # A escalated (36 h); B and E within
    assert result.metrics["csat_pct"] is None and result.metrics["csat_responses"] is None
    assert result.metrics["top_categories"] == [["Access", 2], ["Hardware", 2]]  # equal counts: by name
    assert handler.calls == 3  # the full last page carries no Link: no fourth request
    request, _ = httpserver.log[0]
    assert request.args["updated_since"] == "2026-09-30T22:00:00Z"  # 1 October, 00:00 in Berlin
    assert request.args["include"] == "stats" and request.args["per_page"] == "3"
    assert "workspace_id" not in request.args
    assert request.authorization.username == SECRET and request.authorization.password == "X"


def test_each_workspace_in_turn(httpserver, monkeypatch, tmp_path):
    def by_workspace(request: Request):  # ticket ids are the account's: each workspace has its own
        space = int(request.args["workspace_id"])
        answer = pages(ROWS[1:3], 3)(request)
        tickets = [{**t, "id": t["id"] + 100 * space, "workspace_id": space}
                   for t in json.loads(answer.get_data())["tickets"]]
        headers = {k: v for k, v in answer.headers.items() if k == "Link" or k.startswith("X-")}
        return json_response({"tickets": tickets}, headers=headers)
    httpserver.expect_request(CASE.path).respond_with_handler(by_workspace)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, workspace_ids=[2, 3]), MONTH)
    assert [r.args["workspace_id"] for r, _ in httpserver.log] == ["2", "3"]
    assert result.metrics["opened"] == 4  # B and C in each


def test_budget_spent_waits_for_reset(httpserver, monkeypatch, tmp_path, caplog):
    headers = {"X-RateLimit-Total": "100", "X-RateLimit-Remaining": "0", "Retry-After": "0.25"}
    httpserver.expect_request(CASE.path).respond_with_json({"tickets": []}, headers=headers)
    collector = CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path)
    caplog.set_level("INFO", logger="newsletter")
    started = time.monotonic()
    assert run(collector, MONTH).status == "ok"
    assert time.monotonic() - started >= 0.24
    assert "Freshservice rate limit reached; waiting 0.2 s" in caplog.text


def test_a_ticket_marked_as_spam_does_not_count(httpserver, monkeypatch, tmp_path):
    """Freshservice keeps `spam` beside `deleted` on a ticket: neither is IT's work."""
    def with_spam(request: Request):
        answer = pages(ROWS, 100)(request)
        tickets = json.loads(answer.get_data())["tickets"]
        junk = {**tickets[1], "id": 99, "spam": True}  # as B: created and resolved in October
        return json_response({"tickets": [{**t, "spam": False} for t in tickets] + [junk]})
    httpserver.expect_request(CASE.path).respond_with_handler(with_spam)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, page_size=100), MONTH)
    assert result.status == "ok", result.error
    assert {k: result.metrics[k] for k in EXPECTED} == {**EXPECTED, "backlog_end": None}


@pytest.mark.parametrize("ids", [[], [0, 2], [-1]])
def test_bad_workspace_ids(ids, monkeypatch, tmp_path):
    from newsletter.errors import ConfigError
    with pytest.raises(ConfigError, match="workspace_ids"):
        CASE.build("https://x.freshservice.com", monkeypatch, tmp_path, workspace_ids=ids)


@pytest.mark.parametrize("fault", FAULTS)
def test_faults(fault, httpserver, monkeypatch, tmp_path, caplog):
    check_fault(CASE.faults(httpserver, monkeypatch, tmp_path, MONTH), fault, httpserver, caplog)
