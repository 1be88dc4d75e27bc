"""`newsletter collect --json` with a ticketing source, as cron runs it: the workspace's time zone
(Europe/Berlin) reaches the collector, and a refused token is a failed source, not a traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from tests.conftest import REPO
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


class FlakyVendor:
    """RT on a raw socket: the first connection dropped unanswered, the second a 503, then the page.
    That is what makes urllib3 log its long "Retrying (Retry(total=...)) after connection broken" line."""

    def __init__(self, page: bytes) -> None:
        self.page = page
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(65536) or b"\r\n\r\n"
                self.connections += 1
                if self.connections == 1:
                    continue  # dropped without an answer
                status, body = ("503 Service Unavailable", b"busy") if self.connections == 2 else ("200 OK", self.page)
                conn.sendall(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                             "Connection: close\r\n\r\n".encode() + body)

    def close(self) -> None:
        self.server.close()


@pytest.mark.parametrize("level", ["default", "-q", "-v"])
def test_urllib3_retry_lines_only_under_verbose(workspace, level):
    page = json.dumps({"total": 9, "count": 9, "page": 1, "pages": 1, "per_page": 100,
                       "items": [item(r) for r in ROWS]}).encode()
    vendor = FlakyVendor(page)
    try:
        _rt_workspace(workspace, f"http://127.0.0.1:{vendor.port}/")
        flags = [] if level == "default" else [level]
        done = subprocess.run([sys.executable, "-m", "newsletter", *flags, "collect", "--config", str(workspace.config),
                               "--month", "2026-10"], capture_output=True, text=True, timeout=120, cwd=REPO,
                              env={**os.environ, "RT_TOKEN": SECRET})
    finally:
        vendor.close()
    assert done.returncode == 0, done.stderr
    assert vendor.connections == 3  # dropped, 503, answered
    if level == "-v":
        assert "Retrying (" in done.stderr  # the detail, for whoever asked for it ...
        assert "?query" not in done.stderr and "TicketSQL" not in done.stderr  # ... without the query string
    else:
        assert "Retrying" not in done.stderr and "urllib3" not in done.stderr, done.stderr
    if level == "-q":
        assert done.stderr == "" and done.stdout.strip().endswith("ok")  # cron mails nothing but the summary


@pytest.mark.parametrize("flags", [[], ["-q"]])
def test_a_library_that_raises_its_own_log_level_stays_off_stderr(workspace, httpserver, flags):
    """Other libraries speak on stderr at WARNING only, even one that sets its own logger to INFO:
    werkzeug does, and logs each request this test's vendor answers. (A line left behind by a server
    thread of an earlier test would otherwise land in whichever command's stderr is open then.)"""
    httpserver.expect_request("/REST/2.0/tickets").respond_with_handler(pager([item(r) for r in ROWS], 100))
    _rt_workspace(workspace, httpserver.url_for("/"))
    result = CliRunner().invoke(cli, [*flags, "collect", "--config", str(workspace.config), "--month", "2026-10"],
                                env={"RT_TOKEN": SECRET}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert httpserver.log and "GET /REST/2.0/tickets" not in result.stderr, result.stderr
    if flags:
        assert result.stderr == ""
