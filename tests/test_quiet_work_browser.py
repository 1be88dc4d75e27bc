"""The demo's backups, devices and awareness as a colleague reads them, in a real headless Chromium
(tests/fixtures/browser.py) at 375 and 600 px, light and dark: the short email shows each in the
configured order without sideways scrolling; the full layout (the edition's web page) shows every
job and operating system; the year in review counts them in its numbers. Screenshots kept in
test-artifacts/browser/ (quiet-*.png)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from newsletter.cli import cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]
READ = """JSON.stringify({text: document.body.innerText, scroll: document.scrollingElement.scrollWidth,
  viewport: window.innerWidth, images: Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)})"""
HEADINGS = ("Backups", "Laptops and phones", "Spotting phishing")


def invoke(*args: str, env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["-q", *args], env=env)
    assert result.exit_code == 0, result.output


def read(browser, path, width: int, scheme: str, name: str) -> dict:
    page = browser.new_page(width=width, height=900)
    try:
        page.send("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": scheme}])
        page.navigate(path.as_uri())
        seen = json.loads(page.evaluate(READ))
        page.screenshot(f"quiet-{name}-{scheme}-{width}px")
        return seen
    finally:
        page.close()


def draft(tmp_path_factory, name: str, *args: str):
    """The demo's draft written by `preview` with `args`, in a state folder of its own."""
    folder = tmp_path_factory.mktemp(name)
    out = folder / f"{name}.html"
    invoke("preview", "--demo", *args, "--output", str(out), env={"NEWSLETTER_STATE_DIR": str(folder / "state")})
    return out


@pytest.fixture(scope="module")
def short_draft(tmp_path_factory):
    return draft(tmp_path_factory, "short", "--month", "2026-10")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 600])
def test_the_quiet_work_reads_in_the_short_email(browser, short_draft, width, scheme):
    seen = read(browser, short_draft, width, scheme, "short")
    text = seen["text"]
    places = [text.find(heading) for heading in (*HEADINGS, "The last twelve months")]
    assert -1 not in places and places == sorted(places), places  # the configured sections order
    assert "restores for colleagues" in text and "of devices fully patched" in text
    # the hero says October's backups already ("6 months in a row without a failed backup"): not said twice
    backups = text[text.index("Backups"):text.index("Laptops and phones")]
    assert "6 months in a row without a failed backup" in text and "of backups made" not in backups
    assert seen["scroll"] <= width == seen["viewport"]
    assert seen["images"] and all(seen["images"])


def test_the_web_page_shows_every_job_and_operating_system(browser, tmp_path):
    workspace = tmp_path / "workspace"
    invoke("init", str(workspace), env={})
    theme = workspace / "templates" / "default"
    theme.mkdir(parents=True, exist_ok=True)
    (theme / "theme.toml").write_text('[layout]\ndetail = "full"\n')
    env = {"NEWSLETTER_CONFIG": str(workspace / "newsletter.toml"), "NEWSLETTER_STATE_DIR": str(tmp_path / "state")}
    invoke("collect", "--month", "2026-10", "--backfill", "12", env=env)
    out = tmp_path / "full.html"
    invoke("preview", "--month", "2026-10", "--output", str(out), env=env)
    for scheme in ("light", "dark"):
        seen = read(browser, out, 375, scheme, "full")
        assert seen["scroll"] <= 375 == seen["viewport"]
    text = seen["text"]
    for words in ("Virtual machines", "Mail archive", "Windows", "Android", "Devices fully patched within 14 days",
                  "Reported the test phishing email", "We made every one of the 2,418 backups that ran"):
        assert words in text, words


@pytest.fixture(scope="module")
def year_draft(tmp_path_factory):
    return draft(tmp_path_factory, "year", "--year", "2026", "--collect")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 600])
def test_the_year_in_numbers_counts_the_quiet_work_too(browser, year_draft, width, scheme):
    seen = read(browser, year_draft, width, scheme, "year")
    numbers = seen["text"]
    for said in ("average backup success", "restores for colleagues", "average device compliance",
                 "security trainings completed"):
        assert said in numbers, said
    assert numbers.index("phishing emails stopped") < numbers.index("average backup success")
    assert seen["scroll"] <= width == seen["viewport"]
