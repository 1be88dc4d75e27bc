"""Pictures and links people write into highlights and theme.toml: what goes out, and what the checks refuse.

A picture always has a way into the email (a file beside the highlights file, sent inline); a
hosted one would contact its host whenever the email is opened, and a link or picture that cannot
go out blocks the send with where it was written.
"""

from __future__ import annotations

import email
import email.policy
import io

import pytest
from PIL import Image

from newsletter.compose.checks import check_newsletter
from newsletter.compose.markdown import render_markdown
from newsletter.compose.pictures import MAX_PICTURE_BYTES
from newsletter.compose.render import Renderer, Theme
from tests.test_compose_input import use_theme
from tests.test_theme import demo_context, theme_dir

HIGHLIGHTS = "sources/highlights/2026-10.md"


def png(width: int, height: int = 40) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "#1f4e79").save(out, format="PNG")
    return out.getvalue()


def write_highlight(workspace, body: str, title: str = "New printers") -> None:
    """A highlight after the month's lead story (whose own photo is tests/test_lead.py's)."""
    workspace.write(HIGHLIGHTS, f"## We moved the datacenter\nEvery server.\n\n## {title}\n{body}\n")


def sent(workspace) -> email.message.EmailMessage:
    [eml] = (workspace.state / "outbox" / "2026-10").glob("*.eml")
    return email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)


def test_a_hosted_picture_is_refused_and_says_to_save_it_beside_the_highlights(workspace, tmp_path):
    write_highlight(workspace, "![The new printers on floor 2](https://intranet.example.com/printers.png)")
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    output = tmp_path / "x.html"
    preview = workspace.invoke("preview", "--month", "2026-10", "--output", str(output))
    assert ('<img src="https://intranet.example.com/printers.png" alt="The new printers on floor 2" width="552" '
            'style="display:block;width:100%;max-width:552px;height:auto;border:0" />') in output.read_text()
    assert "error: remote: <img src> loads https://intranet.example.com/printers.png" in preview.stderr
    assert "a picture file beside the highlights file" in preview.stderr
    result = workspace.invoke("run", "--month", "2026-10")
    assert result.exit_code == 2, result.output
    assert not (workspace.state / "outbox" / "2026-10").exists()


def test_a_picture_beside_the_highlights_file_is_sent_inline_at_its_width(workspace):
    (workspace.root / "sources/highlights/printers.png").write_bytes(png(300))
    write_highlight(workspace, "They print.\n\n![The new printers](printers.png)")
    result = workspace.invoke("run", "--month", "2026-10")
    assert result.exit_code == 0, result.output
    message = sent(workspace)
    html = message.get_body(("html",)).get_content()
    [picture] = [p for p in message.walk() if p["Content-ID"] and "picture-" in p["Content-ID"]]
    assert picture.get_content_type() == "image/png" and picture.get_content() == png(300)
    assert f'src="cid:{picture["Content-ID"].strip("<>")}" alt="The new printers" width="300"' in html


def test_a_picture_that_cannot_go_out_blocks_the_send_and_says_how(workspace, tmp_path):
    write_highlight(workspace, "![The new printers](printrs.png)")
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    preview = workspace.invoke("preview", "--month", "2026-10", "--output", str(tmp_path / "x.html"))
    assert preview.exit_code == 0
    expected = (f'{HIGHLIGHTS} ("New printers"): picture no picture \'printrs.png\' beside the highlights file: '
                "save it there (pictures go inside the email)")
    assert f"error: image: {workspace.root}/{expected}" in preview.stderr
    result = workspace.invoke("run", "--month", "2026-10")
    assert result.exit_code == 2 and expected in result.stderr, result.output
    assert not (workspace.state / "outbox" / "2026-10").exists()


@pytest.mark.parametrize(("src", "words"), [
    ("../secret.png", "is not beside the highlights file"),
    ("/etc/hostname", "is not beside the highlights file"),
    ("notes.png", "is not a PNG, JPEG or GIF picture"),
    ("huge.png", "is over 1 MB and every copy of the email carries it"),
    ("data:image/png;base64,iVBORw0KGgo=", "is a data: URI: Gmail and Outlook block them"),
    ("file:///etc/hostname", "is a file on one computer"),
    ("cid:logo@example", "write the picture's file name instead"),
])
def test_each_picture_that_cannot_go_out_is_refused_with_a_reason(tmp_path, src, words):
    folder = tmp_path / "highlights"
    folder.mkdir()
    (tmp_path / "secret.png").write_bytes(png(10))
    (folder / "notes.png").write_text("not a picture at all")
    (folder / "huge.png").write_bytes(png(10) + b"\0" * MAX_PICTURE_BYTES)
    rendered = render_markdown(f"Look: ![Alt words]({src})", "2026-10.md", folder)
    assert "<img" not in rendered.html and "Alt words" in rendered.html and not rendered.pictures
    [bad] = rendered.refused
    assert bad.picture and bad.origin == "2026-10.md" and words in bad.problem, bad


def findings(tmp_path, files: dict[str, str], results=None) -> list[str]:
    theme = Theme(theme_dir(tmp_path, files), "acme")
    newsletter = Renderer(theme).render("2026-10", demo_context(results=results))
    return [str(f) for f in check_newsletter(newsletter, theme.settings())]


@pytest.mark.parametrize(("toml", "expected"), [
    ('[links]\nportal = "javascript:alert(1)"\n', "error: link: theme.toml links.portal: 'javascript:alert(1)' is "
                                                  "a script: scripts never run in email"),
    ('[links]\nstatus = "data:text/html,<b>hi</b>"\n', "error: data-uri: theme.toml links.status: 'data:text/html,"
                                                       "<b>hi</b>' is a data: URI"),
    ('[links]\ncontact = "ftp://files.example.com"\n', "error: link: theme.toml links.contact: "
                                                       "'ftp://files.example.com' is a ftp: address: only http, "
                                                       "https, mailto work"),
    ('[links]\nportal = "help.example.com"\n', "theme.toml links.portal: 'help.example.com' is not a full address"),
    ('[logo]\nurl = "javascript:alert(1)"\n', "error: image: theme.toml logo.url: 'javascript:alert(1)' is a script"),
])
def test_a_theme_link_that_leads_nowhere_is_an_error_naming_the_key(tmp_path, toml, expected):
    found = findings(tmp_path, {"theme.toml": toml})
    assert any(expected in f for f in found), found


def test_http_https_and_mailto_theme_links_pass(tmp_path):
    toml = ('[links]\nportal = "https://help.example.com"\nstatus = "http://status.example.com"\n'
            'contact = "mailto:it@example.com"\n[logo]\nurl = "https://example.com/logo.png"\n')
    assert findings(tmp_path, {"theme.toml": toml}) == []


def test_a_script_link_in_the_template_itself_is_an_error(tmp_path):
    block = ('{% extends "default:newsletter.mjml.j2" %}{% block hero %}<mj-section><mj-column>'
             '<mj-text><a href="javascript:void(0)">Menu</a></mj-text></mj-column></mj-section>{% endblock %}')
    assert "error: link: in the template itself: 'javascript:void(0)' is a script: scripts never run in email " \
           "and spam filters distrust them; link to a web page (https://...) or an address (mailto:...)" \
           in findings(tmp_path, {"newsletter.mjml.j2": block})


@pytest.mark.parametrize(("link", "words"), [
    ("javascript:alert(document.cookie)", "is a script"),
    ("JaVaScRiPt:alert(1)", "is a script"),
    ("data:text/html;base64,PHNjcmlwdD4=", "is a data: URI"),
    ("vbscript:msgbox", "is a script"),
    ("/wiki/printers", "is not a full address"),
    ("tel:+4930123456", "is a tel: address"),
])
def test_a_highlight_link_that_leads_nowhere_blocks_the_send_naming_the_file(workspace, link, words):
    write_highlight(workspace, f"Read [the guide]({link}) or [the wiki](https://wiki.example.com).")
    result = workspace.invoke("run", "--month", "2026-10")
    assert result.exit_code == 2, result.output
    assert f'would break in mail clients, not sending: link: {workspace.root}/{HIGHLIGHTS} ("New printers"): ' \
           f"link '{link}' {words}" in result.stderr
    assert not (workspace.state / "outbox" / "2026-10").exists()


def test_highlight_links_to_web_pages_and_addresses_go_out_as_links(workspace):
    write_highlight(workspace, "Read [the guide](https://wiki.example.com/printers), [the old one]"
                               "(http://old.example.com) or [write to us](mailto:it@example.com).")
    assert workspace.invoke("run", "--month", "2026-10").exit_code == 0
    html = sent(workspace).get_body(("html",)).get_content()
    for href in ("https://wiki.example.com/printers", "http://old.example.com", "mailto:it@example.com"):
        assert f'href="{href}"' in html


def test_a_theme_script_link_fails_check_with_exit_2(workspace):
    use_theme(workspace)
    workspace.write("templates/brand/theme.toml", '[links]\nportal = "javascript:alert(1)"\n')
    result = workspace.invoke("check")
    assert result.exit_code == 2 and "theme.toml links.portal: 'javascript:alert(1)' is a script" in result.output


def test_the_default_theme_loads_no_remote_fonts():
    theme = Theme(theme_dir.__globals__["Path"]("/nonexistent"), "default")
    html = Renderer(theme).render("2026-10", demo_context()).html
    assert "<link" not in html and "@import" not in html and "googleapis" not in html


@pytest.mark.parametrize("head", [
    '<mj-font name="Lato" href="https://fonts.example.com/lato.css" />',
    '<mj-style>@import url(https://fonts.example.com/lato.css);</mj-style>',
])
def test_remote_css_or_fonts_are_an_error(tmp_path, head):
    template = ('{% extends "default:newsletter.mjml.j2" %}{% block head %}' + head + '{% endblock %}')
    found = findings(tmp_path, {"newsletter.mjml.j2": template, "theme.toml": '[fonts]\nfamily = "Lato, Arial"\n'})
    assert any(f.startswith("error: remote: ") and "fonts.example.com/lato.css" in f for f in found), found


def test_a_head_block_written_on_one_line_compiles(tmp_path):
    template = '{% extends "default:newsletter.mjml.j2" %}{% block head %}<mj-style>.x { color: red; }</mj-style>' \
               '{% endblock %}'
    assert ".x { color: red; }" in Renderer(Theme(theme_dir(tmp_path, {"newsletter.mjml.j2": template}), "acme")) \
        .render("2026-10", demo_context()).html
