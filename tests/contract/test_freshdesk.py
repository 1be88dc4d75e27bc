"""Freshdesk API v2 contract: /api/v2/tickets?updated_since&include=stats, oldest change first, paged by
page number with a `link` header; CSAT from /api/v2/surveys/satisfaction_ratings?created_since."""

from __future__ import annotations

from datetime import timedelta

import pytest
from werkzeug import Request

from newsletter.collectors import freshdesk
from newsletter.collectors.freshdesk import Freshdesk
from tests.contract.helpers import FAULTS, SECRET, Case, Faults, Sequence, check_fault, json_response, run
from tests.contract.scenario import EXPECTED, MONTH, ROWS, Row, utc


def zulu(moment) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def changed(row: Row):
    """When the ticket last changed: its latest date."""
    return max(d for d in (row.created, row.first_response, row.resolved) if d is not None)


def ticket(row: Row) -> dict:
    """A ticket as the list answers with include=stats (statuses: 2 open, 3 pending, 4 resolved, 5 closed)."""
    late = bool(row.resolved and (row.resolved - row.created).total_seconds() > 86400)
    closed = row.key == "E"  # closed straight away: only closed_at is set
    return {"id": row.number, "subject": f"Ticket {row.key}", "type": "Incident" if row.number < 4 else "Question",
            "status": (5 if closed else 4) if row.resolved else 2, "priority": 1, "source": 2,
            "group_id": 43000, "requester_id": 7, "responder_id": None, "spam": False,
            "created_at": zulu(row.created), "updated_at": zulu(changed(row)),
            "due_by": zulu(row.created + timedelta(days=1)), "fr_due_by": zulu(row.created + timedelta(hours=1)),
            "fr_escalated": False, "is_escalated": late, "tags": [], "custom_fields": {},
            **({"deleted": True} if row.deleted else {}),
            "stats": {"agent_responded_at": zulu(row.first_response), "requester_responded_at": None,
                      "first_responded_at": zulu(row.first_response), "status_updated_at": zulu(changed(row)),
                      "reopened_at": None, "pending_since": None,
                      "resolved_at": None if closed else zulu(row.resolved),
                      "closed_at": zulu(row.resolved) if closed else None}}


def tickets_list(rows: list[Row], window_pages: int = 300):
    """Freshdesk's list: tickets changed since `updated_since`, ordered by updated_at, `link: <...>;
    rel="next"` on every page but the last, and no page past `window_pages` (400 there)."""
    def handle(request: Request):
        since = utc(request.args["updated_since"].replace("T", " ").rstrip("Z"))
        listed = sorted((r for r in rows if changed(r) >= since), key=changed)
        page, per_page = int(request.args.get("page", 1)), int(request.args.get("per_page", 30))
        if page > window_pages:
            return json_response({"description": "Validation failed", "errors": [
                {"field": "page", "message": "must be less than 300", "code": "invalid_value"}]}, 400)
        chunk = listed[(page - 1) * per_page: page * per_page]
        headers = {"X-RateLimit-Total": "3000", "X-RateLimit-Remaining": "2999", "X-RateLimit-Used-CurrentRequest": "3"}
        if page * per_page < len(listed):
            headers["link"] = f'<{request.base_url}?page={page + 1}&per_page={per_page}>; rel="next"'
        return json_response([ticket(r) for r in chunk], headers=headers)
    return handle


def rating(number: int, ticket_id: int, value: int, at: str) -> dict:
    return {"id": number, "survey_id": 4, "user_id": 7, "agent_id": 9, "group_id": 43000, "ticket_id": ticket_id,
            "feedback": "", "ratings": {"default_question": value}, "created_at": at, "updated_at": at}


# A (extremely happy), B (happy first, then extremely unhappy: the latest counts), E (happy),
# C (neutral, but C is still open: not counted), and one of a custom question only (not counted).
RATINGS = [rating(1, 1, 103, "2026-10-02T10:00:00Z"), rating(2, 2, 101, "2026-10-01T01:00:00Z"),
           rating(3, 2, -103, "2026-10-03T08:00:00Z"), rating(4, 5, 101, "2026-10-31T23:00:00Z"),
           rating(5, 3, 100, "2026-10-11T08:00:00Z"),
           {**rating(6, 4, 0, "2026-10-21T08:00:00Z"), "ratings": {"question_4300012": 103}}]


def ratings_list(per_page: int = 100):
    def handle(request: Request):
        page = int(request.args.get("page", 1))
        chunk = RATINGS[(page - 1) * per_page: page * per_page]
        more = page * per_page < len(RATINGS)
        headers = {"link": f'<{request.base_url}?page={page + 1}>; rel="next"'} if more else {}
        return json_response(chunk, headers=headers)
    return handle


SETTINGS = {"api_key_env": "FRESHDESK_KEY", "page_size": 3}
CASE = Case(Freshdesk, SETTINGS, "FRESHDESK_KEY", freshdesk.TICKETS, tickets_list(ROWS[:2]))


def serve(httpserver, tickets=None, ratings=None) -> tuple[Sequence, Sequence]:
    listing, rated = Sequence(tickets or tickets_list(ROWS)), Sequence(ratings or ratings_list())
    httpserver.expect_request(freshdesk.TICKETS).respond_with_handler(listing)
    httpserver.expect_request(freshdesk.RATINGS).respond_with_handler(rated)
    return listing, rated


def test_the_scenario_over_pages_with_ratings(httpserver, monkeypatch, tmp_path):
    listing, rated = serve(httpserver)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.status == "ok", result.error
    assert {k: result.metrics[k] for k in EXPECTED} == {**EXPECTED, "backlog_end": None}
    assert result.metrics["sla_met_pct"] == 66.67  # A escalated (36 h); B and E within
    assert result.metrics["csat_pct"] == 66.67 and result.metrics["csat_responses"] == 3  # A and E of A, B, E
    assert dict(result.metrics["top_categories"]) == {"Incident": 2, "Question": 2}  # B C | D E
    # A B C D E I X changed in October (G and H did not): 7 tickets, 3 a page, the last page without link
    assert listing.calls == 3 and rated.calls == 1
    first = next(r for r, _ in httpserver.log if r.path == freshdesk.TICKETS)
    assert first.args["updated_since"] == "2026-09-30T22:00:00Z"  # 1 October, 00:00 in Berlin
    assert (first.args["include"], first.args["per_page"], first.args["page"]) == ("stats", "3", "1")
    assert (first.args["order_by"], first.args["order_type"]) == ("updated_at", "asc")
    assert first.authorization.username == SECRET and first.authorization.password == "X"
    asked = next(r for r, _ in httpserver.log if r.path == freshdesk.RATINGS)
    assert asked.args["created_since"] == "2026-09-29T22:00:00Z"  # a day early: a rating is never missed
    assert asked.authorization.username == SECRET


def test_ratings_are_read_page_by_page(httpserver, monkeypatch, tmp_path):
    _, rated = serve(httpserver, ratings=ratings_list(per_page=2))
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.metrics["csat_pct"] == 66.67 and rated.calls == 3


def test_without_csat_no_ratings_are_asked_for(httpserver, monkeypatch, tmp_path):
    _, rated = serve(httpserver)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, csat=False), MONTH)
    assert result.status == "ok", result.error
    assert result.metrics["csat_pct"] is None and result.metrics["csat_responses"] is None
    assert rated.calls == 0


def test_past_the_last_page_a_new_window_starts_at_the_last_change(httpserver, monkeypatch, tmp_path):
    """The list answers no page past its limit: the collector asks again from the last change it saw."""
    monkeypatch.setattr(freshdesk, "WINDOW_PAGES", 1)
    listing, _ = serve(httpserver, tickets=tickets_list(ROWS, window_pages=1))
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.status == "ok", result.error
    assert {k: result.metrics[k] for k in EXPECTED} == {**EXPECTED, "backlog_end": None}
    windows = [r.args["updated_since"] for r, _ in httpserver.log if r.path == freshdesk.TICKETS]
    assert windows == sorted(set(windows)) and len(windows) == listing.calls >= 3
    assert all(r.args["page"] == "1" for r, _ in httpserver.log if r.path == freshdesk.TICKETS)


def test_a_window_that_cannot_move_on_fails_clearly(httpserver, monkeypatch, tmp_path):
    monkeypatch.setattr(freshdesk, "WINDOW_PAGES", 1)
    same = [Row(f"S{n}", 100 + n, utc("2026-09-30 22:00"), None, None) for n in range(5)]  # all at the start
    serve(httpserver, tickets=tickets_list(same, window_pages=1))
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.status == "failed"
    assert "cannot page further" in result.error and freshdesk.TICKETS in result.error


def test_a_list_that_is_no_list_is_explained(httpserver, monkeypatch, tmp_path):
    serve(httpserver, tickets=lambda request: json_response({"tickets": []}))
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.status == "failed" and freshdesk.TICKETS in result.error and "base_url" in result.error


def faults(httpserver, monkeypatch, tmp_path, path: str) -> Faults:
    """check_fault's target: the faults on `path`, the other endpoint answering as usual."""
    target = CASE.faults(httpserver, monkeypatch, tmp_path, MONTH)
    target.path = path
    target.serve = lambda: (httpserver.expect_request(freshdesk.TICKETS).respond_with_handler(tickets_list(ROWS[:2])),
                            httpserver.expect_request(freshdesk.RATINGS).respond_with_handler(ratings_list()))
    return target


@pytest.mark.parametrize("fault", FAULTS)
def test_faults_on_the_tickets_list(fault, httpserver, monkeypatch, tmp_path, caplog):
    check_fault(faults(httpserver, monkeypatch, tmp_path, freshdesk.TICKETS), fault, httpserver, caplog)


@pytest.mark.parametrize("fault", [f for f in FAULTS if f != "403"])
def test_faults_on_the_ratings(fault, httpserver, monkeypatch, tmp_path, caplog):
    check_fault(faults(httpserver, monkeypatch, tmp_path, freshdesk.RATINGS), fault, httpserver, caplog)


def test_refused_ratings_leave_csat_unknown_not_the_month(httpserver, monkeypatch, tmp_path):
    """Freshdesk answers 403 for the ratings of a plan without Surveys (csat is on by default) or an
    agent who may not see them: the tickets' numbers stand, CSAT is unknown, and a warning says what to set."""
    listing, _ = serve(httpserver, ratings=lambda request: json_response(
        {"code": "access_denied", "message": "You are not authorized to perform this action."}, 403))
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.status == "ok", result.error
    assert {k: result.metrics[k] for k in EXPECTED} == {**EXPECTED, "backlog_end": None}
    assert result.metrics["csat_pct"] is None and result.metrics["csat_responses"] is None
    assert result.warnings == ["Freshdesk refused the satisfaction ratings (403): CSAT unknown; set csat = false "
                               "if the plan has no Surveys, or let the API key's agent see them"]
    assert listing.calls == 3


def test_a_rating_with_an_unreadable_date_leaves_that_ticket_unrated_not_the_source_failed(
        httpserver, monkeypatch, tmp_path):
    """B's latest rating (extremely unhappy) has a date that is no date: which of B's ratings is the
    latest is unknown, so B counts as unrated (never as its older, happy one), and a warning says so."""
    bad = [{**r, "created_at": "03/10/2026 08:00"} if r["id"] == 3 else r for r in RATINGS]
    serve(httpserver, ratings=lambda request: json_response(bad))
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.status == "ok", result.error
    assert {k: result.metrics[k] for k in EXPECTED} == {**EXPECTED, "backlog_end": None}
    assert result.metrics["csat_pct"] == 100.0 and result.metrics["csat_responses"] == 2  # A and E
    assert result.warnings == ["Freshdesk sent an unreadable date '03/10/2026 08:00' in rating 3 created_at: "
                               "the rating of ticket 2 is left out of CSAT"]


@pytest.mark.parametrize("same_moment", [False, True], ids=["each-its-own-moment", "a-page-of-one-moment"])
def test_a_ticket_changed_while_the_list_is_read_drops_no_other(httpserver, monkeypatch, tmp_path, same_moment):
    """Sorted by updated_at but paged by number, a ticket changed after its page was read moves to
    the end and every ticket behind it one place up: the one at the next page's edge was never served."""
    from datetime import UTC, datetime

    from newsletter.binding import Where, bind
    from newsletter.http import make_session
    from tests.contract.helpers import FAST

    def row(n: int, updated: str) -> dict:
        at = f"2026-10-0{n}T10:00:00Z"
        return {"id": n, "status": 4, "type": "Incident", "created_at": at, "updated_at": updated,
                "stats": {"resolved_at": at, "first_responded_at": at}}
    tickets = {n: row(n, "2026-10-01T11:00:00Z" if same_moment and n <= 4 else f"2026-10-0{n}T11:00:00Z")
               for n in range(1, 8)}

    def handle(request: Request):
        page, since = int(request.args["page"]), request.args["updated_since"]
        if page == 2 or (page == 1 and since > "2026-10-01T00:00:00Z"):  # an agent touches ticket 2
            tickets[2] = {**tickets[2], "updated_at": "2026-11-02T05:00:00Z"}
        listed = sorted((t for t in tickets.values() if t["updated_at"] >= since), key=lambda t: t["updated_at"])
        chunk = listed[(page - 1) * 3: page * 3]
        more = {"link": f'<{request.base_url}?page={page + 1}>; rel="next"'} if page * 3 < len(listed) else {}
        return json_response(chunk, headers=more)

    httpserver.expect_request("/api/v2/tickets").respond_with_handler(handle)
    monkeypatch.setenv("FD_KEY", "k")
    settings = bind(Freshdesk.Settings, {"base_url": httpserver.url_for("/"), "api_key_env": "FD_KEY",
                                         "csat": False, "page_size": 3}, Where(tmp_path / "fd.toml"))
    collector = Freshdesk(settings, name="fd", session=make_session(FAST),
                          clock=lambda: datetime(2026, 11, 2, 6, tzinfo=UTC))
    assert collector.collect(MONTH).resolved == 7
