"""Email-client safety checks, each with a theme that breaks it; `check` fails on errors (exit 2)."""

from __future__ import annotations

import re

import pytest

from newsletter.compose.checks import check_newsletter, contrast
from newsletter.compose.render import Renderer, Theme
from newsletter.errors import ConfigError
from tests.test_theme import demo_context, theme_dir

BLOCK = '{{% extends "default:newsletter.mjml.j2" %}}{{% block hero %}}{}{{% endblock %}}'


def raw(html: str) -> str:
    return BLOCK.format(f"<mj-raw>{html}</mj-raw>")


def findings_for(tmp_path, files, **context):
    root = theme_dir(tmp_path, files)
    theme = Theme(root, "acme")
    newsletter = Renderer(theme).render("2026-10", demo_context(**context))
    return check_newsletter(newsletter, theme.settings())


def test_the_default_theme_passes_every_check():
    theme = Theme(theme_dir.__globals__["Path"]("/nonexistent"), "default")
    newsletter = Renderer(theme).render("2026-10", demo_context())
    assert check_newsletter(newsletter, theme.settings()) == []
    assert len(newsletter.html.encode()) < 60 * 1024


@pytest.mark.parametrize(("files", "level", "check", "words"), [
    ({"newsletter.mjml.j2": raw("<script>track()</script>")}, "error", "script", "<script>"),
    ({"newsletter.mjml.j2": raw('<svg width="10" height="10"></svg>')}, "error", "svg", "PNG"),
    ({"newsletter.mjml.j2": raw('<img src="data:image/png;base64,AAAA" alt="x" width="1">')}, "error", "data-uri",
     "data: URI"),
    ({"newsletter.mjml.j2": raw('<img src="https://example.com/a.png" width="10">')}, "error", "alt", "alt text"),
    ({"newsletter.mjml.j2": raw('<img src="https://example.com/a.png" alt="A">')}, "error", "width", "width"),
    ({"newsletter.mjml.j2": raw('<img src="cid:nothing@here" alt="A" width="5">')}, "error", "cid", "not attached"),
    ({"newsletter.mjml.j2": BLOCK.format("<mj-raw>" + "<p>padding</p>" * 9000 + "</mj-raw>")}, "error", "size",
     "102 KB"),
    ({"newsletter.mjml.j2": BLOCK.format('<mj-section><mj-column><mj-image src="{{ theme.banner }}" alt="Banner" '
                                         'width="200px" /></mj-column></mj-section>'), "theme.toml": 'banner = ""\n'},
     "error", "image", "an image without an address (src) shows as a broken image"),
    ({"subject.txt.j2": "{{ 'A very long subject line ' * 5 }}"}, "warning", "subject", "shorten"),
    ({"subject.txt.j2": "{{ '' }}"}, "error", "subject", "empty"),
    ({"theme.toml": '[colors]\nmuted = "#808080"\n'}, "warning", "contrast", "colors.muted #808080 on colors.card"),
    ({"theme.toml": '[colors]\nbrand_text = "#3a6e99"\n'}, "error", "contrast", "below WCAG AA"),
])
def test_a_theme_that_breaks_a_check_is_reported(tmp_path, files, level, check, words):
    findings = findings_for(tmp_path, files)
    matching = [f for f in findings if f.check == check]
    assert matching, findings
    assert matching[0].level == level
    assert words in matching[0].message


def test_a_colour_that_is_not_one_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"acme/theme.toml: colors.text: expected a colour as #rrggbb, got 'dark"):
        findings_for(tmp_path, {"theme.toml": '[colors]\ntext = "dark grey"\n'})


@pytest.mark.parametrize(("toml", "message"), [
    ('logo = "https://example.com/logo.png"\n', "theme.toml: logo: expected a table [logo]"),
    ('[logo]\nwidth = "wide"\n', "logo.width: expected the shown width in pixels"),
])
def test_theme_toml_keeps_its_shape(tmp_path, toml, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        findings_for(tmp_path, {"theme.toml": toml})


def test_missing_lang_and_background_are_warnings(tmp_path):
    findings = findings_for(tmp_path, {"theme.toml": '[colors]\npage = ""\n'}, language="")
    assert {(f.check, f.level) for f in findings} >= {("lang", "warning"), ("background", "warning")}


def test_contrast_ratio_matches_wcag():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast("#fff", "#fff") == pytest.approx(1.0)


def _with_theme(workspace, files):
    from tests.test_theme import _with_theme as config_with

    theme_dir(workspace.root / "templates", files)
    workspace.configure(base=config_with("acme"))


def test_check_fails_with_exit_2_on_an_error(workspace):
    _with_theme(workspace, {"newsletter.mjml.j2": raw("<script>x()</script>")})
    result = workspace.invoke("check")
    assert result.exit_code == 2
    assert "error: script: <script> in the HTML" in result.output
    assert "would break the email" in result.output


def test_check_passes_with_warnings_and_preview_reports_them(workspace, tmp_path):
    _with_theme(workspace, {"theme.toml": '[colors]\nmuted = "#808080"\n'})
    result = workspace.invoke("check")
    assert result.exit_code == 0, result.output
    assert "warning: contrast" in result.output and "email checks: 2 warnings" in result.output
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    preview = workspace.invoke("preview", "--month", "2026-10", "--output", str(tmp_path / "x.html"))
    assert preview.exit_code == 0
    assert "warning: contrast" in preview.output


def test_send_refuses_an_edition_that_would_break(workspace):
    _with_theme(workspace, {"newsletter.mjml.j2": raw('<svg width="1"></svg>')})
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    result = workspace.invoke("send", "--month", "2026-10")
    assert result.exit_code == 2
    assert "would break in mail clients, not sending" in result.output
    assert not (workspace.state / "outbox").exists() or not any((workspace.state / "outbox").rglob("*.eml"))


@pytest.mark.parametrize("html", [
    '<div style="background:u\\72 l(https://t.example.com/open.gif)">x</div>',
    '<style>.x { background: \\75rl("https://t.example.com/open.gif"); }</style>',
    '<img src="ht&#9;tps://t.example.com/open.gif" alt="" width="1">',
    '<img src="\\\\t.example.com/open.gif" alt="" width="1">',
])
def test_an_address_written_the_way_browsers_still_fetch_is_remote(html):
    from newsletter.compose.checks import check_html
    from newsletter.compose.render import Newsletter

    found = [f for f in check_html(Newsletter("2026-10", "s", "p", f"<html><body>{html}</body></html>", "t"))
             if f.check == "remote"]
    assert found and "t.example.com" in found[0].message, found
