"""A source's limits against real vendors on 127.0.0.1: `deadline_s` stops one that trickles its
answer while the others carry on, and `max_pages` stops one that pages forever; through the runner
and through `newsletter collect`, as cron runs it."""

from __future__ import annotations

import json
import time

from werkzeug import Request

from newsletter.collectors.rt import RequestTracker
from tests.contract.helpers import SECRET, Case, json_response, run, trickle
from tests.contract.scenario import EXPECTED, MONTH, ROWS
from tests.contract.test_jira import CASE as JIRA
from tests.contract.test_rt import item, pager

RT = Case(RequestTracker, {"token_env": "RT_TOKEN"}, "RT_TOKEN", "/REST/2.0/tickets", pager([item(r) for r in ROWS], 3))


def test_a_trickling_vendor_is_stopped_at_its_deadline_and_the_others_carry_on(httpserver, monkeypatch, tmp_path):
    from newsletter.collect import collect_month
    from newsletter.config import SourceConfig

    httpserver.expect_request("/slow/REST/2.0/tickets").respond_with_handler(trickle(every_s=0.2))
    httpserver.expect_request("/REST/2.0/tickets").respond_with_handler(RT.page)
    slow = RT.build(httpserver.url_for("/slow"), monkeypatch, tmp_path)
    quick = RT.build(httpserver.url_for("/"), monkeypatch, tmp_path)
    sources = [(SourceConfig(tmp_path / "slow.toml", "slow", "rt", False, True, slow.settings, deadline_s=1), slow),
               (SourceConfig(tmp_path / "quick.toml", "quick", "rt", False, True, quick.settings), quick)]
    started = time.monotonic()
    late, ok = collect_month(sources, MONTH)
    assert time.monotonic() - started < 3
    assert late.status == "failed" and late.metrics == {}
    assert late.error.startswith("source slow did not finish within deadline_s = 1 s"), late.error
    assert "slow.toml" in late.error
    assert ok.status == "ok" and {k: ok.metrics[k] for k in EXPECTED} == EXPECTED


def test_collect_carries_on_past_a_trickling_vendor(workspace, httpserver):
    httpserver.expect_request("/slow/REST/2.0/tickets").respond_with_handler(trickle(every_s=0.2))
    httpserver.expect_request("/REST/2.0/tickets").respond_with_handler(RT.page)
    workspace.write("sources/slow.toml", f'type = "rt"\nbase_url = "{httpserver.url_for("/slow")}"\n'
                                         'token_env = "RT_TOKEN"\ndeadline_s = 1\n')
    workspace.write("sources/quick.toml", f'type = "rt"\nbase_url = "{httpserver.url_for("/")}"\n'
                                          'token_env = "RT_TOKEN"\n')
    started = time.monotonic()
    result = workspace.invoke("collect", "--month", "2026-10", "--json", env={"RT_TOKEN": SECRET})
    assert time.monotonic() - started < 5
    assert result.exit_code == 0, result.output  # an optional source: its failure is a warning
    assert "optional source slow failed" in result.stderr
    sources = {s["name"]: s for s in json.loads(result.stdout)["sources"]}
    assert sources["slow"]["status"] == "failed" and "deadline_s = 1 s" in sources["slow"]["error"]
    assert sources["quick"]["status"] == "ok" and sources["helpdesk"]["status"] == "ok"  # and the demo sources


def endless(request: Request):
    """Jira that always has one more page: a fresh token and fresh issues every time."""
    page = int(request.args.get("nextPageToken", "0"))
    issues = [{"key": f"IT-{page}", "fields": {"created": "2026-10-10T10:00:00.000+0000", "resolutiondate": None}}]
    return json_response({"issues": issues, "nextPageToken": str(page + 1), "isLast": False})


def test_paging_forever_stops_after_max_pages(httpserver, monkeypatch, tmp_path):
    httpserver.expect_request(JIRA.path).respond_with_handler(endless)
    result = run(JIRA.build(httpserver.url_for("/"), monkeypatch, tmp_path), MONTH, max_pages=7)
    assert result.status == "failed"
    assert result.error == "Jira paging stopped after 7 pages; narrow the query or raise max_pages"
    assert len(httpserver.log) == 7


def test_max_pages_from_the_source_file(workspace, httpserver):
    httpserver.expect_request(JIRA.path).respond_with_handler(endless)
    workspace.write("sources/jira.toml", f'type = "jira"\nbase_url = "{httpserver.url_for("/")}"\n'
                                         'email = "it@example.com"\ntoken_env = "JIRA_TOKEN"\nproject = "IT"\n'
                                         'max_pages = 3\n')
    result = workspace.invoke("collect", "--month", "2026-10", "--json", env={"JIRA_TOKEN": SECRET})
    assert result.exit_code == 0 and "optional source jira failed" in result.stderr
    jira = {s["name"]: s for s in json.loads(result.stdout)["sources"]}["jira"]
    assert jira["status"] == "failed" and "stopped after 3 pages" in jira["error"] and "max_pages" in jira["error"]
    assert len(httpserver.log) == 3
