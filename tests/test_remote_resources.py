"""Opening the email contacts nobody: no remote font, stylesheet or pixel by default, and `check` names any.

The demo email is parsed the way a mail client reads it (Outlook's conditional comments included,
since Outlook renders them) and every address it would fetch on opening is collected: `<link href>`,
any `src` or `background`, `@import` and `url()` in styles.
"""

from __future__ import annotations

import email
import re
from email import policy
from html import unescape
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from tests.fixtures.workspace import BASE_CONFIG

REMOTE = re.compile(r"^\s*(?:https?:|//)", re.IGNORECASE)  # "https:host/x" is read as https://host/x
_CONDITIONAL = re.compile(r"<!--\[if[^\]]*\]>(?:<!-->)?|(?:<!--)?<!\[endif\]-->", re.IGNORECASE)
_IMPORT = re.compile(r"""@import\s+["']([^"']+)""", re.IGNORECASE)  # the url() form is a url()
_URL = re.compile(r"""url\(\s*["']?([^"')\s]+)""", re.IGNORECASE)


class _Fetches(HTMLParser):
    """Every address an HTML document makes a mail client fetch when it is opened."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name in ("src", "background", "poster") or (tag == "link" and name == "href"):
                self.urls.append(value)
            elif name == "style":
                self._styles(value)
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self._styles(data)

    def _styles(self, css: str) -> None:
        self.urls += _IMPORT.findall(css) + _URL.findall(css)


def fetched_on_opening(html: str) -> list[str]:
    parser = _Fetches()
    parser.feed(_CONDITIONAL.sub("", html))
    parser.close()
    return parser.urls


def remote(html: str) -> list[str]:
    return [url for url in fetched_on_opening(html) if REMOTE.match(url)]


def test_the_parser_sees_what_a_mail_client_fetches():
    html = ('<html><head><!--[if !mso]><!--><link href="https://fonts.example.com/css" rel="stylesheet">'
            '<!--<![endif]--><style>@import url(https://a.example.com/x.css); .x{background:url("//b.example.com/y")}'
            '</style><!--[if mso]><v:image src="http://c.example.com/z.png"/><![endif]--></head>'
            '<body style="background-image:url(https://d.example.com/bg.png)"><img src="cid:chart@x">'
            '<a href="https://portal.example.com">help</a></body></html>')
    assert remote(html) == ["https://fonts.example.com/css", "https://a.example.com/x.css", "//b.example.com/y",
                            "http://c.example.com/z.png", "https://d.example.com/bg.png"]


def demo_preview(tmp_path, fmt: str) -> str:
    out = tmp_path / f"draft.{fmt}"
    result = CliRunner().invoke(cli, ["preview", "--demo", "--month", "2026-10", "--state-dir", str(tmp_path / "s"),
                                      "--output", str(out), "--format", fmt], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def test_the_demo_email_fetches_nothing_remote(tmp_path):
    html = demo_preview(tmp_path, "html")
    assert fetched_on_opening(html), "the parser found the email's own (inline) images"
    assert remote(html) == []
    assert "googleapis" not in html


def test_the_demo_message_fetches_nothing_remote(tmp_path):
    message = email.message_from_string(demo_preview(tmp_path, "eml"), policy=policy.default)
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "cid:" in html
    assert remote(html) == []


def test_the_default_font_stack_is_system_fonts_without_an_import(tmp_path):
    html = demo_preview(tmp_path, "html")
    assert "font-family:-apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif" in unescape(html)
    assert "@import" not in html and "<link" not in html


HEAD = '{{% extends "default:newsletter.mjml.j2" %}}{{% block head %}}{}{{% endblock %}}'
ADDED = {
    "font": ('<mj-font name="Lato" href="https://fonts.example.com/css?family=Lato" />'
             '<mj-attributes><mj-all font-family="Lato, Arial, sans-serif" /></mj-attributes>'),
    "stylesheet": '<mj-raw><link rel="stylesheet" href="https://cdn.example.com/brand.css"></mj-raw>',
    "import": "<mj-style>@import url('https://cdn.example.com/brand.css');</mj-style>",
    "css url": "<mj-style>.hero { background-image: url(https://cdn.example.com/hero.png); }</mj-style>",
    # WebKit (Apple Mail) loads the addresses of image-set() as it loads url()'s
    "image-set": ('<mj-style>.hero { background-image: -webkit-image-set("https://cdn.example.com/hero.png" 1x); }'
                  '</mj-style>'),
}


def theme_workspace(workspace, head: str, logo_url: str = "") -> None:
    workspace.configure(base=BASE_CONFIG.replace('state_dir = "state"', 'state_dir = "state"\ntheme = "acme"'))
    workspace.write("templates/acme/newsletter.mjml.j2", HEAD.format(head))
    if logo_url:
        workspace.write("templates/acme/theme.toml", f'[logo]\nurl = "{logo_url}"\nalt = "Example Corp"\n')


@pytest.mark.parametrize("what", ADDED)
def test_check_flags_a_theme_that_adds_a_remote_resource(workspace, what):
    theme_workspace(workspace, ADDED[what])
    result = workspace.invoke("check")
    assert result.exit_code == 2, result.output
    assert "error: remote:" in result.output
    assert "example.com" in result.output


def test_check_flags_a_tracking_pixel(workspace):
    theme_workspace(workspace, "")
    workspace.write("templates/acme/newsletter.mjml.j2", HEAD.format("").replace(
        "{% block head %}{% endblock %}",
        '{% block footer %}<mj-section><mj-column><mj-raw><img src="https://t.example.com/open.gif?u=1" alt="" '
        'width="1" height="1"></mj-raw></mj-column></mj-section>{% endblock %}'))
    result = workspace.invoke("check")
    assert result.exit_code == 2, result.output
    assert "error: remote:" in result.output and "t.example.com" in result.output


@pytest.mark.parametrize("address", ["https:t.example.com/open.gif", "https:/t.example.com/open.gif",
                                     "HTTP:t.example.com/open.gif"])
def test_check_flags_a_pixel_whose_address_lacks_its_slashes(workspace, address):
    """Browsers and mail clients read "https:host/x" as https://host/x: it is as remote as the rest."""
    theme_workspace(workspace, "")
    workspace.write("templates/acme/newsletter.mjml.j2", HEAD.format("").replace(
        "{% block head %}{% endblock %}",
        '{% block footer %}<mj-section><mj-column><mj-raw><img src="' + address + '" alt="" '
        'width="1" height="1"></mj-raw></mj-column></mj-section>{% endblock %}'))
    result = workspace.invoke("check")
    assert result.exit_code == 2, result.output
    assert "error: remote:" in result.output and "t.example.com" in result.output


def test_a_picture_in_a_highlight_whose_address_lacks_its_slashes_is_caught():
    from newsletter.compose.checks import check_html
    from newsletter.compose.markdown import render_markdown
    from newsletter.compose.render import Newsletter

    written = render_markdown("Hi ![p](https:evil.example/pixel.png)")
    html = f'<html lang="en"><body style="background:#fff">{written.html}</body></html>'
    edition = Newsletter(month="2026-10", subject="IT", preheader="", html=html, text="x\n")
    assert [f for f in check_html(edition) if f.level == "error" and "evil.example" in f.message]


def test_a_configured_logo_url_is_the_one_remote_resource_allowed(workspace):
    theme_workspace(workspace, "", logo_url="https://www.example.com/logo.png")
    result = workspace.invoke("check")
    assert "remote:" not in result.output, result.output
    assert result.exit_code == 0, result.output
