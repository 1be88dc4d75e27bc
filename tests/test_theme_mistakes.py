"""Theme mistakes a branding edit makes, each named with the file and line to fix: tags MJML cannot
read or does not know, files saved in another encoding or linked from elsewhere, a loop that prints
without end, theme.toml values that are not what they say, sections that are not sections."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from newsletter.compose.render import Renderer, Theme
from newsletter.errors import ConfigError, TemplateError
from tests.test_theme import render, theme_dir, theme_new

TIP = '{% extends "default:newsletter.mjml.j2" %}\n{% block tip %}\n<mj-section><mj-column>\n'


@pytest.mark.parametrize(("body", "line"), [
    ("<mj-text>Hi</mj-text></mj-text>\n</mj-column></mj-section>\n", 4),
    ("<mj-text>Hi</mj-text>\n</mj-column></mj-section>\n\n</mj-section>\n", 7),
    ("<mj-text>Hi\n</mj-column></mj-section>\n", 4),
])
def test_a_closing_tag_that_closes_nothing_names_the_themes_own_line(tmp_path, body, line):
    root = theme_dir(tmp_path, {"newsletter.mjml.j2": TIP + body + "{% endblock %}\n"})
    with pytest.raises(TemplateError) as raised:
        render(root, "acme")
    message = str(raised.value)
    assert f"acme/newsletter.mjml.j2:{line}: MJML could not be compiled" in message, message
    assert "builtin" not in message and "default/" not in message


@pytest.mark.parametrize("heading", [
    "<mj-section><mj-column>\n<mj-text>{{ heading }}</mj-text></mj-text>\n</mj-column></mj-section>\n",
    "<mj-section><mj-column>\n<mj-text>{{ heading }}\n</mj-column></mj-section>\n",
])
def test_a_tag_mistake_in_an_overridden_partial_names_the_partial_not_the_built_in_template(tmp_path, heading):
    root = theme_dir(tmp_path, {"partials/heading.mjml.j2": heading})
    with pytest.raises(TemplateError, match=r"acme/partials/heading.mjml.j2:2: MJML could not be compiled"):
        render(root, "acme")


@pytest.mark.parametrize(("body", "words"), [
    ("<mj-colum><mj-text>Hi</mj-text></mj-colum>\n", "unknown element <mj-colum> (did you mean <mj-column>?)"),
    ('<mj-text>Hi</mj-text>\n<mj-buton href="https://example.com">Go</mj-buton>\n',
     "unknown element <mj-buton> (did you mean <mj-button>?)"),
    ("<mj-text>Hi</mj-texts>\n", "unknown element <mj-texts> (did you mean <mj-text>?)"),
])
def test_a_misspelt_mjml_element_is_refused_naming_the_line_and_the_nearest_element(tmp_path, body, words):
    root = theme_dir(tmp_path, {"newsletter.mjml.j2": TIP + body + "</mj-column></mj-section>\n{% endblock %}\n"})
    with pytest.raises(TemplateError) as raised:
        render(root, "acme")
    line = 4 + body.count("\n") - 1
    assert f"acme/newsletter.mjml.j2:{line}: MJML could not be compiled: {words}, near " in str(raised.value)


def test_mjml_element_names_in_comments_and_printed_values_are_not_elements(tmp_path):
    body = "<!-- <mj-colum> was here -->\n<mj-text>{{ theme.motto }}</mj-text>\n"
    root = theme_dir(tmp_path, {"newsletter.mjml.j2": TIP + body + "</mj-column></mj-section>\n{% endblock %}\n",
                                "theme.toml": 'motto = "Write <mj-text> for text"\n'})
    assert "Write &lt;mj-text&gt; for text" in render(root, "acme").html


@pytest.mark.parametrize(("setting", "words"), [
    ('sections = ["nope"]', "newsletter.sections: no block 'nope' in theme 'default'"),
    ('sections = ["hero", "hero"]', "newsletter.sections: 'hero' is listed twice"),
    ('theme = "nope"', "newsletter.theme: no theme 'nope' in "),
])
@pytest.mark.parametrize("command", [("check",), ("run", "--month", "2026-10")])
def test_a_section_or_theme_that_is_not_there_names_newsletter_toml(workspace, setting, words, command):
    from tests.fixtures.workspace import BASE_CONFIG

    workspace.configure(base=BASE_CONFIG.replace('state_dir = "state"', f'state_dir = "state"\n{setting}'))
    result = workspace.invoke(*command)
    assert result.exit_code == 2, result.output
    assert f"newsletter: {workspace.config}: {words}" in result.stderr, result.stderr


def test_a_template_that_prints_without_end_is_stopped_naming_its_line(tmp_path):
    body = '<mj-text>{% for i in range(99999) %}{% for j in range(99999) %}{{ "y" * 1000 }}{% endfor %}{% endfor %}'
    root = theme_dir(tmp_path, {"newsletter.mjml.j2": TIP + body + "</mj-text></mj-column></mj-section>\n"
                                                                   "{% endblock %}\n"})
    with pytest.raises(TemplateError, match=r"acme/newsletter.mjml.j2:4: printed more than 5,000,000 characters"):
        render(root, "acme")


def test_the_published_index_keeps_the_font_stacks_quotes_in_its_style():
    page = Renderer(Theme(Path("/nonexistent"), "default")).page(
        "site/index.html.j2", {"language": "en", "team": "IT", "company": "Example Corp", "base": "", "editions": []})
    assert "font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif;" in page


@pytest.mark.parametrize("family", ["Arial; background: url(https://tracker.example/p.png)",
                                    "Arial</style><img src=https://tracker.example/p.png>", "u\\\\rl(x)"])
def test_a_font_stack_that_is_more_than_font_names_is_a_config_error(tmp_path, family):
    root = theme_dir(tmp_path, {"theme.toml": f"[fonts]\nfamily = {family!r}\n".replace("'", '"')})
    with pytest.raises(ConfigError, match=r"theme.toml: fonts.family: expected a font stack"):
        render(root, "acme")


def test_a_font_stack_with_quoted_names_in_any_script_is_fine(tmp_path):
    root = theme_dir(tmp_path, {"theme.toml": "[fonts]\nfamily = \"'Noto Sans JP', \\\"Meiryo UI\\\", sans-serif\"\n"})
    assert "Noto Sans JP" in render(root, "acme").html


def test_a_template_saved_in_another_encoding_names_the_file_and_line(tmp_path):
    tip = TIP + "<mj-text>Caf\u00e9</mj-text>\n</mj-column></mj-section>\n{% endblock %}\n"
    root = theme_dir(tmp_path, {"newsletter.mjml.j2": tip.encode("latin-1")})
    with pytest.raises(TemplateError, match=r"acme/newsletter.mjml.j2: not UTF-8 at byte 95 \(line 4\): save it as "
                                            r"UTF-8$"):
        render(root, "acme")


def test_an_included_partial_saved_in_another_encoding_is_named(tmp_path):
    root = theme_dir(tmp_path, {"partials/heading.mjml.j2": "<mj-section><mj-column>\n<mj-text>Caf\u00e9 {{ heading }}"
                                                            "</mj-text></mj-column></mj-section>\n".encode("cp1252")})
    with pytest.raises(TemplateError, match=r"^\S*acme/partials/heading.mjml.j2: not UTF-8 at byte 36 \(line 2\)"):
        render(root, "acme")


def test_a_template_saved_with_a_byte_order_mark_renders_as_without(tmp_path):
    tip = TIP + "<mj-text>Caf\u00e9 au lait</mj-text>\n</mj-column></mj-section>\n{% endblock %}\n"
    root = theme_dir(tmp_path, {"newsletter.mjml.j2": tip.encode("utf-8-sig"),
                                "subject.txt.j2": "Caf\u00e9 news for {{ month.name }}".encode("utf-8-sig")})
    newsletter = render(root, "acme")
    assert "Caf\u00e9 au lait" in newsletter.html and "\ufeff" not in newsletter.html
    assert newsletter.subject == "Caf\u00e9 news for October 2026"


def test_a_template_that_extends_itself_says_to_extend_the_built_in_one(tmp_path):
    root = theme_dir(tmp_path, {"newsletter.mjml.j2": '{% extends "newsletter.mjml.j2" %}\n'
                                                      '{% block tip %}<mj-section></mj-section>{% endblock %}\n'})
    with pytest.raises(TemplateError, match=r'acme/newsletter.mjml.j2: extends itself \("newsletter.mjml.j2"\); '
                                            r'extend the built-in one with "default:newsletter.mjml.j2"'):
        render(root, "acme")


def test_theme_new_where_the_theme_cannot_be_created_says_why(workspace):
    (workspace.root / "templates").write_text("not a folder")
    result = theme_new(workspace, "acme")
    assert result.exit_code == 2, result.output
    assert f"cannot create {workspace.root / 'templates' / 'acme'}: Not a directory" in result.output
    assert "Traceback" not in result.output


def test_theme_new_names_every_section_the_built_in_theme_has(tmp_path):
    from newsletter.compose.scaffold import create_theme
    from newsletter.sections import DEFAULT_SECTIONS

    written = (create_theme(tmp_path, "acme") / "newsletter.mjml.j2").read_text()
    assert f"Sections: {', '.join(DEFAULT_SECTIONS)}\n" in written


def test_a_theme_toml_saved_with_a_byte_order_mark_is_read(tmp_path):
    root = theme_dir(tmp_path, {"theme.toml": 'title = "Acme IT, {month}"\n'.encode("utf-8-sig")})
    assert "Acme IT, October 2026" in render(root, "acme").html


def test_a_template_that_links_outside_the_templates_folder_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t-value")
    root = theme_dir(tmp_path / "templates", {"newsletter.mjml.j2": TIP + '<mj-text>{% include "partials/x.j2" %}'
                                              '</mj-text>\n</mj-column></mj-section>\n{% endblock %}\n'})
    (root / "acme" / "partials").mkdir()
    (root / "acme" / "partials" / "x.j2").symlink_to(secret)
    with pytest.raises(TemplateError, match=r"acme/partials/x.j2: links to .*secret.txt, outside the templates "
                                            r"folder") as raised:
        render(root, "acme")
    assert "s3cr3t-value" not in str(raised.value)


def test_a_template_linked_from_another_theme_in_the_templates_folder_is_used(tmp_path):
    root = theme_dir(tmp_path, {"partials/heading.mjml.j2": '<mj-section><mj-column><mj-text>Shared {{ heading }}'
                                                            '</mj-text></mj-column></mj-section>\n'}, name="shared")
    (root / "acme" / "partials").mkdir(parents=True)
    (root / "acme" / "partials" / "heading.mjml.j2").symlink_to(root / "shared" / "partials" / "heading.mjml.j2")
    assert "Shared Help desk" in render(root, "acme").html
    (tmp_path / "elsewhere").mkdir()
    (root / "acme").rename(tmp_path / "elsewhere" / "acme")
    (root / "acme").symlink_to(tmp_path / "elsewhere" / "acme")  # the theme folder itself a link: its files
    (root / "acme" / "partials" / "heading.mjml.j2").unlink()
    (root / "acme" / "partials" / "heading.mjml.j2").write_text("<mj-section><mj-column><mj-text>Own {{ heading }}"
                                                               "</mj-text></mj-column></mj-section>\n")
    assert "Own Help desk" in render(root, "acme").html


@pytest.mark.parametrize("data", [b"RIFF\x10\x00\x00\x00WEBPVP8 ", b"<!DOCTYPE html><html>"])
def test_a_logo_whose_content_is_no_picture_is_refused(tmp_path, data):
    root = theme_dir(tmp_path, {"theme.toml": '[logo]\nfile = "logo.png"\n', "logo.png": data})
    with pytest.raises(ConfigError, match=r"logo.file: logo.png is not a PNG, JPEG or GIF picture inside: save it "):
        render(root, "acme")


def test_a_logo_named_png_that_is_a_jpeg_is_sent_as_the_jpeg_it_is(tmp_path):
    from io import BytesIO

    from PIL import Image

    jpeg = BytesIO()
    Image.new("RGB", (2, 2), "white").save(jpeg, "JPEG")
    root = theme_dir(tmp_path, {"theme.toml": '[logo]\nfile = "logo.png"\n', "logo.png": jpeg.getvalue()})
    logo = next(i for i in render(root, "acme").images if i.filename.startswith("logo"))
    assert (logo.subtype, logo.filename) == ("jpeg", "logo.jpeg")


@pytest.mark.parametrize(("toml", "said"), [
    ('title = "IT in {Month}"\n', "title: {Month} is not filled in; write {month} (the month's name)"),
    ('year_title = "IT in {month}"\n', "year_title: {month} is not filled in; write {year} (the year)"),
])
def test_a_placeholder_the_title_does_not_know_is_a_config_error(tmp_path, toml, said):
    root = theme_dir(tmp_path, {"theme.toml": toml})
    with pytest.raises(ConfigError, match=re.escape(f"acme/theme.toml: {said}")):
        render(root, "acme")


@pytest.mark.parametrize("always", ["header", "footer", "head"])
def test_a_part_that_always_shows_listed_as_a_section_is_a_template_error(always):
    with pytest.raises(TemplateError, match=rf"newsletter.sections: {always!r} is not a section: the header and the "
                                            r"footer always show; known sections: .*hero"):
        render(None, sections=["hero", always])


def test_the_place_shown_on_a_long_line_is_the_fault_not_the_lines_beginning(tmp_path):
    line = '<mj-section><mj-column><mj-text font-size="16px">A long line of text</mj-text></mj-column></mj-section>'
    root = theme_dir(tmp_path, {"newsletter.mjml.j2": '{% extends "default:newsletter.mjml.j2" %}\n{% block hero %}\n'
                                                      f"{line}</mj-column>\n{{% endblock %}}\n"})
    with pytest.raises(TemplateError, match=r"acme/newsletter.mjml.j2:3: MJML could not be compiled: unexpected "
                                            r"element, near '….*</mj-section></mj-column>'"):
        render(root, "acme")


def test_a_section_only_the_html_template_has_is_a_check_warning_naming_the_text_template(workspace):
    # the plain-text part shows the listed sections it has blocks for: this one would be left out unsaid
    from tests.fixtures.workspace import BASE_CONFIG

    theme = workspace.root / "templates" / "acme"
    theme.mkdir(parents=True)
    (theme / "newsletter.mjml.j2").write_text(
        '{% extends "default:newsletter.mjml.j2" %}\n{% block laptops %}<mj-section><mj-column><mj-text>'
        "Laptops</mj-text></mj-column></mj-section>{% endblock %}\n")
    workspace.configure(base=BASE_CONFIG.replace(
        'state_dir = "state"', 'state_dir = "state"\ntheme = "acme"\nsections = ["hero", "laptops"]'))
    result = workspace.invoke("check")
    assert result.exit_code == 0, result.output
    assert "'laptops'" in result.output and str(theme / "newsletter.txt.j2") in result.output, result.output
