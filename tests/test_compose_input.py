"""What people and vendors write, on its way into the email: through the real render and the CLI.

Highlights, theme.toml values and strings from an API reach every part of the edition; none of
them may stop it, and every problem they cause is named with where it was written.
"""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from markupsafe import Markup

from newsletter.compose.personal import Personalizer
from newsletter.compose.printable import printable, printable_value
from newsletter.compose.render import Newsletter
from newsletter.model import SourceResult
from newsletter.store import Store
from tests.test_preview import Running

# ESC, NUL, BEL, VT, FF, DEL, a C1 control (CSI), the BOM-reversed and the last noncharacter of the BMP
CONTROLS = "\x1b\x00\x07\x0b\x0c\x7f\x9b\ufffe\uffff"
TOML_CONTROLS = "".join(f"\\u{ord(c):04x}" for c in CONTROLS)


def use_theme(workspace, name: str = "brand") -> None:
    workspace.configure().write_text(workspace.config.read_text().replace(
        'state_dir = "state"', f'state_dir = "state"\ntheme = "{name}"'))


def store(workspace, month: str, results: list[SourceResult]) -> None:
    with Store.open(workspace.state) as opened:
        opened.save_results(month, results)


def preview(workspace, tmp_path, fmt: str = "html"):
    """Run `preview --output`; return the result and what it wrote (an .eml as its decoded parts)."""
    out = tmp_path / f"draft.{fmt}"
    result = workspace.invoke("preview", "--month", "2026-10", "--output", str(out), "--format", fmt)
    if not out.exists():
        return result, ""
    if fmt != "eml":
        return result, out.read_text(encoding="utf-8")
    message = email.message_from_bytes(out.read_bytes(), policy=email.policy.default)
    parts = [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]
    return result, "\n".join([str(message["Subject"]), *parts])


def _highlight(workspace) -> str:
    workspace.write("sources/highlights/2026-10.md", f"## Printer{CONTROLS} news\nAll of them{CONTROLS} work.\n")
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    return "Printer news"


def _theme_value(workspace) -> str:
    use_theme(workspace)
    workspace.write("templates/brand/theme.toml", f'tagline = "Quiet{TOML_CONTROLS} work"\n'
                    f'[footer]\nlines = ["Reply{TOML_CONTROLS} to us"]\n')
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    return "Quiet work"


def _api_string(workspace) -> str:
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    # an API's help desk stands in for the demo one, which (offline) every draft would read again
    (workspace.root / "sources" / "helpdesk.toml").unlink()
    store(workspace, "2026-10", [SourceResult.ok("helpdesk", "demo_ticketing", "ticketing", {
        "opened": 3, "resolved": 2, "top_categories": [[f"Queue{CONTROLS}[31m", 3]]})])
    return "Queue[31m"


def _config_value(workspace) -> str:
    workspace.configure().write_text(workspace.config.read_text().replace('team = "IT"',
                                                                          f'team = "IT{TOML_CONTROLS}"'))
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    return "IT in October"


@pytest.mark.parametrize("origin", [_highlight, _theme_value, _api_string, _config_value],
                         ids=["highlight", "theme.toml", "api", "config"])
def test_control_characters_are_removed_from_every_printed_value(workspace, tmp_path, origin):
    cleaned = origin(workspace)
    for fmt in ("html", "text", "eml"):
        result, written = preview(workspace, tmp_path, fmt)
        assert result.exit_code == 0, result.output
        assert not set(CONTROLS) & set(written + result.output), fmt
    assert cleaned in preview(workspace, tmp_path, "text")[1]


@pytest.mark.parametrize("char", [*CONTROLS, *(chr(c) for c in (*range(1, 9), *range(0x0e, 0x20), 0x85, 0x9f)),
                                  "\ud800", "\U0010ffff", "\ufdd0"])
def test_each_unprintable_character_is_removed_and_safe_html_stays_safe(char):
    assert printable(f"a{char}b") == "ab"
    cleaned = printable_value(Markup(f"<b>a{char}</b>"))
    assert cleaned == "<b>a</b>" and isinstance(cleaned, Markup)
    assert printable_value(Path(f"x{char}")) == "x"  # any other object: the text it prints as


def test_text_people_write_keeps_tabs_line_breaks_and_every_script():
    text = "Tab\there\r\nline\nçà 日本語 🙂 \u200b \u2028"
    assert printable(text) is text
    assert printable_value(42) == 42 and printable_value(None) is None


def test_per_person_values_are_cleaned_too():
    personal = Personalizer(Newsletter(month="2026-10", subject="For [[ recipient.name ]]", preheader="p",
                                       html="<p>Hello [[ recipient.name ]]</p>", text="Hello [[ recipient.name ]]\n"))
    ann = personal.for_recipient({"name": f"Ann{CONTROLS}", "email": "a@example.com"})
    assert (ann.subject, ann.html, ann.text) == ("For Ann", "<p>Hello Ann</p>", "Hello Ann\n")


def _mjml_error(workspace, files: dict[str, str]) -> str:
    use_theme(workspace)
    for relative, text in files.items():
        workspace.write(f"templates/brand/{relative}", text)
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    result = workspace.invoke("preview", "--month", "2026-10", "--output", str(workspace.root / "x.html"))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr.strip()


HERO = '{% extends "default:newsletter.mjml.j2" %}\n{% block hero %}\n<mj-section><mj-column>\n'


@pytest.mark.parametrize(("files", "where", "words"), [
    ({"newsletter.mjml.j2": HERO + '<mj-text foo=bar>Hello</mj-text>\n</mj-column></mj-section>\n{% endblock %}\n'},
     "brand/newsletter.mjml.j2:4: ", "unable to parse"),
    ({"newsletter.mjml.j2": HERO + '<mj-text>Hello</mj-text>\n\n<mj-include path="nowhere.mjml" />\n'
                                   '</mj-column></mj-section>\n{% endblock %}\n'},
     "brand/newsletter.mjml.j2:6: ", "included template"),
    ({"partials/heading.mjml.j2": '<mj-section><mj-column>\n<mj-text>{{ heading }} < more</mj-text>\n'
                                  '</mj-column></mj-section>\n'},
     "brand/partials/heading.mjml.j2:2: ", "unable to parse"),
    ({"theme.toml": 'motto = "Faster <> better"\n',
      "newsletter.mjml.j2": HERO + '<mj-text>{{ theme.motto | safe }}</mj-text>\n</mj-column></mj-section>\n'
                                   '{% endblock %}\n'},
     "brand/newsletter.mjml.j2:4: ", "'Faster <> better'"),
])
def test_an_mjml_error_names_the_template_file_and_line(workspace, files, where, words):
    message = _mjml_error(workspace, files)
    assert where in message and "MJML could not be compiled" in message and words in message, message
    assert "root template" not in message and "position" not in message


def test_an_element_left_open_names_the_template_file_and_line(workspace):
    message = _mjml_error(workspace, {"newsletter.mjml.j2": HERO + "<mj-text><b>Open</mj-text>\n"
                                                            "</mj-column></mj-section>\n{% endblock %}\n"})
    assert message.endswith("brand/newsletter.mjml.j2:4: MJML could not be compiled: unexpected end of stream "
                            "(an element is left open: each <mj-...> and HTML tag needs its closing tag), "
                            "near '<mj-text><b>Open</mj-text>'"), message


NOT_UTF8 = "highlights/2026-10.md: not UTF-8 at byte 13 (line 2): save it as UTF-8"


def _latin1_highlights(workspace) -> None:
    (workspace.root / "sources/highlights/2026-10.md").write_bytes("## Printers\nDéjà vu.\n".encode("latin-1"))


def test_highlights_that_are_not_utf8_fail_loudly_and_show_in_the_preview(workspace, tmp_path):
    _latin1_highlights(workspace)
    collected = workspace.invoke("collect", "--month", "2026-10")
    # highlights is an optional source: collect names the failure and goes on (exit 1 is for required ones)
    assert collected.exit_code == 0 and NOT_UTF8 in collected.stdout + collected.stderr, collected.output
    assert "optional source highlights failed" in collected.stderr
    result, _ = preview(workspace, tmp_path)
    assert result.exit_code == 0, result.output
    assert f"source highlights failed, not in this draft: {workspace.root}/sources/{NOT_UTF8}" in result.stderr


def test_highlights_that_are_not_utf8_get_a_banner_in_the_live_preview(workspace):
    _latin1_highlights(workspace)
    server = Running(workspace)
    try:
        failed = [s for s in server.previewer.draft.sources if s["name"] == "highlights"]
        assert failed and all(s["status"] == "failed" and NOT_UTF8 in s["error"] for s in failed), failed
    finally:
        server.stop()


def test_highlights_that_are_not_utf8_are_named_in_the_reviewers_mail(workspace):
    workspace.configure('require_approval = true\nreviewers = ["lead@example.com"]\n')
    _latin1_highlights(workspace)
    result = workspace.invoke("run", "--month", "2026-10")
    assert result.exit_code == 3, result.output
    assert NOT_UTF8 in result.stderr
    [review] = (workspace.state / "outbox" / "reviews").glob("*.eml")
    body = email.message_from_bytes(review.read_bytes(), policy=email.policy.default).get_content()
    assert "Sources that failed" in body and f"highlights: {workspace.root}/sources/{NOT_UTF8}" in body


@pytest.mark.parametrize(("data", "words"), [
    ("## Printers\nAll work.\n".encode("utf-16"), "saved as UTF-16: save it as UTF-8"),
    (b"\xff\xfe\x00\x00", "saved as UTF-32: save it as UTF-8"),
], ids=["utf-16", "utf-32"])
def test_highlights_in_another_unicode_encoding_say_so(workspace, data, words):
    (workspace.root / "sources/highlights/2026-10.md").write_bytes(data)
    result = workspace.invoke("collect", "--month", "2026-10")
    assert result.exit_code == 0 and f"highlights/2026-10.md: {words}" in result.output, result.output


def test_highlights_saved_with_a_byte_order_mark_keep_their_first_heading(workspace, tmp_path):
    (workspace.root / "sources/highlights/2026-10.md").write_bytes(b"\xef\xbb\xbf## Printers\nAll work.\n")
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    assert "\nPrinters\n--------\nAll work.\n" in preview(workspace, tmp_path, "text")[1]  # the lead story


def test_a_title_ending_in_a_hash_keeps_it_and_only_closing_hashes_after_a_space_go():
    from newsletter.collectors.highlights import parse_highlights

    items = parse_highlights("## Training for C#\nbody\n## Moved the datacenter ##\nbody\n## F# and C# ###\nx\n")
    assert [item.title for item in items] == ["Training for C#", "Moved the datacenter", "F# and C#"]


def test_a_hash_line_inside_a_code_fence_of_either_kind_stays_in_the_body():
    from newsletter.collectors.highlights import parse_highlights

    for fence in ("~~~", "```", "````"):
        text = f"## Reset your VPN\nRun:\n{fence}\n# restart the client\nvpn --reset\n{fence}\nDone.\n## Next\nx\n"
        items = parse_highlights(text)
        assert [item.title for item in items] == ["Reset your VPN", "Next"], fence
        assert "# restart the client\nvpn --reset" in items[0].body and items[0].body.endswith("Done.")
    # a ``` line does not close a ~~~ fence
    items = parse_highlights("## A\n~~~\n```\n# still code\n~~~\n## B\n")
    assert [item.title for item in items] == ["A", "B"] and "# still code" in items[0].body
