"""Zendesk satisfaction comments as quote candidates: GET /api/v2/satisfaction_ratings?score=good,
offset pages linked by `next_page`, only the words and the day kept (never requester or ticket)."""

from __future__ import annotations

from werkzeug import Request

from tests.contract.helpers import json_response, run
from tests.contract.scenario import MONTH, ROWS
from tests.contract.test_zendesk import CASE, export

RATINGS = "/api/v2/satisfaction_ratings"


def rating(number: int, comment: str | None, created_at: str, score: str = "good") -> dict:
    return {"id": 9000 + number, "url": f"https://x/api/v2/satisfaction_ratings/{9000 + number}.json",
            "assignee_id": 111, "group_id": 360001, "requester_id": 424242, "ticket_id": number, "score": score,
            "comment": comment, "reason": "", "reason_id": 0, "created_at": created_at, "updated_at": created_at}


PAGES = [
    [rating(1, "Anna fixed my VPN in ten minutes, thank you!", "2026-10-02T08:00:00Z"),
     rating(2, None, "2026-10-03T08:00:00Z"),  # a good rating without a comment
     rating(3, "Write to me at jo.bloggs@example.com about ticket #4711 any time", "2026-10-04T08:00:00Z"),
     rating(8, "Just after midnight in Berlin", "2026-09-30T22:30:00Z")],  # 1 October there, not 30 September
    [rating(4, "Too early: September in Berlin", "2026-09-30T21:59:00Z"),
     rating(5, "  Quick \n and  friendly  ", "2026-10-31T22:59:00Z"),  # 23:59 in Berlin, still October
     rating(6, "Bad but says nice words", "2026-10-05T08:00:00Z", score="bad"),
     rating(7, "Anna fixed my VPN in ten minutes, thank you!", "2026-10-06T08:00:00Z")],  # said twice: once
]


def ratings(base: list[str], seen: list[dict]):
    def handle(request: Request):
        seen.append(dict(request.args))
        page = int(request.args.get("page", "1"))
        following = f"{base[0]}api/v2/satisfaction_ratings?page={page + 1}" if page < len(PAGES) else None
        return json_response({"satisfaction_ratings": PAGES[page - 1], "next_page": following,
                              "previous_page": None, "count": 7})
    return handle


def test_good_comments_become_scrubbed_quotes(httpserver, monkeypatch, tmp_path):
    httpserver.expect_request(CASE.path).respond_with_handler(export([ROWS]))
    seen: list[dict] = []
    httpserver.expect_request(RATINGS).respond_with_handler(ratings([httpserver.url_for("/")], seen))
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, quotes=True), MONTH)
    assert result.status == "ok", result.error
    assert result.metrics["quotes"] == [
        {"text": "Anna fixed my VPN in ten minutes, thank you!", "rated_at": "2026-10-02"},
        {"text": "Write to me at … about … any time", "rated_at": "2026-10-04"},
        {"text": "Just after midnight in Berlin", "rated_at": "2026-10-01"},
        {"text": "Quick and friendly", "rated_at": "2026-10-31"},
    ]
    assert seen[0] == {"score": "good", "start_time": str(int(MONTH.start.timestamp())),
                       "end_time": str(int(MONTH.end.timestamp()) - 1)}
    assert seen[1] == {"page": "2"}
    assert "424242" not in str(result.metrics)


def test_without_the_key_no_ratings_are_read(httpserver, monkeypatch, tmp_path):
    httpserver.expect_request(CASE.path).respond_with_handler(export([ROWS]))
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.status == "ok", result.error
    assert "quotes" not in result.metrics
    assert all(RATINGS not in str(request.path) for request, _ in httpserver.log)


def test_a_next_page_elsewhere_is_refused(httpserver, monkeypatch, tmp_path):
    httpserver.expect_request(CASE.path).respond_with_handler(export([ROWS]))
    httpserver.expect_request(RATINGS).respond_with_json(
        {"satisfaction_ratings": PAGES[0], "next_page": "https://elsewhere.example/api/v2/satisfaction_ratings?page=2"})
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, quotes=True), MONTH)
    assert result.status == "failed" and "another server" in (result.error or "")


def test_an_address_with_an_invisible_character_in_it_is_still_scrubbed(httpserver, monkeypatch, tmp_path):
    """Text pasted from a mail client or a web page carries zero-width spaces and soft hyphens: they
    are dropped from the quote, and must not first hide the address from the scrubbing."""
    httpserver.expect_request(CASE.path).respond_with_handler(export([ROWS]))
    httpserver.expect_request(RATINGS).respond_with_json({"satisfaction_ratings": [
        rating(1, "Write to jo.bloggs\u200b@example.com, thanks!", "2026-10-02T08:00:00Z"),
        rating(2, "Or to anna@\u00adexample.org about ticket\u200b 4711", "2026-10-03T08:00:00Z")],
        "next_page": None})
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, quotes=True), MONTH)
    assert result.status == "ok", result.error
    assert [q["text"] for q in result.metrics["quotes"]] == ["Write to …, thanks!", "Or to … about …"]


def test_a_phone_number_in_a_comment_is_scrubbed(httpserver, monkeypatch, tmp_path):
    """A phone number is a way to reach the person, as an address is; a date, a time or a count is not one."""
    httpserver.expect_request(CASE.path).respond_with_handler(export([ROWS]))
    comments = ["Call me on +49 170 1234567 any time", "Reach me at (030) 123-4567 or 0170/1234567",
                "Or 555-123-4567, or 0049 30 12345678.", "Fixed on 2026-10-12 at 10:30, 3 of 12.10.2026, 24/7"]
    httpserver.expect_request(RATINGS).respond_with_json({"satisfaction_ratings": [
        rating(n, text, f"2026-10-0{n}T08:00:00Z") for n, text in enumerate(comments, 1)], "next_page": None})
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, quotes=True), MONTH)
    assert result.status == "ok", result.error
    assert [q["text"] for q in result.metrics["quotes"]] == [
        "Call me on … any time", "Reach me at … or …", "Or …, or ….",
        "Fixed on 2026-10-12 at 10:30, 3 of 12.10.2026, 24/7"]


def test_long_runs_of_letters_are_read_quickly(httpserver, monkeypatch, tmp_path):
    """Comments of 19,000 letters without a space (a pasted blob) each cost no more than a short
    one: the month's ratings are read well within the source's deadline."""
    httpserver.expect_request(CASE.path).respond_with_handler(export([ROWS]))
    blobs = [rating(n, "x" * 19_000 + f" {n}", f"2026-10-0{n}T08:00:00Z") for n in range(1, 9)]
    httpserver.expect_request(RATINGS).respond_with_json({"satisfaction_ratings": blobs, "next_page": None})
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, quotes=True), MONTH, deadline_s=4)
    assert result.status == "ok", result.error
    assert "quotes" not in result.metrics  # each far over 600 characters: no quote


def test_a_long_address_is_scrubbed_whole(httpserver, monkeypatch, tmp_path):
    httpserver.expect_request(CASE.path).respond_with_handler(export([ROWS]))
    address = "jo.bloggs." + "x" * 70 + "@example.com"
    httpserver.expect_request(RATINGS).respond_with_json({"satisfaction_ratings": [
        rating(1, f"Write to {address} please", "2026-10-02T08:00:00Z")], "next_page": None})
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, quotes=True), MONTH)
    assert [q["text"] for q in result.metrics["quotes"]] == ["Write to … please"]


def test_a_comment_with_a_long_blank_run_is_read_quickly(httpserver, monkeypatch, tmp_path):
    """"ticket" followed by a long run of blanks and no number (a pasted mail's empty lines, an HTML
    comment of many <br>s): looking for a ticket number there must not take minutes."""
    httpserver.expect_request(CASE.path).respond_with_handler(export([ROWS]))
    httpserver.expect_request(RATINGS).respond_with_json({"satisfaction_ratings": [
        rating(1, "Thanks for closing my ticket" + "\n" * 1500 + "!", "2026-10-02T08:00:00Z")], "next_page": None})
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, quotes=True), MONTH, deadline_s=3)
    assert result.status == "ok", result.error
    assert [q["text"] for q in result.metrics["quotes"]] == ["Thanks for closing my ticket !"]
