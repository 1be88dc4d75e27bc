"""Zendesk contract: the cursor incremental export with metric_sets, end_of_stream, deleted tickets."""

from __future__ import annotations

import json

import pytest
from werkzeug import Request, Response

from newsletter.collectors.zendesk import Zendesk
from newsletter.errors import ConfigError
from tests.contract.helpers import FAULTS, Case, Sequence, check_fault, json_response, run
from tests.contract.scenario import EXPECTED, MONTH, ROWS, Row

CSAT = {"A": "good", "B": "bad", "E": "unoffered"}
# A drop-down custom field (id 360011) named "Category": Zendesk stores each option as a tag, and the
# ticket carries that tag among its others; D has no category chosen.
CATEGORY = {"B": "category_hardware", "C": "category_access", "E": "category_hardware"}


def minutes(start, stop) -> dict | None:
    """Calendar minutes, and business minutes as half of them (a made-up but checkable rule)."""
    if stop is None:
        return {"calendar": None, "business": None}
    calendar = round((stop - start).total_seconds() / 60)
    return {"calendar": calendar, "business": calendar // 2}


def zulu(moment) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def ticket(row: Row) -> dict:
    status = "deleted" if row.deleted else ("solved" if row.resolved else "open")
    return {"id": row.number, "created_at": zulu(row.created), "updated_at": zulu(row.created), "status": status,
            "group_id": 360001 if row.number % 2 else 360002, "type": "incident" if row.number % 2 else "question",
            "satisfaction_rating": {"score": CSAT.get(row.key, "unoffered")},
            "tags": ["vip", CATEGORY[row.key], "printer"] if row.key in CATEGORY else ["vip"],
            "custom_fields": [{"id": 360010, "value": "Berlin"}, {"id": 360011, "value": CATEGORY.get(row.key)},
                              {"id": 360012, "value": ["multi_a", "multi_b"]}]}


def metric_set(row: Row) -> dict:
    return {"ticket_id": row.number, "solved_at": zulu(row.resolved),
            "reply_time_in_minutes": minutes(row.created, row.first_response),
            "full_resolution_time_in_minutes": minutes(row.created, row.resolved)}


def export(chunks: list[list[Row]], embedded: bool = False):
    """Page i is asked with cursor c{i}; the last page still carries a cursor (as Zendesk does).
    Metric sets come as a sideloaded list keyed by ticket_id, or (`embedded`) inside each ticket."""
    def handle(request: Request):
        i = int(request.args.get("cursor", "c0")[1:])
        rows = chunks[i]
        body = {"tickets": [ticket(r) for r in rows], "after_cursor": f"c{i + 1}",
                "after_url": f"https://x/cursor.json?cursor=c{i + 1}", "before_cursor": None, "before_url": None,
                "end_of_stream": i == len(chunks) - 1}
        if embedded:
            for record, row in zip(body["tickets"], rows, strict=True):
                record["metric_set"] = metric_set(row)
        else:
            body["metric_sets"] = [metric_set(r) for r in rows]
        return json_response(body)
    return handle


SETTINGS = {"email": "it@example.com", "token_env": "ZENDESK_TOKEN", "category_field": "type"}
CASE = Case(Zendesk, SETTINGS, "ZENDESK_TOKEN", "/api/v2/incremental/tickets/cursor.json", export([ROWS[:1]]))


@pytest.mark.parametrize("embedded", [False, True], ids=["sideloaded", "embedded"])
def test_numbers_over_three_pages(httpserver, monkeypatch, tmp_path, embedded):
    handler = Sequence(export([ROWS[:4], ROWS[4:7], ROWS[7:]], embedded))  # X (deleted) is on the last page
    httpserver.expect_request(CASE.path).respond_with_handler(handler)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.status == "ok", result.error
    # The export lists changed tickets only: an old ticket open and untouched is not in it.
    assert {k: result.metrics[k] for k in EXPECTED} == {**EXPECTED, "backlog_end": None}
    assert result.metrics["csat_pct"] == 50.0 and result.metrics["csat_responses"] == 2  # A good, B bad
    assert result.metrics["sla_met_pct"] is None
    # Opened: B (2, question), C (3, incident), D (4, question), E (5, incident)
    assert result.metrics["top_categories"] == [["incident", 2], ["question", 2]]
    assert handler.calls == 3  # end_of_stream stops, though an after_cursor is still given
    first, _ = httpserver.log[0]
    assert first.args["start_time"] == str(int(MONTH.start.timestamp())) == "1790805600"
    assert first.args["include"] == "metric_sets" and first.args["exclude_deleted"] == "true"
    second, _ = httpserver.log[1]
    assert second.args["cursor"] == "c1" and "start_time" not in second.args


def test_business_minutes_when_configured(httpserver, monkeypatch, tmp_path):
    httpserver.expect_request(CASE.path).respond_with_handler(export([ROWS]))
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, business_hours=True), MONTH)
    # Halved minutes: responses 150, 300, 900 s; resolutions 600, 3600, 64800 s.
    assert result.metrics["first_response_median_s"] == 300 and result.metrics["first_response_p90_s"] == 900
    assert result.metrics["resolution_median_s"] == 3600 and result.metrics["resolution_p90_s"] == 64800
    assert result.metrics["opened"] == 4 and result.metrics["resolved"] == 3


def test_group_scope(httpserver, monkeypatch, tmp_path):
    httpserver.expect_request(CASE.path).respond_with_handler(export([ROWS]))
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, group_ids=[360001]), MONTH)
    # Odd numbers only: opened C, E; resolved A, E.
    assert result.metrics["opened"] == 2 and result.metrics["resolved"] == 2


BY_TAGS = Case(Zendesk, {"email": "it@example.com", "token_env": "ZENDESK_TOKEN",
                         "category_tag_prefix": "category_"}, "ZENDESK_TOKEN", CASE.path, CASE.page)
BY_FIELD = Case(Zendesk, {"email": "it@example.com", "token_env": "ZENDESK_TOKEN",
                          "category_field_id": 360011}, "ZENDESK_TOKEN", CASE.path, CASE.page)


@pytest.mark.parametrize("case", [BY_TAGS, BY_FIELD], ids=["tag-prefix", "custom-field"])
def test_category_from_a_drop_down_field(case, httpserver, monkeypatch, tmp_path):
    httpserver.expect_request(CASE.path).respond_with_handler(export([ROWS]))
    result = run(case.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.status == "ok", result.error
    # Opened B, C, D, E: B and E hardware, C access, D none; the prefix removed from the tag.
    expected = [["hardware", 2], ["access", 1]] if case is BY_TAGS else [
        ["category_hardware", 2], ["category_access", 1]]
    assert result.metrics["top_categories"] == expected


def test_custom_field_value_with_the_tag_prefix_removed(httpserver, monkeypatch, tmp_path):
    httpserver.expect_request(CASE.path).respond_with_handler(export([ROWS]))
    collector = BY_FIELD.build(httpserver.url_for("/"), monkeypatch, tmp_path, category_tag_prefix="category_")
    assert run(collector, MONTH).metrics["top_categories"] == [["hardware", 2], ["access", 1]]


def test_one_way_to_the_category_only(httpserver, monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match=r"category_field and category_field_id both set: keep one"):
        CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path, category_field_id=360011)


@pytest.mark.parametrize("fault", FAULTS)
def test_faults(fault, httpserver, monkeypatch, tmp_path, caplog):
    check_fault(CASE.faults(httpserver, monkeypatch, tmp_path, MONTH), fault, httpserver, caplog)


@pytest.mark.parametrize("minutes", [1e13, "NaN"], ids=["beyond any date", "NaN"])
def test_an_impossible_duration_is_explained(minutes, httpserver, monkeypatch, tmp_path):
    """A metric set whose minutes no date can hold (Python's JSON reads NaN too): the source fails
    saying Zendesk sent it, never as an unexpected error."""
    def handle(request: Request):
        body = export([ROWS[:3]])(request).get_json()
        body["metric_sets"][1]["reply_time_in_minutes"] = {"calendar": "@", "business": 1}
        text = json.dumps(body).replace('"@"', str(minutes))
        return Response(text, content_type="application/json")
    httpserver.expect_request(CASE.path).respond_with_handler(handle)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.status == "failed"
    assert result.error.startswith("Zendesk sent a ticket record in an unexpected shape"), result.error


def test_more_pages_without_a_cursor_is_not_taken_for_the_end(httpserver, monkeypatch, tmp_path):
    """end_of_stream false but no after_cursor: the rest of the month cannot be asked for, so the
    numbers so far are not given as the month's."""
    def handle(request: Request):
        body = export([ROWS[:4], ROWS[4:]])(request).get_json()
        return json_response({**body, "after_cursor": None, "after_url": None})
    httpserver.expect_request(CASE.path).respond_with_handler(handle)
    result = run(CASE.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH)
    assert result.status == "failed" and "after_cursor" in result.error and CASE.path in result.error
