"""`newsletter collect --json` with a ticketing source, as cron runs it: the workspace's time zone
(Europe/Berlin) reaches the collector, and a refused token is a failed source, not a traceback."""

from __future__ import annotations

import json

from tests.contract.helpers import SECRET
from tests.contract.scenario import EXPECTED, ROWS
from tests.contract.test_rt import item, pager


def _rt_workspace(workspace, url: str, required: bool = False) -> None:
    for demo in (workspace.root / "sources").glob("*.toml"):
        demo.unlink()
    workspace.write("sources/helpdesk.toml", f'type = "rt"\nbase_url = "{url}"\ntoken_env = "RT_TOKEN"\n'
                    f"required = {str(required).lower()}\n")


def test_collect_json_in_the_workspace_time_zone(workspace, httpserver):
    httpserver.expect_request("/REST/2.0/tickets").respond_with_handler(pager([item(r) for r in ROWS], 100))
    _rt_workspace(workspace, httpserver.url_for("/"))
    result = workspace.invoke("collect", "--month", "2026-10", "--json", env={"RT_TOKEN": SECRET})
    assert result.exit_code == 0, result.output
    [source] = json.loads(result.stdout)["sources"]
    assert source["status"] == "ok" and source["type"] == "rt" and source["kind"] == "ticketing"
    assert {k: source["metrics"][k] for k in EXPECTED} == EXPECTED


def test_refused_token_fails_the_required_source_with_exit_1(workspace, httpserver):
    httpserver.expect_request("/REST/2.0/tickets").respond_with_json({"message": "Unauthorized"}, status=401)
    _rt_workspace(workspace, httpserver.url_for("/"), required=True)
    result = workspace.invoke("collect", "--month", "2026-10", "--json", env={"RT_TOKEN": SECRET})
    assert result.exit_code == 1
    [source] = json.loads(result.stdout)["sources"]
    assert source["status"] == "failed" and source["metrics"] == {}
    assert source["error"] == ("Request Tracker answered 401 UNAUTHORIZED: check RT_TOKEN (RT auth token) "
                               "and its permissions")
    assert "Traceback" not in result.output and SECRET not in result.output
