"""The README's theme examples work as written: change colours and logo, replace a section, add one."""

from __future__ import annotations

import re
import tomllib

from newsletter.compose.render import Renderer, Theme
from newsletter.model import SourceResult
from tests.conftest import REPO
from tests.test_story import mail, tickets, uptime
from tests.test_theme import PNG_1PX, demo_context


def branding_examples() -> tuple[list[str], list[str]]:
    text = (REPO / "README.md").read_text()
    part = text[text.index("## Branding and themes"):text.index("### Email-client checks")]
    return re.findall(r"```jinja\n(.*?)```", part, re.S), re.findall(r"```toml\n(.*?)```", part, re.S)


def test_readme_theme_examples_render(tmp_path):
    jinja, toml = branding_examples()
    assert len(jinja) == 2 and len(toml) == 2
    theme = tmp_path / "acme"
    theme.mkdir()
    (theme / "theme.toml").write_text(toml[0])
    (theme / "logo.png").write_bytes(PNG_1PX)
    (theme / "newsletter.mjml.j2").write_text(jinja[0] + jinja[1])
    sections = tomllib.loads(toml[1])["newsletter"]["sections"]
    laptops = SourceResult.ok("team", "metrics_file", "custom", {"values": {"laptops_rolled_out": {
        "value": 42, "label": "Laptops rolled out", "unit": "count", "better": ""}}})
    tip = SourceResult.ok("highlights", "highlights", "highlights", {"items": [
        {"title": "Report phishing", "body": "Use the button.", "section": "tip_of_the_month"}]})
    results = [tickets(resolved=466, first=720), mail(48213, 750), uptime(99.98), laptops, tip]
    newsletter = Renderer(Theme(tmp_path, "acme")).render("2026-10", demo_context(sections=sections, results=results))
    html = newsletter.html
    assert "42 new laptops" in html and "Our first month of the roll-out." in html  # no earlier month stored
    assert html.index("42 new laptops") < html.index("Help desk")
    assert "#5b2c83" in html and 'alt="Acme"' in html
    assert any(image.filename == "logo.png" for image in newsletter.images)
    band = html[html.index("Report phishing") - 1500:html.index("Report phishing")]
    assert "background:#5b2c83" in band or "background-color:#5b2c83" in band
