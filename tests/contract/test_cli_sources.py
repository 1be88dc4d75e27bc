"""The new sources through the CLI: TOML -> bind -> validate -> collect -> store, as cron runs it."""

from __future__ import annotations

import json
import sqlite3

from tests.contract.test_uptimerobot import serve as serve_uptimerobot


def configure(workspace, httpserver, *, api_key_line='api_key_env = "UPTIMEROBOT_API_KEY"'):
    workspace.write("sources/uptime.toml", f"""\
        type = "uptimerobot"
        name = "uptime"
        base_url = "{httpserver.url_for('/v2')}"
        {api_key_line}
        exclude = ["Staging"]
        [rename]
        "https://mx1.corp.example:443" = "Email"
        """)
    workspace.write("sources/mail.toml", f"""\
        type = "rspamd"
        name = "mail-filter"
        base_url = "{httpserver.url_for('/')}"
        """)


def test_check_and_collect(workspace, httpserver):
    configure(workspace, httpserver)
    serve_uptimerobot(httpserver)
    httpserver.expect_request("/stat").respond_with_json({"scanned": 120, "actions": {"reject": 7, "no action": 113}})
    checked = workspace.invoke("check")
    assert checked.exit_code == 0, checked.output
    assert "mail-filter" in checked.output and "uptime" in checked.output
    assert len(httpserver.log) == 0  # check makes no request

    result = workspace.invoke("collect", "--month", "2026-10", "--json", env={"UPTIMEROBOT_API_KEY": "ur-key-42"})
    # the mail filter cannot be counted yet: a failed source, but an optional one: a warning, exit 0
    assert result.exit_code == 0, result.output
    assert "warning: optional source mail-filter failed" in result.stderr
    sources = {s["name"]: s for s in json.loads(result.stdout)["sources"]}
    uptime = sources["uptime"]
    assert uptime["status"] == "ok"
    assert [s["name"] for s in uptime["metrics"]["services"]] == ["Email", "vpn gateway", "Old intranet", "Printer"]
    mail = sources["mail-filter"]
    assert mail["status"] == "failed" and "rspamd" in mail["error"] and mail["metrics"] == {}
    with sqlite3.connect(workspace.state / "newsletter.db") as db:  # the first snapshot is kept for next month
        assert db.execute("SELECT COUNT(*) FROM source_readings WHERE source='mail-filter'").fetchone() == (1,)
    assert "ur-key-42" not in result.output


def test_a_plaintext_key_is_refused_before_any_request(workspace, httpserver):
    configure(workspace, httpserver, api_key_line='api_key = "ur-key-42"')
    result = workspace.invoke("check")
    assert result.exit_code == 2
    assert "uptime.toml: api_key: secrets are not written in config files; use api_key_env" in result.output
    assert "ur-key-42" not in result.output


def test_plain_http_to_another_host_stops_check_with_exit_2(workspace, httpserver):
    """An API key would cross the network in clear text: refused before any request, one line naming
    the file and the key."""
    configure(workspace, httpserver)
    text = (workspace.root / "sources" / "uptime.toml").read_text()
    workspace.write("sources/uptime.toml", text.replace(httpserver.url_for("/v2"), "http://uptime.example.com/v2"))
    result = workspace.invoke("check", env={"UPTIMEROBOT_API_KEY": "ur-key-42"})
    assert result.exit_code == 2, result.output
    [line] = [line for line in result.output.splitlines() if "base_url" in line]
    assert "uptime.toml: source uptime: base_url: use https://" in line
    assert "Traceback" not in result.output and len(httpserver.log) == 0
