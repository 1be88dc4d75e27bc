"""Dark mode: the email's `prefers-color-scheme: dark` style turns every theme colour into its
[colors.dark] counterpart, the logo keeps a light backing, the dark pairs are checked for contrast
like the light ones, and in a real Chromium with the dark scheme emulated (Emulation.setEmulatedMedia)
the demo edition shows the dark colours at 375 and 600 px (screenshots in test-artifacts/browser/)."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.compose.checks import check_colors
from newsletter.compose.render import Theme
from newsletter.errors import ConfigError
from newsletter.resources import builtin_theme
from tests.test_theme import PNG_1PX, render, theme_dir


def rgb(color: str) -> str:
    """'#1a222c' as a browser's computed style says it: 'rgb(26, 34, 44)'."""
    digits = color.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(digits[i:i + 2], 16) for i in (0, 2, 4)))


DARK = Theme(builtin_theme().parent, "default").settings()["colors"]["dark"]


def test_the_email_head_carries_the_dark_scheme_with_the_theme_colours():
    html = render(None).html
    head = html[:html.index("</head>")]
    style = next(s for s in re.findall(r"<style[^>]*>(.*?)</style>", head, re.S) if "prefers-color-scheme" in s)
    assert "@media (prefers-color-scheme: dark)" in style
    assert "color-scheme: light dark" in style
    for key in ("page", "card", "brand", "text", "muted", "accent"):
        assert DARK[key] in style, key


def test_a_theme_of_its_own_sets_its_dark_colours_and_they_must_be_colours(tmp_path):
    root = theme_dir(tmp_path, {"theme.toml": '[colors.dark]\ncard = "#202020"\n'})
    assert "background-color: #202020 !important" in render(root, "acme").html
    root = theme_dir(tmp_path / "bad", {"theme.toml": '[colors.dark]\ntext = "white"\n'})
    with pytest.raises(ConfigError, match=r"colors\.dark\.text: expected a colour"):
        render(root, "acme")
    root = theme_dir(tmp_path / "flat", {"theme.toml": '[colors]\ndark = "#000000"\n'})
    with pytest.raises(ConfigError, match=r"colors\.dark: expected a table"):
        render(root, "acme")


def test_dark_pairs_are_checked_for_contrast_as_the_light_ones():
    theme = Theme(builtin_theme().parent, "default").settings()
    assert [f for f in check_colors(theme) if f.check == "contrast"] == []
    theme["colors"]["dark"] |= {"text": "#333333", "accent": "#2a3a4a"}
    found = [str(f) for f in check_colors(theme)]
    assert any(f.startswith("error: contrast: colors.dark.text #333333 on colors.dark.card") for f in found), found
    assert any("colors.dark.accent #2a3a4a" in f and "dark mode: headings" in f for f in found), found


def test_the_logo_gets_its_dark_mode_backing(tmp_path):
    root = theme_dir(tmp_path, {"theme.toml": '[logo]\nfile = "logo.png"\n', "logo.png": PNG_1PX})
    html = render(root, "acme").html
    assert re.search(r'class="logo"', html)
    assert f".logo img {{ background-color: {DARK['logo_backing']} !important" in html


LOOK = """JSON.stringify({dark: matchMedia('(prefers-color-scheme: dark)').matches,
  body: getComputedStyle(document.body).backgroundColor,
  card: getComputedStyle(document.querySelector('div[style*="background-color:#ffffff"]')).backgroundColor,
  headline: getComputedStyle([...document.querySelectorAll('div')]
        .find(e => e.textContent.trim() === 'We moved the datacenter')).color,
  scroll: document.scrollingElement.scrollWidth, viewport: innerWidth,
  images: [...document.images].map(i => i.complete && i.naturalWidth > 0)})"""


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("width", [375, 600])
def test_the_demo_in_dark_mode_in_chromium(browser, tmp_path, width):
    out = tmp_path / "newsletter.html"
    result = CliRunner().invoke(cli, ["-q", "preview", "--demo", "--month", "2026-10", "--output", str(out)],
                                env={"NEWSLETTER_STATE_DIR": str(tmp_path / "state")})
    assert result.exit_code == 0, result.output
    page = browser.new_page(width=width, height=900)
    try:
        page.send("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "dark"}])
        page.navigate(out.as_uri())
        looked = json.loads(page.evaluate(LOOK))
        page.screenshot(f"dark-demo-{width}px")
        page.send("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "light"}])
        light = json.loads(page.evaluate(LOOK))
    finally:
        page.close()
    assert looked["dark"] and not light["dark"]
    assert looked["body"] == rgb(DARK["page"]) and light["body"] == rgb("#eef2f6")
    assert looked["card"] == rgb(DARK["card"]) and light["card"] == rgb("#ffffff")
    assert looked["headline"] == rgb(DARK["text"])
    assert looked["scroll"] <= width == looked["viewport"]
    assert looked["images"] and all(looked["images"])
