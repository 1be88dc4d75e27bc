"""Freshservice CSAT responses as quote candidates: GET /api/v2/tickets/{id}/csat_response of each
listed ticket resolved in the month or the one before ({"csat_response": {id, overall_rating,
overall_rating_text, primary_question, questionnaire_responses: [{question: {question_text},
answers: [{answer_text}]}], score: {acquired_score, total_score}, created_at, updated_at}}).
A response counts when given in the month and rated above the scale's middle; its comment is the
answer to the free-text question. No requester, no ticket id is kept."""

from __future__ import annotations

import re

import pytest
from werkzeug import Request, Response

from newsletter.collectors import quotes
from newsletter.errors import ConfigError
from tests.contract.helpers import FAULTS, SECRET, Faults, check_fault, json_response, run
from tests.contract.scenario import MONTH, ROWS
from tests.contract.test_freshservice import CASE, pages

CSAT = re.compile(r"^/api/v2/tickets/\d+/csat_response$")
RATING = "How would you rate your overall satisfaction for the resolution provided by the agent?"
COMMENT = "Any other comments you would like to share?"


def response(number: int, acquired: int, total: int, comment: str | None, created_at: str,
             label: str = "Extremely satisfied") -> dict:
    answers = [{"question": {"question_text": RATING}, "answers": [{"answer_text": label}]}]
    if comment is not None:
        answers.append({"question": {"question_text": COMMENT}, "answers": [{"answer_text": comment}]})
    return {"csat_response": {"id": 1000 + number, "overall_rating": 1, "overall_rating_text": label,
                              "primary_question": RATING, "questionnaire_responses": answers,
                              "score": {"acquired_score": acquired, "total_score": total},
                              "created_at": created_at, "updated_at": created_at}}


# Resolved and listed: A (1, 2 October), B (2, 1 October), E (5, closed 31 October) and H (7,
# 20 September: within a month before). D (4) is resolved on 1 November in Berlin: not asked.
GOOD = {
    1: response(1, 4, 4, "<p>Anna fixed my VPN in ten minutes,</p><p>thank you!&nbsp;Ask me: jo@example.com</p>",
                "2026-10-02T10:00:00Z"),
    2: response(2, 1, 4, "Nice words with a bad rating", "2026-10-01T08:00:00Z", label="Extremely dissatisfied"),
    5: response(5, 3, 5, "Neutral on a five-point scale", "2026-10-31T22:55:00Z", label="Neither"),
    7: response(7, 3, 4, "Late but friendly, thanks for INC-4711", "2026-10-03T08:00:00Z", label="Satisfied"),
}


def surveys(answers: dict, asked: list[int]):
    def handle(request: Request) -> Response:
        number = int(request.path.split("/")[-2])
        asked.append(number)
        answer = answers.get(number)
        if isinstance(answer, Response):
            return answer
        if answer is None:
            return json_response({"code": "access_denied", "message": "No CSAT response for this ticket"}, 404)
        return json_response(answer)
    return handle


def serve(httpserver, answers: dict, asked: list[int]) -> None:
    httpserver.expect_request(CASE.path).respond_with_handler(pages(ROWS, 3))
    httpserver.expect_request(CSAT).respond_with_handler(surveys(answers, asked))


def test_good_responses_of_the_month_become_scrubbed_quotes(httpserver, monkeypatch, tmp_path):
    asked: list[int] = []
    serve(httpserver, GOOD, asked)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, quotes=True), MONTH)
    assert result.status == "ok", result.error
    assert sorted(asked) == [1, 2, 5, 7]
    assert result.metrics["quotes"] == [
        {"text": "Anna fixed my VPN in ten minutes, thank you! Ask me: …", "rated_at": "2026-10-02"},
        {"text": "Late but friendly, thanks for …", "rated_at": "2026-10-03"},
    ]
    assert "Extremely satisfied" not in str(result.metrics)  # the rating's own label is no comment
    assert result.metrics["opened"] == 4 and result.warnings == []


def test_a_response_outside_the_month_is_left_out(httpserver, monkeypatch, tmp_path):
    early = response(7, 4, 4, "Written in September", "2026-09-30T21:59:00Z")
    late = response(5, 4, 4, "Written in November in Berlin", "2026-10-31T23:00:00Z")
    in_time = response(1, 4, 4, "Written on the first in Berlin", "2026-09-30T22:00:00Z")
    serve(httpserver, {7: early, 5: late, 1: in_time}, [])
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, quotes=True), MONTH)
    assert result.metrics["quotes"] == [{"text": "Written on the first in Berlin", "rated_at": "2026-10-01"}]


def test_without_the_key_no_response_is_read(httpserver, monkeypatch, tmp_path):
    asked: list[int] = []
    serve(httpserver, GOOD, asked)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.status == "ok", result.error
    assert asked == [] and "quotes" not in result.metrics


def test_the_comment_question_in_the_surveys_language(httpserver, monkeypatch, tmp_path):
    german = response(1, 4, 4, None, "2026-10-02T10:00:00Z")
    german["csat_response"]["questionnaire_responses"].append(
        {"question": {"question_text": "Möchten Sie uns noch etwas mitteilen?"},
         "answers": [{"answer_text": "Danke, das ging schnell!"}]})
    serve(httpserver, {1: german}, [])
    build = CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, quotes=True,
                       quote_questions=["noch etwas mitteilen"])
    assert run(build, MONTH).metrics["quotes"] == [{"text": "Danke, das ging schnell!", "rated_at": "2026-10-02"}]
    with pytest.raises(ConfigError, match="quote_questions"):
        CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, quotes=True, quote_questions=[" "])


def test_a_refused_or_missing_response_loses_that_quote_only(httpserver, monkeypatch, tmp_path):
    refused = Response("<html>Access denied</html>", status=403, content_type="text/html")
    asked: list[int] = []
    serve(httpserver, {1: refused, 7: GOOD[7]}, asked)  # 2 and 5: no response (404)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, quotes=True), MONTH)
    assert result.status == "ok", result.error
    assert sorted(asked) == [1, 2, 5, 7]
    assert [q["rated_at"] for q in result.metrics["quotes"]] == ["2026-10-03"]
    [warning] = result.warnings
    assert warning.startswith("Freshservice refused the feedback of 1 ticket (403)")


def test_the_requests_are_capped(httpserver, monkeypatch, tmp_path):
    monkeypatch.setattr(quotes, "MAX_FEEDBACK_REQUESTS", 1)
    asked: list[int] = []
    serve(httpserver, GOOD, asked)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, quotes=True), MONTH)
    assert result.status == "ok", result.error
    assert asked == [1] and [q["rated_at"] for q in result.metrics["quotes"]] == ["2026-10-02"]
    assert "the feedback of the first 1 resolved tickets was read, not of the 3 after them" in result.warnings[0]


@pytest.mark.parametrize("shape", [{}, {"csat_response": None}, {"csat_response": {"score": "4/4"}},
                                   response(1, 4, 4, "When was this?", "the day before yesterday"),
                                   {"csat_response": {"score": {"acquired_score": 9, "total_score": 4},
                                                      "created_at": "2026-10-02T10:00:00Z",
                                                      "questionnaire_responses": "many"}},
                                   {"csat_response": {"score": {"acquired_score": 4, "total_score": 4},
                                                      "created_at": "2026-10-02T10:00:00Z",
                                                      "questionnaire_responses": 5}},
                                   {"csat_response": {"score": {"acquired_score": 4, "total_score": 4},
                                                      "created_at": "2026-10-02T10:00:00Z",
                                                      "questionnaire_responses": [
                                                          {"question": {"question_text": COMMENT}, "answers": 7},
                                                          {"question": COMMENT, "answers": [{"answer_text": 8}]}]}}])
def test_an_answer_of_another_shape_is_no_quote(shape, httpserver, monkeypatch, tmp_path):
    serve(httpserver, {1: shape}, [])
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, quotes=True), MONTH)
    assert result.status == "ok", result.error
    assert "quotes" not in result.metrics


def faults(httpserver, monkeypatch, tmp_path) -> Faults:
    """The faults on ticket 1's CSAT response while the listing and the others answer as usual."""
    return Faults(path="/api/v2/tickets/1/csat_response", month=MONTH, hint="FRESHSERVICE_KEY", secret=SECRET,
                  serve=lambda: serve(httpserver, GOOD, []),
                  build=lambda session: CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, session=session,
                                                   quotes=True))


@pytest.mark.parametrize("fault", [f for f in FAULTS if f not in ("403", "404")])
def test_faults_on_one_response(fault, httpserver, monkeypatch, tmp_path, caplog):
    good = check_fault(faults(httpserver, monkeypatch, tmp_path), fault, httpserver, caplog)
    assert len(good.metrics["quotes"]) == 2
