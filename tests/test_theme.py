"""Themes: `default:` inheritance, theme.toml branding, sections in config, escaping, `theme new`."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from newsletter.compose.checks import check_html
from newsletter.compose.context import build_context
from newsletter.compose.render import Renderer, Theme
from newsletter.errors import ConfigError, TemplateError
from newsletter.model import SourceResult
from newsletter.period import Month
from tests.test_story import history_of, mail, steady, tickets, uptime

OCTOBER = Month(2026, 10)
PNG_1PX = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")


def theme_dir(root: Path, files: dict[str, str | bytes], name: str = "acme") -> Path:
    for relative, content in files.items():
        path = root / name / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
    return root


def demo_context(sections=None, results=None, **extra) -> dict:
    now = results if results is not None else [tickets(resolved=466, first=720), mail(48213, 750), uptime(99.98)]
    facts = {"company": "Example Corp", "team": "IT", "language": "en", **extra}
    if sections is not None:
        facts["sections"] = sections
    return build_context(OCTOBER, now, history_of(*steady(12)), facts)


def render(root: Path | None, name: str = "default", **kwargs):
    return Renderer(Theme(root or Path("/nonexistent"), name)).render("2026-10", demo_context(**kwargs))


def test_default_theme_renders_story_and_charts():
    newsletter = render(None)
    assert newsletter.subject == "IT in October: 466 requests resolved · 48,213 threats blocked · 99.98% uptime"
    assert len(newsletter.subject) < 80
    assert "21 requests every working day" in newsletter.html  # short: each figure with its sentence
    assert "We resolved 466 requests" not in newsletter.html and "9 in 10 got a first answer" not in newsletter.html
    assert "Most requests resolved in a year" in newsletter.preheader
    assert {image.filename for image in newsletter.images} == {"trend-resolved.png"}
    assert "Requests resolved per month, November 2025 to October 2026" in newsletter.text


def test_the_full_layout_brings_back_every_figure_and_chart(tmp_path):
    root = theme_dir(tmp_path, {"theme.toml": '[layout]\ndetail = "full"\n'})
    newsletter = render(root, "acme")
    assert "We resolved 466 requests" in newsletter.html  # the section's sentence, then every figure
    assert "9 in 10 got a first answer within" in newsletter.html and "Ratings received" in newsletter.html
    assert "- Requests resolved: 466 (66 more than September)" in newsletter.text  # a volume: context, in grey
    assert {image.filename for image in newsletter.images} == {
        "trend-resolved.png", "trend-blocked_total.png", "trend-overall_uptime_pct.png"}


def test_a_layout_that_is_neither_short_nor_full_is_a_config_error(tmp_path):
    root = theme_dir(tmp_path, {"theme.toml": '[layout]\ndetail = "compact"\n'})
    with pytest.raises(ConfigError, match=r'theme.toml: layout.detail: expected "short" .* or "full" .*'
                                          r"got 'compact'"):
        render(root, "acme")


def test_override_one_block_through_default_prefix(tmp_path):
    root = theme_dir(tmp_path, {"newsletter.mjml.j2": """\
        {% extends "default:newsletter.mjml.j2" %}
        {% block header %}<mj-section background-color="#000000"><mj-column>
        <mj-text color="#ffffff">ACME IT NEWS</mj-text></mj-column></mj-section>{% endblock %}
        """})
    html = render(root, "acme").html
    assert "ACME IT NEWS" in html
    assert "21 requests every working day" in html  # every other block still comes from the default theme
    assert "IT in October 2026" not in html


def test_theme_toml_overlays_colors_links_and_headings(tmp_path):
    root = theme_dir(tmp_path, {"theme.toml": """\
        title = "Acme IT, {month}"
        [colors]
        brand = "#7a1f1f"
        [headings]
        ticketing = "Your requests"
        [links]
        portal = "https://help.example.com"
        """})
    newsletter = render(root, "acme")
    assert "Acme IT, October 2026" in newsletter.html
    assert "#7a1f1f" in newsletter.html and "#1f4e79" not in newsletter.html
    assert "Your requests" in newsletter.html
    assert 'href="https://help.example.com"' in newsletter.html
    assert "Need help? Open a request: https://help.example.com" in newsletter.text


def test_local_logo_is_sent_inline_with_alt_and_width(tmp_path):
    root = theme_dir(tmp_path, {"theme.toml": '[logo]\nfile = "logo.png"\nalt = "Acme"\nwidth = 90\n',
                                "logo.png": PNG_1PX})
    newsletter = render(root, "acme")
    logo = next(i for i in newsletter.images if i.filename == "logo.png")
    assert logo.data == PNG_1PX
    assert f'src="cid:{logo.cid}"' in newsletter.html
    assert 'alt="Acme"' in newsletter.html


def test_sections_order_and_presence_come_from_config():
    html = render(None, sections=["uptime", "ticketing"]).html
    assert html.index("Systems you rely on") < html.index("Help desk")
    assert "Email security" not in html and "cid:" not in html
    assert "What we shipped" not in html


def test_an_unknown_section_is_a_template_error():
    with pytest.raises(TemplateError, match=r"no block 'laptops'.*known sections: .*hero"):
        render(None, sections=["hero", "laptops"])


def test_a_section_listed_twice_is_a_template_error():
    with pytest.raises(TemplateError, match="'hero' is listed twice"):
        render(None, sections=["hero", "uptime", "hero"])


def test_a_section_of_your_own_fed_by_a_custom_metric(tmp_path):
    root = theme_dir(tmp_path, {"newsletter.mjml.j2": """\
        {% extends "default:newsletter.mjml.j2" %}
        {% block laptops %}{% if metrics.laptops %}
        <mj-section background-color="#ffffff"><mj-column>
        <mj-text>{{ metrics.laptops.display }} new laptops, {{ metrics.laptops.comparison }}</mj-text>
        </mj-column></mj-section>{% endif %}{% endblock %}
        """})
    custom = SourceResult.ok("team", "metrics_file", "custom", {
        "values": {"laptops": {"value": 42, "label": "Laptops rolled out", "unit": "count", "better": ""}}})
    newsletter = render(root, "acme", sections=["hero", "laptops"], results=[tickets(resolved=466), custom])
    assert "42 new laptops, no figure" not in newsletter.html
    assert "42 new laptops, " in newsletter.html


def test_empty_highlight_sections_disappear():
    results = [tickets(resolved=466), SourceResult.ok("highlights", "highlights", "highlights", {"items": [
        {"title": "Phish test", "body": "Hover first.", "section": "tip_of_the_month"}]})]
    newsletter = render(None, results=results)
    assert "Tip of the month" in newsletter.html and "Phish test" in newsletter.html
    assert "Thank you" not in newsletter.html and "What we shipped" not in newsletter.html
    assert "THANK YOU" not in newsletter.text


def test_highlight_and_category_text_is_escaped():
    evil = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    results = [
        SourceResult.ok("helpdesk", "t", "ticketing", {"resolved": 3, "top_categories": [[evil, 3]]}),
        SourceResult.ok("highlights", "highlights", "highlights", {"items": [
            {"title": evil, "body": f"Body {evil} [link](javascript:alert(3))", "section": "highlights"}]}),
    ]
    newsletter = render(None, results=results)
    html = newsletter.html
    assert "<script>" not in html and "<img src=x" not in html and 'href="javascript:' not in html
    # the title (the lead's headline, and so in the subject: <title> and the preview text), body, category
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;") == 5
    assert [f for f in check_html(newsletter)] == []


def theme_new(workspace, name: str):
    from click.testing import CliRunner

    from newsletter.cli import cli

    return CliRunner().invoke(cli, ["theme", "new", name, "--config", str(workspace.config)])


def test_theme_new_creates_a_working_theme(workspace):
    result = theme_new(workspace, "acme")
    assert result.exit_code == 0, result.output
    folder = workspace.root / "templates" / "acme"
    assert '{% extends "default:newsletter.mjml.j2" %}' in (folder / "newsletter.mjml.j2").read_text()
    # the commented example block works once uncommented
    template = (folder / "newsletter.mjml.j2").read_text().replace("{# Example", "{# Example #}").replace("\n#}", "")
    (folder / "newsletter.mjml.j2").write_text(template)
    (folder / "theme.toml").write_text((folder / "theme.toml").read_text().replace("#1f4e79", "#5b2c83"))
    workspace.configure(base=_with_theme("acme"))
    result = workspace.invoke("check")
    assert result.exit_code == 0, result.output
    again = theme_new(workspace, "acme")
    assert again.exit_code == 2 and "exists already" in again.output
    bad = theme_new(workspace, "../up")
    assert bad.exit_code == 2


def _with_theme(name: str) -> str:
    from tests.fixtures.workspace import BASE_CONFIG

    return BASE_CONFIG.replace('state_dir = "state"', f'state_dir = "state"\ntheme = "{name}"')


@pytest.mark.parametrize(("toml", "said"), [
    ("title = 5\n", "title: expected text in quotes, got 5"),
    ('[logo]\nfile = 5\n', "logo.file: expected text in quotes, got 5"),
    ('[footer]\nlines = "Questions? Reply."\n', "footer.lines: expected a list of lines in quotes"),
    ('[colors]\nbrand = "#1f4e79\\n"\n', "colors.brand: expected a colour as #rrggbb"),
    ('[logo]\nfile = "../../outside.png"\n', "is outside the theme's folder"),
])
def test_a_theme_value_of_the_wrong_kind_is_a_config_error_naming_it(tmp_path, toml, said):
    (tmp_path / "outside.png").write_bytes(PNG_1PX)
    root = theme_dir(tmp_path / "w", {"theme.toml": toml})
    with pytest.raises(ConfigError, match=re.escape(said)):
        render(root, "acme")


def test_a_logo_too_big_for_every_message_is_refused(tmp_path):
    root = theme_dir(tmp_path, {"theme.toml": '[logo]\nfile = "logo.png"\n', "logo.png": PNG_1PX + b"\0" * 600_000})
    with pytest.raises(ConfigError, match=r"logo.file: logo.png is 586 KB; a logo of at most 512 KB"):
        render(root, "acme")


def test_an_empty_colour_leaves_the_charts_their_built_in_one_and_a_misspelt_table_is_said(tmp_path, caplog):
    root = theme_dir(tmp_path, {"theme.toml": '[colors]\ncard = ""\n[colours]\nbrand = "#5b2c83"\n'})
    newsletter = render(root, "acme")
    assert any(image.filename.endswith(".png") for image in newsletter.images)  # the charts were drawn
    assert caplog.text.count("colours: the theme has no such key; did you mean colors?") == 1  # once, not per use


def test_an_include_of_a_file_that_is_not_there_says_so(tmp_path):
    template = ('{% extends "default:newsletter.mjml.j2" %}\n'
                '{% block tip %}{% include "partials/tipp.mjml.j2" %}{% endblock %}\n')
    root = theme_dir(tmp_path, {"newsletter.mjml.j2": template})
    with pytest.raises(TemplateError, match=r"newsletter.mjml.j2:2: no template 'partials/tipp.mjml.j2' in the "
                                            r"theme's folder"):
        render(root, "acme")
