"""The preview server in-process, over real HTTP on 127.0.0.1: drafts, reloads, and who may act.

The browser tests (test_preview_browser.py) look at the page; these pin the protocol and the
safety rules without one, so they also run where Chromium is not installed.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from newsletter import approval
from newsletter.compose.render import Newsletter
from newsletter.drafts import compose
from newsletter.model import SourceResult
from newsletter.preview import Previewer, PreviewOptions, error_excerpt, watch
from newsletter.preview_http import PreviewServer, email_policy, open_browser
from newsletter.store import Store
from newsletter.workspace import Workspace as Job
from tests.fixtures.workspace import BASE_CONFIG


def letter(html: str) -> Newsletter:
    return Newsletter(month="2026-10", subject="s", preheader="p", html=html, text="t")


def test_error_excerpt_shows_the_offending_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("brand.mjml.j2").write_text("one\ntwo\n{% if %}\nfour\nfive\nsix\n")
    line, excerpt = error_excerpt("brand.mjml.j2:3: Expected an expression, got 'end of statement block'")
    assert line == 3 and excerpt == [(1, "one"), (2, "two"), (3, "{% if %}"), (4, "four"), (5, "five")]
    assert error_excerpt("MJML could not be compiled") == (None, [])


TOKEN = "t0ken-for-the-tests"


class Running:
    """A Previewer and its HTTP server on a free port, served from a thread."""

    def __init__(self, workspace, host: str = "127.0.0.1", token: str = TOKEN) -> None:
        self.workspace = workspace
        def open_workspace(demo_in_memory=False, **extra):
            return Job.open(config_path=str(workspace.config), **extra)

        self.previewer = Previewer(open_workspace, PreviewOptions(month="2026-10", collect=True))
        self.previewer.start()
        self.server = PreviewServer((host, 0), self.previewer, token=token)
        self.token = token
        self.host = f"{host}:{self.server.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def raw(self, method: str, path: str, body: object = None, headers: dict | None = None, *,
            token: str | None = TOKEN) -> tuple[http.client.HTTPResponse, bytes]:
        """One request; `token` is added to the query string as the page's own requests do (None: left out)."""
        if token is not None:
            path += ("&" if "?" in path else "?") + "token=" + (self.token if token == TOKEN else token)
        conn = http.client.HTTPConnection(self.host, timeout=10)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=data, headers={k: v for k, v in headers.items() if v is not None})
        response = conn.getresponse()
        payload = response.read()
        conn.close()
        return response, payload

    def request(self, method: str, path: str, body: object = None, headers: dict | None = None, *,
                token: str | None = TOKEN):
        response, payload = self.raw(method, path, body, headers, token=token)
        return response.status, json.loads(payload or b"{}")

    def post(self, path: str, body: object, *, token: str | None = TOKEN, **headers: str):
        own = {"Origin": f"http://{self.host}", "X-CSRF-Token": self.server.csrf}
        return self.request("POST", path, body, {**own, **headers}, token=token)

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


def seen(running, change, wanted, seconds: float = 20):
    """Make `change` until a draft for which `wanted(draft)` holds is rendered (the watcher registers in its
    own thread: a change made before that is not seen, so it is made again), or the time is up."""
    draft = running.previewer.draft
    deadline = time.monotonic() + seconds
    while not wanted(draft) and time.monotonic() < deadline:
        change()
        draft = running.previewer.wait_newer(draft.version, 1) or draft
    return wanted(draft)


def test_a_watched_folder_deleted_and_made_again_is_watched_again(workspace):
    """An editor or a `git checkout` that replaces the folder: watchfiles stops there, the preview must not."""
    folder = workspace.root / "notes"
    folder.mkdir()
    (folder / "2026-10.md").write_text("## Printers\nAll of them work.\n")
    workspace.write("sources/highlights.toml", f'type = "highlights"\nname = "highlights"\ndir = "{folder}"\n')
    running = Running(workspace)
    stop = threading.Event()
    threads = watch(running.previewer, stop)
    try:
        assert seen(running, lambda: (folder / "2026-10.md").write_text("## Watched\nSeen.\n"),
                    lambda d: "Watched" in d.newsletter.text)
        before = running.previewer.draft.version
        shutil.rmtree(folder)
        assert running.previewer.wait_newer(before, 10), "the deletion is seen"
        time.sleep(0.5)
        folder.mkdir()
        assert seen(running, lambda: (folder / "2026-10.md").write_text("## Checked out\nAgain.\n"),
                    lambda d: not d.error and "Checked out" in d.newsletter.text)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
        running.stop()


def test_a_theme_folder_replaced_while_watched_is_watched_again(workspace):
    """Between the delete and the checkout the theme is missing: the page says so, then recovers by itself."""
    (workspace.root / "templates/brand").mkdir(parents=True)
    workspace.configure(base=BASE_CONFIG.replace('state_dir = "state"', 'state_dir = "state"\ntheme = "brand"'))
    running = Running(workspace)
    stop = threading.Event()
    threads = watch(running.previewer, stop)
    try:
        time.sleep(1.5)  # the watchers have registered
        before = running.previewer.draft.version
        shutil.rmtree(workspace.root / "templates")
        gone = running.previewer.wait_newer(before, 10)
        assert gone and "no theme 'brand'" in gone.error
        (workspace.root / "templates/brand").mkdir(parents=True)
        back = running.previewer.wait_newer(gone.version, 10)
        assert back and not back.error
        highlights = workspace.root / "sources/highlights/2026-10.md"
        assert seen(running, lambda: highlights.write_text("## Still watched\nYes.\n"),
                    lambda d: "Still watched" in d.newsletter.text)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
        running.stop()


def test_a_recipients_file_a_config_change_names_is_watched(running):
    workspace = running.workspace
    people = workspace.root / "people.csv"
    people.write_text("email,name\nana@example.com,Ana\n")
    stop = threading.Event()
    threads = watch(running.previewer, stop)
    try:
        config = BASE_CONFIG.replace('to = ["all@example.com"]', 'to = []\nrecipients = "people.csv"')
        assert seen(running, lambda: workspace.configure(base=config), lambda d: "ana@example.com" in d.recipient)
        assert seen(running, lambda: people.write_text("email,name\nbo@example.com,Bo\n"),
                    lambda d: "bo@example.com" in d.recipient)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)


def test_events_stream_the_current_draft(running):
    conn = http.client.HTTPConnection(running.host, timeout=10)
    conn.request("GET", f"/events?token={running.token}")
    response = conn.getresponse()
    assert response.getheader("Content-Type") == "text/event-stream"
    assert response.readline() == b"event: draft\n"
    data = json.loads(response.readline().removeprefix(b"data: "))
    assert data["version"] == running.previewer.draft.version and data["html"].startswith("<!doctype html>")
    conn.close()


def test_a_browser_that_goes_away_mid_request_prints_no_traceback(running, capsys):
    # A tab closed or a frame reloaded while its request was on the way: the terminal stays quiet.
    request = f"GET /draft.json?token={running.token} HTTP/1.1\r\nHost: {running.host}\r\n".encode()
    for sent in (request, request + b"\r\n"):  # in the middle of its headers, and before its answer
        conn = socket.create_connection(("127.0.0.1", running.server.port))
        conn.sendall(sent)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset, not closed
        conn.close()
    time.sleep(0.5)
    assert running.request("GET", "/draft.json")[0] == 200
    assert "Traceback" not in capsys.readouterr().err


def test_another_address_requires_the_token(workspace):
    server = Running(workspace, host="127.0.0.2", token="s3cret-token")
    try:
        assert server.raw("GET", "/", token=None)[0].status == 403
        assert server.raw("GET", "/", token="wrong")[0].status == 403
        assert server.request("GET", "/draft.json")[0] == 200
        assert server.post("/send-test", {"to": "a@example.com"}, token=None)[0] == 403
        assert server.server.url == f"http://127.0.0.2:{server.server.port}/?token=s3cret-token"
    finally:
        server.stop()


def test_loopback_needs_the_token_too_for_every_page_and_action(running):
    # Any local process can reach 127.0.0.1: only whoever holds the printed URL may see the CSRF
    # token, send a test through the team's relay or approve.
    for path in ("/", "/draft.json", "/events", "/email.html"):
        for token in (None, "wrong", ""):
            response, body = running.raw("GET", path, token=token)
            assert response.status == 403, (path, token)
            assert running.server.csrf.encode() not in body
    response, body = running.raw("GET", "/", token=None)
    hint = body.decode()
    assert len(hint.strip().splitlines()) == 1 and "URL" in hint and "token" in hint, hint
    digest = running.previewer.draft.newsletter.content_hash
    for path, action in (("/approve", {"by": "mallory", "content_hash": digest}),
                         ("/send-test", {"to": "mallory@example.com"}), ("/nothing-here", {})):
        status, body = running.post(path, action, token=None)  # right CSRF token and Origin, no token
        assert status == 403 and "token" in body["message"], (path, body)
    with Store.open(running.workspace.state) as store:
        assert approval.latest(store, "2026-10") is None
    assert not (running.workspace.state / "outbox").exists(), "no test copy went out"
    response, body = running.raw("GET", "/")
    assert response.status == 200 and running.server.csrf.encode() in body
    assert running.server.url == f"http://127.0.0.1:{running.server.port}/?token={TOKEN}"


def test_the_preview_prints_a_url_with_a_token_on_loopback(workspace):
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    process = subprocess.Popen([sys.executable, "-m", "newsletter", "preview", "--config", str(workspace.config),
                                "--month", "2026-10", "--no-open", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = re.search(r"http://\S+", process.stdout.readline())[0]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[\w-]{20,}", url), url
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url.split("?")[0], timeout=10)
        assert refused.value.code == 403
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0


def policy(header: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in header.split(";") if d.strip()}


@pytest.fixture
def charted(workspace):
    """A preview whose email has charts: inline images, which need three months stored."""
    assert workspace.invoke("collect", "--month", "2026-10", "--backfill", "3").exit_code == 0
    server = Running(workspace)
    yield server
    server.stop()


def test_the_email_is_served_under_a_policy_that_forbids_scripts_and_remote_content(charted):
    running = charted
    response, body = running.raw("GET", "/email.html")
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/html")
    csp = policy(response.getheader("Content-Security-Policy"))
    assert csp["default-src"] == ["'none'"] and "script-src" not in csp, csp
    assert csp["img-src"] == ["'self'", "data:", "cid:"] and csp["style-src"] == ["'unsafe-inline'"]
    assert csp["form-action"] == ["'none'"] and csp["frame-ancestors"] == ["'self'"]
    html = body.decode()
    images = running.previewer.draft.newsletter.images
    assert images and "cid:" not in html, "the charts point at the preview, which serves them"
    for image in images:
        assert f"/images/{image.filename}?token={TOKEN}" in html
        shown, data = running.raw("GET", f"/images/{image.filename}")
        assert shown.status == 200 and data == image.data and shown.getheader("Content-Type") == "image/png"
    dark, _ = running.raw("GET", "/email.html?dark=1")
    assert dark.status == 200 and dark.getheader("Content-Security-Policy") == response.getheader(
        "Content-Security-Policy")
    page, _ = running.raw("GET", "/")
    own = policy(page.getheader("Content-Security-Policy"))
    assert own["script-src"][0].startswith("'nonce-") and own["connect-src"] == ["'self'"]
    assert own["frame-src"] == ["'self'"]


def test_the_email_policy_allows_exactly_the_remote_images_the_email_shows():
    html = ('<img src="https://cdn.example.com/brand/logo.png?v=2" alt="l">'
            '<img src="https://evil.example/x.png; script-src *" alt="x">'
            "<img src='http://img.example.org/a b.png' alt='y'><img src=\"javascript:alert(1)\" alt='z'>"
            '<div style="background:url(https://tracker.example/p.gif)"></div>')
    csp = policy(email_policy(html))
    assert csp["img-src"] == ["'self'", "data:", "cid:", "https://cdn.example.com/brand/logo.png"], csp
    assert "script-src" not in csp and len(csp["default-src"]) == 1


PERSONAL_HEADER = """\
{% extends "default:newsletter.mjml.j2" %}
{% block header %}
<mj-section><mj-column>
<mj-text>Hello [[ recipient.name ]] from [[ recipient.department ]]</mj-text>
</mj-column></mj-section>
{% endblock %}
"""


def test_a_per_person_workspace_previews_the_first_persons_edition(workspace):
    # the manual's per-person set-up (docs/delivery.md, Recipients): no lists, one message per person of people.csv
    workspace.write("people.csv", "email,name,department\nann@example.com,Ann Smith,Finance\nbob@example.com,Bob,IT\n")
    workspace.write("templates/brand/newsletter.mjml.j2", PERSONAL_HEADER)
    workspace.configure(base=BASE_CONFIG.replace('to = ["all@example.com"]', 'to = []\nrecipients = "people.csv"')
                        .replace('state_dir = "state"', 'state_dir = "state"\ntheme = "brand"'))
    server = Running(workspace)
    try:
        status, draft = server.request("GET", "/draft.json")
        assert status == 200 and not draft["error"], draft["error"]
        assert "Hello Ann Smith from Finance" in draft["html"] and "[[" not in draft["html"]
        assert dict(draft["headers"])["To"] == "Ann Smith <ann@example.com>"
        assert "Ann Smith <ann@example.com>" in draft["recipient"] and "people.csv" in draft["recipient"]
        _, email = server.raw("GET", "/email.html")
        assert b"Hello Ann Smith from Finance" in email
        ws = Job.open(config_path=str(workspace.config))
        try:  # approvals and the run compare the edition's hash, not one person's copy
            assert draft["content_hash"] == compose(ws, ws.month("2026-10")).content_hash
        finally:
            ws.store.close()
        workspace.write("people.csv", "email,name,department\nzoe@example.com,Zoe,Legal\n")
        before = server.previewer.draft.version
        server.previewer.reload({workspace.root / "sources/highlights/2026-10.md"})
        again = server.previewer.wait_newer(before, 10)
        assert again and "Hello Zoe from Legal" in again.to_json()["html"], "an edited list is read again"
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


def test_the_language_switch_shows_the_draft_in_another_language_and_approval_stays_the_editions(running):
    status, draft = running.request("GET", "/draft.json")
    assert draft["language"] == "en" and {"en", "de", "fr", "es"} <= set(draft["languages"])
    digest = draft["content_hash"]
    status, body = running.post("/language", {"language": "de"})
    assert status == 200 and body["ok"], body
    status, draft = running.request("GET", "/draft.json")
    assert draft["language"] == "de" and draft["subject"].startswith("IT im Oktober")
    assert "Die IT im Oktober 2026" in draft["text"]
    assert draft["content_hash"] == digest, "what is approved is the edition, whatever language is shown"
    status, body = running.post("/language", {"language": "xx"})
    assert status == 400 and "no catalog for 'xx'" in body["message"]
    assert running.request("GET", "/draft.json")[1]["language"] == "de"


def test_a_frozen_edition_shows_only_what_went_out_whatever_the_language_switch(workspace):
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    assert workspace.invoke("run", "--month", "2026-10").exit_code == 0  # sent in English only
    server = Running(workspace)
    try:
        sent = server.request("GET", "/draft.json")[1]
        status, body = server.post("/language", {"language": "de"})
        assert status == 200, body
        shown = server.request("GET", "/draft.json")[1]
        assert shown["frozen"] and shown["language"] == "en" and shown["subject"] == sent["subject"]
    finally:
        server.stop()


class V6OnlyServer(PreviewServer):
    """A machine whose IPv6 sockets take no IPv4 (net.ipv6.bindv6only = 1, the default of some systems)."""

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()


def test_the_ipv6_wildcard_prints_a_url_that_works_on_ipv6_only_sockets(running):
    server = V6OnlyServer(("::", 0), running.previewer, token=TOKEN)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert server.url == f"http://[::1]:{server.port}/?token={TOKEN}"
        with urllib.request.urlopen(server.url, timeout=10) as page:
            assert page.status == 200
    finally:
        server.stop()


@pytest.mark.parametrize(("url", "hint"), [
    ("http://127.0.0.1:8765/?token=x", "ssh -L 8765:127.0.0.1:8765 HOST"),
    ("http://[::1]:8766/?token=x", "ssh -L 8766:[::1]:8766 HOST"),
    ("http://192.0.2.5:8767/?token=x", "open the URL in your own browser."),  # reached as it is, no tunnel
])
def test_without_a_desktop_the_ssh_hint_forwards_the_address_served(monkeypatch, url, hint):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    said: list[str] = []
    open_browser(url, said.append)
    assert len(said) == 1 and hint in said[0], said


def closed_within(conn: socket.socket, seconds: float, trickle: bytes = b"") -> bool:
    """Whether the server closes `conn` within `seconds`, while the client sends `trickle` a byte at a time."""
    conn.settimeout(0.25)
    ends = time.monotonic() + seconds
    for byte in (trickle[i:i + 1] for i in range(len(trickle))):
        if time.monotonic() > ends:
            return False
        try:
            conn.sendall(byte)
            if conn.recv(1024) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:  # reset: closed too
            return True
    while time.monotonic() < ends:
        try:
            if conn.recv(1024) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


def test_a_stalled_or_trickling_connection_is_let_go(running, monkeypatch):
    """Any local process can connect: one that sends nothing, or a header a byte at a time, must not hold
    a server thread for ever."""
    from newsletter import preview_http

    assert preview_http.PreviewHandler.timeout and preview_http.REQUEST_S <= 60  # shortened here to keep the test quick
    monkeypatch.setattr(preview_http.PreviewHandler, "timeout", 1.0)
    monkeypatch.setattr(preview_http, "REQUEST_S", 2.0)
    stalled = socket.create_connection(("127.0.0.1", running.server.port))
    trickling = socket.create_connection(("127.0.0.1", running.server.port))
    try:
        assert closed_within(stalled, 5)
        header = f"GET /draft.json?token={running.token} HTTP/1.1\r\n" + "X-Slow: " + "a" * 200
        assert closed_within(trickling, 8, header.encode())
    finally:
        stalled.close()
        trickling.close()
    assert running.request("GET", "/draft.json")[0] == 200
