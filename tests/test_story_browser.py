"""Short by default: the demo edition in a real headless Chromium at a phone's width (375 px) is at
most 4 phone screens (375 x 667 px) long (it was 6.7 before the short layout: the measurement can
fail). Chromium is tests/fixtures/browser.py's `browser`; screenshots kept in test-artifacts/story/."""

from __future__ import annotations

import base64
import json

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from tests.conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PHONE = {"width": 375, "height": 667}
MAX_SCREENS = 4
ARTIFACTS = REPO / "test-artifacts" / "story"
MEASURE = """JSON.stringify({height: document.scrollingElement.scrollHeight, viewport: window.innerWidth,
  images: Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)})"""


def draft(tmp_path):
    """The demo's October 2026 (its longest month: a lead story, a thanks and a tip) as a browser copy."""
    out = tmp_path / "newsletter.html"
    args = ["-q", "preview", "--demo", "--month", "2026-10", "--output", str(out)]
    result = CliRunner().invoke(cli, args, env={"NEWSLETTER_STATE_DIR": str(tmp_path / "state")})
    assert result.exit_code == 0, result.output
    return out


def measure(browser, page_file, name: str) -> dict:
    page = browser.new_page()
    try:
        page.send("Emulation.setDeviceMetricsOverride", deviceScaleFactor=1, mobile=True, **PHONE)
        page.navigate(page_file.as_uri())
        measured = json.loads(page.evaluate(MEASURE))
        shot = page.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": PHONE["width"], "height": measured["height"], "scale": 1})
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{name}-375px.png").write_bytes(base64.b64decode(shot["data"]))
        (ARTIFACTS / f"{name}-375px.json").write_text(json.dumps(measured, indent=2))
        return measured
    finally:
        page.close()


def test_the_demo_edition_is_at_most_four_phone_screens(browser, tmp_path):
    measured = measure(browser, draft(tmp_path), "short")
    assert measured["viewport"] == PHONE["width"]
    screens = measured["height"] / PHONE["height"]
    assert screens <= MAX_SCREENS, f"{measured['height']} px at 375 px: {screens:.1f} phone screens"
    assert measured["images"] and all(measured["images"])
