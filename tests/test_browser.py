"""The demo newsletter in a real headless Chromium at 375 and 600 px: no sideways scrolling on a
phone, every image loads, screenshots kept in test-artifacts/browser/ (tests/fixtures/browser.py).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from tests.fixtures.browser import ARTIFACTS, Chromium, Page

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MEASURE = """JSON.stringify({
  scrollWidth: document.scrollingElement.scrollWidth,
  viewport: window.innerWidth,
  height: document.scrollingElement.scrollHeight,
  images: Array.from(document.images).map(i => ({src: i.getAttribute("src"), alt: i.alt,
                                                   loaded: i.complete && i.naturalWidth > 0}))
})"""


@pytest.fixture(scope="module")
def demo_html(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "newsletter.html"
    result = CliRunner().invoke(cli, ["-q", "preview", "--demo", "--month", "2026-10", "--output", str(out)],
                                env={"NEWSLETTER_STATE_DIR": str(out.parent / "state")})
    assert result.exit_code == 0, result.output
    return out


def open_page(browser: Chromium, url: str, width: int) -> tuple[Page, dict]:
    page = browser.new_page(width=width)
    page.navigate(url)
    return page, json.loads(page.evaluate(MEASURE))


@pytest.mark.parametrize("width", [375, 600])
def test_demo_newsletter_fits_and_loads_every_image(browser, demo_html, width):
    page, measured = open_page(browser, demo_html.as_uri(), width)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"newsletter-{width}px.json").write_text(json.dumps(measured, indent=2))
    page.screenshot(f"newsletter-{width}px")
    page.close()
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
    tab, measured = open_page(browser, page.as_uri(), 375)
    tab.close()
    assert measured["scrollWidth"] > 375
    assert measured["images"] == [{"src": "missing.png", "alt": "x", "loaded": False}]


def test_screenshots_are_real_pngs(browser, demo_html):
    shots = sorted(ARTIFACTS.glob("newsletter-*px.png"))
    if not shots:  # this test ran alone
        test_demo_newsletter_fits_and_loads_every_image(browser, demo_html, 375)
        shots = sorted(ARTIFACTS.glob("newsletter-*px.png"))
    for shot in shots:
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_each_browser_starts_from_a_fresh_profile_that_is_removed_on_close(browser):
    from tests.conftest import require_program

    second = Chromium(require_program("chromium"))
    try:
        assert second.profile != browser.profile and second.profile.is_dir()
        assert second.new_page().evaluate("6 * 7") == 42
    finally:
        second.close()
    assert not second.profile.exists(), "the profile is removed with its browser"
    assert browser.profile.is_dir()
