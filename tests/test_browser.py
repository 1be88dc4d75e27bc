"""The demo newsletter in a real headless Chromium at 375 and 600 px: no sideways scrolling on a
phone, every image loads, screenshots kept in test-artifacts/browser/.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe: NUL-separated
JSON on file descriptors 3 and 4), so no websocket library or downloaded browser is needed; the
viewport is set by device emulation because a headless window cannot be narrower than 500 px.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import subprocess
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from tests.conftest import REPO, require_program

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TIMEOUT_S = 60
ARTIFACTS = REPO / "test-artifacts" / "browser"
MEASURE = """JSON.stringify({
  scrollWidth: document.scrollingElement.scrollWidth,
  viewport: window.innerWidth,
  height: document.scrollingElement.scrollHeight,
  images: Array.from(document.images).map(i => ({src: i.getAttribute("src"), alt: i.alt,
                                                   loaded: i.complete && i.naturalWidth > 0}))
})"""


class DevTools:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, program: str, profile: str) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        self.process = subprocess.Popen(
            [program, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            close_fds=False, preexec_fn=lambda: _map_fds(to_chrome_r, from_chrome_w),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, event: str) -> dict:
        for index, seen in enumerate(self.events):
            if seen.get("method") == event:
                return self.events.pop(index)
        while True:
            reply = self._read()
            if reply.get("method") == event:
                return reply
            self.events.append(reply)

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            if not select.select([self._from_chrome], [], [], TIMEOUT_S)[0]:
                raise AssertionError(f"Chromium did not answer within {TIMEOUT_S} s")
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise AssertionError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        with contextlib.suppress(AssertionError):  # Chromium may close the pipe before it answers
            self.call("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


def _map_fds(to_chrome_r: int, from_chrome_w: int) -> None:
    """In the child: Chromium reads commands on fd 3 and writes replies on fd 4. Our pipe ends are
    not inheritable (os.pipe), so only these two copies reach Chromium past exec."""
    high_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
    high_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
    os.dup2(high_r, 3)
    os.dup2(high_w, 4)


@pytest.fixture(scope="module")
def browser():
    program = require_program("chromium", "the rendered newsletter is checked in a real browser")
    with tempfile.TemporaryDirectory() as profile:
        tools = DevTools(program, profile)
        try:
            yield tools
        finally:
            tools.close()


@pytest.fixture(scope="module")
def demo_html(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "newsletter.html"
    result = CliRunner().invoke(cli, ["-q", "preview", "--demo", "--month", "2026-10", "--output", str(out)],
                                env={"NEWSLETTER_STATE_DIR": str(out.parent / "state")})
    assert result.exit_code == 0, result.output
    return out


def open_page(tools: DevTools, url: str, width: int) -> tuple[str, dict]:
    target = tools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    tools.call("Emulation.setDeviceMetricsOverride",
               {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": width < 500}, session)
    tools.call("Page.enable", session=session)
    tools.call("Page.navigate", {"url": url}, session)
    tools.wait_for("Page.loadEventFired")
    value = tools.call("Runtime.evaluate", {"expression": MEASURE, "returnByValue": True}, session)
    return session, json.loads(value["result"]["value"])


@pytest.mark.parametrize("width", [375, 600])
def test_demo_newsletter_fits_and_loads_every_image(browser, demo_html, width):
    session, measured = open_page(browser, demo_html.as_uri(), width)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"newsletter-{width}px.json").write_text(json.dumps(measured, indent=2))
    shot = browser.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": {
        "x": 0, "y": 0, "width": width, "height": measured["height"], "scale": 1}}, session)
    (ARTIFACTS / f"newsletter-{width}px.png").write_bytes(base64.b64decode(shot["data"]))
    assert measured["viewport"] == width
    assert measured["scrollWidth"] <= width, f"scrolls sideways at {width} px: {measured['scrollWidth']} px wide"
    assert len(measured["images"]) == 1  # the short layout's one chart (the help desk's trend)
    assert all(image["loaded"] for image in measured["images"]), measured["images"]
    assert all(image["alt"] for image in measured["images"])


def test_a_page_that_is_too_wide_is_caught(browser, tmp_path):
    """The measurement can fail: a fixed 700 px table scrolls sideways at 375 px."""
    page = tmp_path / "wide.html"
    page.write_text('<!doctype html><html lang="en"><meta name="viewport" content="width=device-width">'
                    '<body><table width="700"><tr><td>wide</td></tr></table><img src="missing.png" alt="x"></body>')
    _, measured = open_page(browser, page.as_uri(), 375)
    assert measured["scrollWidth"] > 375
    assert measured["images"] == [{"src": "missing.png", "alt": "x", "loaded": False}]


def test_screenshots_are_real_pngs(browser, demo_html):
    shots = sorted(Path(ARTIFACTS).glob("newsletter-*px.png"))
    if not shots:  # this test ran alone
        test_demo_newsletter_fits_and_loads_every_image(browser, demo_html, 375)
        shots = sorted(Path(ARTIFACTS).glob("newsletter-*px.png"))
    for shot in shots:
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
