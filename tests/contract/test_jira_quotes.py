"""Jira Service Management feedback comments as quote candidates: GET
/rest/servicedeskapi/request/{key}/feedback ({type: "csat", rating: 1-5, comment: {body}}) of each
request resolved in the month; 4 and 5 are good. Only the words and the resolution day are kept;
a refused or missing feedback loses that quote only."""

from __future__ import annotations

import re

import pytest
from werkzeug import Request, Response

from newsletter.collectors import quotes
from newsletter.http import make_session
from tests.contract.helpers import FAST, FAULTS, SECRET, Faults, check_fault, json_response, run
from tests.contract.scenario import MONTH
from tests.contract.test_jira import CASE, ISSUES, pages

SEARCH = "/rest/api/3/search/jql"
FEEDBACK = re.compile(r"^/rest/servicedeskapi/request/IT-\d+/feedback$")
# Resolved in October: IT-1 (A, 2 October), IT-2 (B, 1 October) and IT-5 (E, 31 October).
GOOD = {
    "IT-1": {"type": "csat", "rating": 5, "comment": {
        "body": "<p>Anna fixed my VPN <b>in ten minutes</b>,</p><p>thank you! Mail me: jo.bloggs@example.com</p>"}},
    "IT-2": {"type": "csat", "rating": 2, "comment": {"body": "Nice words with a bad rating"}},
    "IT-5": {"type": "csat", "rating": 4, "comment": {"body": "Quick\x00 and\x1b[31m friendly\u200b, see IT-5"}},
}


def feedback(answers: dict, asked: list[str]):
    def handle(request: Request) -> Response:
        key = request.path.split("/")[-2]
        asked.append(key)
        answer = answers.get(key)
        if isinstance(answer, Response):
            return answer
        if answer is None:
            return json_response({"errorMessage": "No feedback exists for this request"}, 404)
        return json_response(answer)
    return handle


def serve(httpserver, answers: dict, asked: list[str]) -> None:
    httpserver.expect_request(SEARCH).respond_with_handler(pages([ISSUES], [None], [True]))
    httpserver.expect_request(FEEDBACK).respond_with_handler(feedback(answers, asked))


def test_good_feedback_comments_become_scrubbed_quotes(httpserver, monkeypatch, tmp_path):
    asked: list[str] = []
    serve(httpserver, GOOD, asked)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, quotes=True), MONTH)
    assert result.status == "ok", result.error
    assert sorted(asked) == ["IT-1", "IT-2", "IT-5"]  # one request per ticket resolved in the month
    assert result.metrics["quotes"] == [
        {"text": "Anna fixed my VPN in ten minutes, thank you! Mail me: …", "rated_at": "2026-10-02"},
        {"text": "Quick and friendly, see …", "rated_at": "2026-10-31"},
    ]
    assert result.metrics["csat_pct"] is None and result.metrics["csat_responses"] is None  # csat not asked for
    assert result.warnings == []


def test_csat_and_quotes_share_one_request_per_ticket(httpserver, monkeypatch, tmp_path):
    asked: list[str] = []
    serve(httpserver, GOOD, asked)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, quotes=True, csat=True), MONTH)
    assert result.status == "ok", result.error
    assert sorted(asked) == ["IT-1", "IT-2", "IT-5"]
    assert result.metrics["csat_pct"] == 66.67 and result.metrics["csat_responses"] == 3
    assert len(result.metrics["quotes"]) == 2


def test_without_the_key_no_comment_is_kept(httpserver, monkeypatch, tmp_path):
    asked: list[str] = []
    serve(httpserver, GOOD, asked)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, csat=True), MONTH)
    assert result.status == "ok", result.error
    assert "quotes" not in result.metrics and result.metrics["csat_pct"] == 66.67


def test_a_refused_or_missing_feedback_loses_that_quote_only(httpserver, monkeypatch, tmp_path):
    refused = Response("<html>You do not have permission to view this request</html>", status=403,
                       content_type="text/html")
    asked: list[str] = []
    serve(httpserver, {"IT-1": refused, "IT-5": GOOD["IT-5"]}, asked)  # IT-2: 404, no feedback
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, quotes=True), MONTH)
    assert result.status == "ok", result.error
    assert sorted(asked) == ["IT-1", "IT-2", "IT-5"]
    assert [q["text"] for q in result.metrics["quotes"]] == ["Quick and friendly, see …"]
    assert result.metrics["opened"] == 4  # the numbers are the month's as ever
    [warning] = result.warnings
    assert warning.startswith("Jira refused the feedback of 1 ticket (403)") and "IT-1" not in warning


def test_the_requests_made_for_quotes_are_capped(httpserver, monkeypatch, tmp_path):
    monkeypatch.setattr(quotes, "MAX_FEEDBACK_REQUESTS", 2)
    asked: list[str] = []
    serve(httpserver, GOOD, asked)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, quotes=True), MONTH)
    assert result.status == "ok", result.error
    assert asked == ["IT-1", "IT-2"]
    assert [q["rated_at"] for q in result.metrics["quotes"]] == ["2026-10-02"]
    assert result.warnings == ["quotes: the feedback of the first 2 resolved tickets was read, not of the 1 "
                               "after them (at most 2 requests a month)"]


def test_a_ticket_key_in_a_comment_and_huge_comments_are_not_kept(httpserver, monkeypatch, tmp_path):
    huge = {"type": "csat", "rating": 5, "comment": {"body": "Thanks! " * 100_000}}
    empty = {"type": "csat", "rating": 5, "comment": {"body": "<p> </p>"}}
    nothing = {"type": "csat", "rating": 5}
    serve(httpserver, {"IT-1": huge, "IT-2": empty, "IT-5": nothing}, [])
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, quotes=True), MONTH)
    assert result.status == "ok", result.error
    assert "quotes" not in result.metrics


def faults(httpserver, monkeypatch, tmp_path) -> Faults:
    """The faults on IT-1's feedback while the search and the other requests answer as usual."""
    return Faults(path="/rest/servicedeskapi/request/IT-1/feedback", month=MONTH, hint="JIRA_TOKEN", secret=SECRET,
                  serve=lambda: serve(httpserver, GOOD, []),
                  build=lambda session: CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, session=session,
                                                   quotes=True))


@pytest.mark.parametrize("fault", [f for f in FAULTS if f not in ("403", "404")])
def test_faults_on_one_feedback(fault, httpserver, monkeypatch, tmp_path, caplog):
    good = check_fault(faults(httpserver, monkeypatch, tmp_path), fault, httpserver, caplog)
    assert len(good.metrics["quotes"]) == 2


@pytest.mark.parametrize("code", [403, 404])
def test_a_403_or_404_on_one_feedback_does_not_fail_the_source(code, httpserver, monkeypatch, tmp_path):
    httpserver.expect_request("/rest/servicedeskapi/request/IT-1/feedback").respond_with_json({"error": "x"}, code)
    serve(httpserver, GOOD, [])
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, session=make_session(FAST),
                            quotes=True), MONTH)
    assert result.status == "ok", result.error
    assert [q["rated_at"] for q in result.metrics["quotes"]] == ["2026-10-31"]
    assert (len(result.warnings) == 1) is (code == 403)
