# ruff: noqa: F811  (the fixtures ca and login come from the Defender tests)
"""intune through the CLI, as cron runs it: `newsletter snapshot` stores today's counts of the fleet
(counts only) in the workspace's store, `collect` tells the month from them; an error page quoting
the credentials shows none of them."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from newsletter.period import Month
from tests.contract.helpers import echo_credentials, leaks
from tests.contract.test_intune import DEVICES, SECRET, Fleet, device
from tests.contract.test_m365_defender import ACCESS, CLIENT, TENANT, ca, login, serve_login  # noqa: F401

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def intune_workspace(workspace, httpserver, login, ca, tmp_path):
    for source in (workspace.root / "sources").glob("*.toml"):
        source.unlink()
    workspace.write("sources/devices.toml", f"""\
        type = "intune"
        name = "devices"
        tenant_id = "{TENANT}"
        client_id = "{CLIENT}"
        client_secret_env = "M365_CLIENT_SECRET"
        authority = "https://127.0.0.1:{login.port}"
        base_url = "{httpserver.url_for('/v1.0')}"
        patch_days = 7
        """)
    bundle = tmp_path / "login-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    workspace.env = {"M365_CLIENT_SECRET": SECRET, "REQUESTS_CA_BUNDLE": str(bundle)}  # msal needs https
    return workspace


def stored(workspace) -> list[tuple[str, dict]]:
    with sqlite3.connect(workspace.state / "newsletter.db") as db:
        rows = db.execute("SELECT source, reading FROM source_readings ORDER BY taken_at").fetchall()
    return [(source, json.loads(reading)) for source, reading in rows]


def test_the_daily_snapshot_then_the_months_figures(intune_workspace, httpserver, login):
    serve_login(login, [])
    synced = (datetime.now(UTC) - timedelta(hours=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    Fleet(httpserver, [device("w1", "Windows", "10.0.26100.2314", "compliant", synced),
                       device("w2", "Windows", "10.0.26100.2161", "compliant", synced),
                       device("m1", "macOS", "15.1", "noncompliant", synced)])
    result = intune_workspace.invoke("snapshot", env=intune_workspace.env)
    assert result.exit_code == 0, result.output
    assert stored(intune_workspace) == [("devices", {"by_os": {
        "Windows": {"managed": 2, "compliant": 2, "patched": 1},
        "macOS": {"managed": 1, "compliant": 0, "patched": 1}}, "patch_days": 7})]
    today = datetime.now(UTC).astimezone(BERLIN)
    month = Month(today.year, today.month, BERLIN)
    result = intune_workspace.invoke("collect", "--month", month.label, "--json", env=intune_workspace.env)
    assert result.exit_code == 0, result.output
    [source] = json.loads(result.stdout)["sources"]
    assert source["status"] == "ok", source
    metrics = source["metrics"]
    assert (metrics["managed"], metrics["compliant"], metrics["patched"], metrics["patch_days"]) == (3, 2, 2, 7)
    assert (metrics["managed_month_start"], metrics["as_of"]) == (3, today.date().isoformat())
    assert metrics["covered_days"] == 1 and bool(metrics.get("partial")) is (today.day > 1)  # earlier days: none


def test_an_error_page_quoting_the_credentials_shows_none_of_them(intune_workspace, httpserver, login):
    serve_login(login, [])
    httpserver.expect_request(re.compile(f"{DEVICES}.*")).respond_with_handler(echo_credentials(500))
    result = intune_workspace.invoke("snapshot", env=intune_workspace.env)
    assert result.exit_code == 1, result.output
    assert "no snapshot stored today for devices" in result.output and "500" in result.output
    sent = " ".join(str(request.headers) for request, _ in httpserver.log)
    assert leaks(sent, ACCESS)  # the token did travel, and came back quoted
    assert leaks(result.output, ACCESS) == [] and leaks(result.output, SECRET) == []
    assert stored(intune_workspace) == []
