"""The preview server in-process, over real HTTP on 127.0.0.1: drafts, reloads, and who may act.

The browser tests (test_preview_browser.py) look at the page; these pin the protocol and the
safety rules without one, so they also run where Chromium is not installed.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path

import pytest

from newsletter import approval
from newsletter.compose.render import Newsletter
from newsletter.jobs import Workspace as Job
from newsletter.model import SourceResult
from newsletter.preview import Previewer, PreviewOptions, error_excerpt, watch
from newsletter.preview_http import PreviewServer
from newsletter.store import Store


def letter(html: str) -> Newsletter:
    return Newsletter(month="2026-10", subject="s", preheader="p", html=html, text="t")


def test_error_excerpt_shows_the_offending_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("brand.mjml.j2").write_text("one\ntwo\n{% if %}\nfour\nfive\nsix\n")
    line, excerpt = error_excerpt("brand.mjml.j2:3: Expected an expression, got 'end of statement block'")
    assert line == 3 and excerpt == [(1, "one"), (2, "two"), (3, "{% if %}"), (4, "four"), (5, "five")]
    assert error_excerpt("MJML could not be compiled") == (None, [])


class Running:
    """A Previewer and its HTTP server on a free port, served from a thread."""

    def __init__(self, workspace, host: str = "127.0.0.1", token: str | None = None) -> None:
        self.workspace = workspace
        def open_workspace(demo_in_memory=False, **extra):
            return Job.open(config_path=str(workspace.config), **extra)

        self.previewer = Previewer(open_workspace, PreviewOptions(month="2026-10", collect=True))
        self.previewer.start()
        self.server = PreviewServer((host, 0), self.previewer, token=token)
        self.host = f"{host}:{self.server.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def request(self, method: str, path: str, body: object = None, headers: dict | None = None):
        conn = http.client.HTTPConnection(self.host, timeout=10)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=data, headers={k: v for k, v in headers.items() if v is not None})
        response = conn.getresponse()
        payload = json.loads(response.read() or b"{}")
        conn.close()
        return response.status, payload

    def post(self, path: str, body: object, **headers: str):
        own = {"Origin": f"http://{self.host}", "X-CSRF-Token": self.server.csrf}
        return self.request("POST", path, body, {**own, **headers})

    def stop(self) -> None:
        self.server.stop()
        self.previewer.close()


@pytest.fixture
def running(workspace):
    workspace.write("sources/highlights/2026-10.md", "## Printers\nAll of them work.\n")
    server = Running(workspace)
    yield server
    server.stop()


def test_the_draft_is_served_as_json(running):
    status, draft = running.request("GET", "/draft.json")
    assert status == 200
    assert draft["subject"].startswith("IT in October:") and draft["content_hash"] and not draft["error"]
    assert {"List-Id", "Auto-Submitted", "Subject", "From", "To"} <= {k for k, _ in draft["headers"]}
    assert draft["review"]["required"] is False and draft["review"]["approved_by"] is None
    assert draft["sources"] == [], "every source of the demo workspace is fine"


def test_failed_and_skipped_sources_are_named_with_their_error(workspace):
    (workspace.root / "sources/highlights/2026-10.md").unlink()  # no highlights this month: skipped
    with Store.open(workspace.state) as store:  # what a source that failed this month leaves in the store
        store.save_results("2026-10", [SourceResult.failed("mail-eu", "demo_mail_security", "mail_security",
                                                           "rspamd answered 500")])
    server = Running(workspace)
    try:
        sources = {s["name"]: s for s in server.previewer.draft.sources}
        assert sources["mail-eu"] == {"name": "mail-eu", "status": "failed", "error": "rspamd answered 500"}
        assert sources["highlights"]["status"] == "skipped"
        assert "no highlights written" in sources["highlights"]["error"]
    finally:
        server.stop()


def test_actions_need_the_csrf_token_and_this_origin(running):
    digest = running.previewer.draft.newsletter.content_hash
    refused = [
        running.post("/approve", {"by": "m", "content_hash": digest}, **{"X-CSRF-Token": "guess"}),
        running.post("/approve", {"by": "m", "content_hash": digest}, Origin="http://evil.example"),
        running.post("/approve", {"by": "m", "content_hash": digest}, Origin="null"),
        running.request("POST", "/approve", {"by": "m", "content_hash": digest},
                        {"X-CSRF-Token": running.server.csrf}),  # neither Origin nor Referer
        running.post("/approve", {"by": "m", "content_hash": digest}, **{"Sec-Fetch-Site": "cross-site"}),
    ]
    assert [status for status, _ in refused] == [403] * 5
    status, body = running.request("POST", "/approve", None, {"Origin": f"http://{running.host}",
                                                              "X-CSRF-Token": running.server.csrf,
                                                              "Content-Type": "text/plain"})
    assert status == 415, body
    assert running.request("GET", "/draft.json", headers={"Host": "evil.example:80"})[0] == 403, "DNS rebinding"
    with Store.open(running.workspace.state) as store:
        assert approval.latest(store, "2026-10") is None


def test_approve_records_exactly_the_version_shown(running):
    digest = running.previewer.draft.newsletter.content_hash
    status, body = running.post("/approve", {"by": "Alice", "content_hash": "0" * 64})
    assert status == 409 and "changed" in body["message"]
    status, body = running.post("/approve", {"by": "Alice", "content_hash": digest},
                                Origin=None, Referer=f"http://{running.host}/")
    assert status == 200 and body["ok"], body
    with Store.open(running.workspace.state) as store:
        assert approval.find(store, "2026-10", digest).approved_by == "Alice"
        assert store.edition("2026-10").status == "approved"
    assert running.previewer.draft.review["approved_by"] == "Alice"


def test_a_reload_rereads_highlights_and_a_bad_config_recovers(running):
    workspace = running.workspace
    before = running.previewer.draft.version
    workspace.write("sources/highlights/2026-10.md", "## Printers\nAll of them work.\n## New wifi\nFaster.\n")
    running.previewer.reload({workspace.root / "sources/highlights/2026-10.md"})
    draft = running.previewer.wait_newer(before, 10)
    assert draft and "New wifi" in draft.newsletter.text and not draft.error
    good = workspace.config.read_text()
    workspace.config.write_text(good + "\n[broken\n")
    running.previewer.reload({workspace.config})
    broken = running.previewer.wait_newer(draft.version, 10)
    assert broken.error and "not valid TOML" in broken.error and broken.newsletter is not None
    workspace.config.write_text(good)
    running.previewer.reload({workspace.config})
    assert not running.previewer.wait_newer(broken.version, 10).error


def test_a_saved_file_is_noticed_by_the_watcher(running):
    stop = threading.Event()
    threads = watch(running.previewer, stop)
    try:
        draft = running.previewer.draft
        deadline = time.monotonic() + 15
        while "Watched" not in draft.newsletter.text and time.monotonic() < deadline:
            # The watcher registers in its own thread: a save before that is not seen, so save again.
            running.workspace.write("sources/highlights/2026-10.md", "## Watched\nSeen without asking.\n")
            draft = running.previewer.wait_newer(draft.version, 1) or draft
        assert "Watched" in draft.newsletter.text
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)


def test_events_stream_the_current_draft(running):
    conn = http.client.HTTPConnection(running.host, timeout=10)
    conn.request("GET", "/events")
    response = conn.getresponse()
    assert response.getheader("Content-Type") == "text/event-stream"
    assert response.readline() == b"event: draft\n"
    data = json.loads(response.readline().removeprefix(b"data: "))
    assert data["version"] == running.previewer.draft.version and data["html"].startswith("<!doctype html>")
    conn.close()


def test_another_address_requires_the_token(workspace):
    server = Running(workspace, host="127.0.0.2", token="s3cret-token")
    try:
        assert server.request("GET", "/")[0] == 403
        assert server.request("GET", "/?token=wrong")[0] == 403
        assert server.request("GET", "/draft.json?token=s3cret-token")[0] == 200
        assert server.post("/send-test", {"to": "a@example.com"})[0] == 403
        assert server.server.url == f"http://127.0.0.2:{server.server.port}/?token=s3cret-token"
    finally:
        server.stop()


@pytest.mark.parametrize("to", ["a@x.example, b@y.example", "user@corp.test.", "Ann <ann@example.com", "", "x" * 300])
def test_the_test_send_form_refuses_junk_with_a_400(running, to):
    status, payload = running.post("/send-test", {"to": to})
    assert status == 400 and payload["ok"] is False, payload
    assert payload["message"].startswith(f"test address {to!r} ")
    assert not (running.workspace.state / "outbox" / "tests").exists()


def test_the_test_send_form_sends_one_copy_to_a_good_address(running):
    status, payload = running.post("/send-test", {"to": "Ann Smith <ann@example.com>"})
    assert status == 200 and payload["ok"] is True, payload
    (sent,) = (running.workspace.state / "outbox" / "tests").glob("*.eml")
    assert "To: Ann Smith <ann@example.com>" in sent.read_text()
