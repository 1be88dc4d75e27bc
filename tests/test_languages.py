"""Editions in German, French and Spanish beside English (docs/languages.md).

The catalogs are complete (every message of the English catalog, messages.pot, has a translation in
each shipped one, and the compiled .mo says what its .po says: `make catalogs`); the demo renders
in each language with no English built-in phrase left and the locale's number formats; plurals
follow the count; a workspace's own .po overrides any message.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from click.testing import CliRunner

from newsletter import i18n
from newsletter.cli import cli
from newsletter.compose import formatting, framing
from newsletter.errors import ConfigError
from newsletter.period import Month
from tests.conftest import REPO
from tests.fixtures.workspace import BASE_CONFIG, demo_workspace

LOCALE = Path(i18n.__file__).parent / "locale"
LANGUAGES = ("de", "fr", "es")
PLACEHOLDER = re.compile(r"\{[a-z_]*\}|%\([a-z_]+\)s|<[^>]*>")


def english_catalog():
    with (LOCALE / "messages.pot").open("rb") as pot:
        return read_po(pot)


def shipped(language: str):
    with (LOCALE / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language)


def test_the_english_catalog_holds_every_message_of_the_code_complete(tmp_path):
    """messages.pot is what `make catalogs` extracts now: a new message in the code or a template is
    missing from it (and so from every translation) until the catalogs are made again."""
    fresh = tmp_path / "messages.pot"
    subprocess.run([str(Path(sys.executable).parent / "pybabel"), "-q", "extract", "-F", "babel.cfg",
                    "-k", "N_plural:1,2", "-o", str(fresh), "."], cwd=REPO, check=True, capture_output=True)
    with fresh.open("rb") as pot:
        now = {_key(m.id) for m in read_po(pot) if m.id}
    shipped_ids = {_key(m.id) for m in english_catalog() if m.id}
    assert not now - shipped_ids, (f"{len(now - shipped_ids)} messages are not in newsletter/locale/messages.pot: "
                                   f"run `make catalogs` and translate them: {sorted(map(str, now - shipped_ids))[:5]}")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_of_the_english_catalog_is_translated_complete(language):
    catalog = shipped(language)
    missing = []
    for message in english_catalog():
        if not message.id:
            continue
        found = catalog.get(message.id)
        strings = found.string if found is not None and isinstance(found.string, tuple) else (
            (found.string,) if found is not None else ())
        if found is None or found.fuzzy or not all(strings) or not strings:
            missing.append(message.id)
    assert not missing, (f"{language}: {len(missing)} messages without a translation (run `make catalogs`, then "
                         f"translate them in newsletter/locale/{language}/LC_MESSAGES/messages.po): {missing[:5]}")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_shipped_mo_is_compiled_from_its_po_complete(language):
    with (LOCALE / language / "LC_MESSAGES" / "messages.mo").open("rb") as mo:
        compiled = {_key(m.id): _key(m.string) for m in read_mo(mo) if m.id}
    written = {_key(m.id): _key(m.string) for m in shipped(language) if m.id and not m.fuzzy}
    assert compiled == written, f"{language}: messages.mo is older than messages.po: run `make catalogs`"


def _key(text: str | list | tuple) -> str | tuple:
    return tuple(text) if isinstance(text, list | tuple) else text


def english_phrases() -> list[str]:
    """Every English run of words of the catalog's messages that a translation changes: none may be
    left in a translated edition."""
    phrases = set()
    for message in english_catalog():
        for text in (message.id if isinstance(message.id, tuple) else (message.id,)):
            for run in PLACEHOLDER.split(text or ""):
                run = run.strip(" .,:;()")
                if len(run) >= 12 and " " in run:
                    phrases.add(run)
    return sorted(phrases)


def draft(tmp_path: Path, language: str, suffix: str) -> str:
    output = tmp_path / f"draft-{language}.{suffix}"
    result = CliRunner().invoke(cli, ["-q", "preview", "--demo", "--month", "2026-11", "--language", language,
                                      "--output", str(output)], env={"NEWSLETTER_STATE_DIR": str(tmp_path / "s")})
    assert result.exit_code == 0, result.output
    return output.read_text(encoding="utf-8")


# what the demo's own (hand-written, English) highlights say: not built-in words
DEMO_WRITTEN = ("Wi-Fi in the new wing", "third floor of the new wing", "Password manager for everyone",
                "company password manager", "Lock your screen", "whenever you leave your desk")
NUMBERS = {"de": ("42.744", "99,99\u00a0%"), "fr": ("42\u202f744", "99,99\u00a0%"), "es": ("42.744", "99,99\u00a0%")}
MONTHS = {"de": "November 2026", "fr": "novembre 2026", "es": "noviembre de 2026"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_demo_in_each_language_leaves_no_english_built_in_phrase(tmp_path, language):
    text = draft(tmp_path, language, "txt")
    left = [phrase for phrase in english_phrases() if phrase in text and not any(phrase in w for w in DEMO_WRITTEN)]
    assert not left, f"{language}: English left in the edition: {left[:5]}"
    assert all(number in text for number in NUMBERS[language]), (language, NUMBERS[language])
    assert MONTHS[language] in text


def test_the_english_demo_keeps_its_phrases_and_formats(tmp_path):
    text = draft(tmp_path, "en", "txt")
    assert "42,744" in text and "99.99%" in text and "WHAT WE SHIPPED" in text and "November 2026" in text


def test_the_html_part_speaks_the_language_too(tmp_path):
    html = draft(tmp_path, "de", "html")
    assert 'lang="de"' in html and "IT-Support" in html and "Die IT im November 2026" in html
    left = [phrase for phrase in english_phrases() if phrase in html and not any(phrase in w for w in DEMO_WRITTEN)]
    assert not left, f"English left in the HTML part: {left[:5]}"


PLURALS = {
    "de": ("Wir haben 1 Anfrage gelöst.", "Wir haben 2 Anfragen gelöst.", "1 Sekunde", "2 Minuten"),
    "fr": ("Nous avons résolu 1 demande.", "Nous avons résolu 2 demandes.", "1 seconde", "2 minutes"),
    "es": ("Resolvimos 1 solicitud.", "Resolvimos 2 solicitudes.", "1 segundo", "2 minutos"),
    "en": ("We resolved 1 request.", "We resolved 2 requests.", "1 second", "2 minutes"),
}


@pytest.mark.parametrize("language", [*LANGUAGES, "en"])
def test_plural_forms_follow_the_count(language):
    one, two, minute, minutes = PLURALS[language]
    with i18n.speaking(language):
        said = [i18n.ngettext("We resolved {n} request.", "We resolved {n} requests.", n).format(n=n) for n in (1, 2)]
        assert said == [one, two]
        assert (formatting.duration(1), formatting.duration(120)) == (minute, minutes)
        assert framing.interval(60) != framing.interval(120)


def test_a_sentence_of_the_story_in_german():
    with i18n.speaking("de"):
        assert framing.per_working_day(466, Month(2026, 10)) == "21 Anfragen pro Arbeitstag"
        assert framing.every(750, Month(2026, 10), "phishing") == "jede Stunde eine Phishing-Mail abgefangen"
        assert formatting.percent(99.9612) == "99,96\u00a0%" and formatting.number(42587) == "42.587"
        assert Month(2026, 10).name == "Oktober 2026"
        assert formatting.duration(22320) == "6,2 Stunden"


def test_an_unknown_language_reads_english():
    with i18n.speaking("xx"):
        assert i18n.gettext("Help desk") == "Help desk" and formatting.number(42587) == "42,587"
    with i18n.speaking("de-AT"):
        assert i18n.gettext("Help desk") == "IT-Support"


def theme_with_po(tmp_path: Path, po: str) -> Path:
    folder = tmp_path / "templates" / "acme"
    (folder / "locale").mkdir(parents=True)
    (folder / "locale" / "de.po").write_text(po, encoding="utf-8")
    return folder


def test_a_workspace_po_overrides_a_message_and_leaves_the_rest(tmp_path):
    folder = theme_with_po(tmp_path, 'msgid "Help desk"\nmsgstr "Servicedesk"\n')
    with i18n.speaking("de", i18n.workspace_translations(folder, "de")):
        assert i18n.gettext("Help desk") == "Servicedesk"
        assert i18n.gettext("Tip of the month") == "Tipp des Monats"  # the shipped catalog's
    assert i18n.translations_for("de").gettext("Help desk") == "IT-Support"  # the package is untouched


def test_a_workspace_po_overrides_the_edition(tmp_path):
    ws = tmp_path / "ws"
    assert CliRunner().invoke(cli, ["init", str(ws)]).exit_code == 0
    (ws / "templates" / "default" / "locale").mkdir(parents=True)  # beside the theme newsletter.toml names
    (ws / "templates" / "default" / "locale" / "de.po").write_text('msgid "Tip of the month"\nmsgstr "Unser Tipp"\n',
                                                                   encoding="utf-8")
    output = tmp_path / "draft.txt"
    result = CliRunner().invoke(cli, ["-q", "preview", "--config", str(ws / "newsletter.toml"), "--language", "de",
                                      "--collect", "--month", "2026-11", "--output", str(output)],
                                env={"NEWSLETTER_STATE_DIR": str(tmp_path / "s")})
    assert result.exit_code == 0, result.output
    assert "UNSER TIPP" in output.read_text(encoding="utf-8")


def test_a_broken_workspace_po_names_its_file_and_line(tmp_path):
    po = folder_po = theme_with_po(tmp_path, 'msgid "Help desk"\nmsgstr "Servicedesk"\n\nmsgid "Thank you"\n'
                                                'msgstr Danke\n')
    with pytest.raises(ConfigError, match=re.escape(f"{po / 'locale' / 'de.po'}:5: expected msgid")):
        i18n.workspace_translations(folder_po, "de")
    (po / "locale" / "de.po").write_text('msgid "Help desk"\nmsgstr "Servicedesk"\n\nmsgid "Thank you"\n',
                                         encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"{po / 'locale' / 'de.po'}:4: missing msgstr")):
        i18n.workspace_translations(po, "de")
    (po / "locale" / "de.po").write_text('msgid "{total} since January"\nmsgstr "{summe} seit Januar"\n',
                                         encoding="utf-8")
    with pytest.raises(ConfigError, match=r"de.po:1: .* names \{summe\}, which its message does not have"):
        i18n.workspace_translations(po, "de")
    for numbered in ("{0}", "{}"):  # str.format would fail the edition for want of a position
        (po / "locale" / "de.po").write_text('msgid "one request every working day"\n'
                                             'msgid_plural "{n} requests every working day"\n'
                                             'msgstr[0] "eine Anfrage pro Arbeitstag"\n'
                                             f'msgstr[1] "{numbered} Anfragen pro Arbeitstag"\n', encoding="utf-8")
        with pytest.raises(ConfigError, match=re.escape(f"names {numbered}, which its message does not have "
                                                        "(it has: {n})")):
            i18n.workspace_translations(po, "de")
    for written in ("{n:,}", "{n:d}", "{n!r}", "{n.real}"):  # the value comes as text: each would fail the edition
        (po / "locale" / "de.po").write_text(f'\nmsgid "{{n}} requests"\nmsgstr "{written} Anfragen"\n',
                                             encoding="utf-8")
        with pytest.raises(ConfigError, match=re.escape(f"de.po:2: the translation of '{{n}} requests' writes "
                                                        f"{written}") + r".*; write \{n\}"):
            i18n.workspace_translations(po, "de")
    (po / "locale" / "de.po").write_text('msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-9\\n"\n',
                                         encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"{po / 'locale' / 'de.po'}: cannot read this message catalog "
                                                    "(unknown encoding: utf-9)")):
        i18n.workspace_translations(po, "de")
    (po / "locale" / "de.po").write_text('msgid "{n} requests"\nmsgstr "{n} Anfragen, {{wörtlich}}"\n',
                                         encoding="utf-8")
    assert i18n.workspace_translations(po, "de").gettext("{n} requests") == "{n} Anfragen, {{wörtlich}}"


def test_preview_refuses_a_language_without_a_catalog(tmp_path):
    result = CliRunner().invoke(cli, ["-q", "preview", "--demo", "--language", "xx", "--output",
                                      str(tmp_path / "d.txt")], env={"NEWSLETTER_STATE_DIR": str(tmp_path / "s")})
    assert result.exit_code == 2 and "no catalog for 'xx'" in result.output


def test_the_subject_length_is_checked_in_every_language_in_use(workspace):
    base = workspace.config.read_text().replace('timezone = "Europe/Berlin"',
                                                'timezone = "Europe/Berlin"\nlanguages = ["de"]')
    workspace.configure(base=base)
    long = "%(team)s mit dem ausführlichen, langen und wirklich sehr ausgiebigen Monatsbericht für %(month)s"
    workspace.write("templates/default/locale/de.po", f'msgid "%(team)s in %(month)s"\nmsgstr "{long}"\n')
    result = workspace.invoke("check")
    assert "[de] " in result.output and "characters; phones cut subjects" in result.output, result.output
    assert result.output.count("phones cut subjects") == 1  # the English subject fits


def test_the_published_site_speaks_the_workspace_language(workspace, tmp_path):
    base = workspace.config.read_text().replace('timezone = "Europe/Berlin"',
                                                'timezone = "Europe/Berlin"\nlanguage = "fr"')
    workspace.configure(base=base)
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    assert workspace.invoke("run", "--month", "2026-10").exit_code == 0
    assert workspace.invoke("publish", str(tmp_path / "site")).exit_code == 0
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert 'lang="fr"' in index and "Flux Atom" in index and "Lettre d'information IT" in index
    page = (tmp_path / "site" / "2026-10" / "index.html").read_text(encoding="utf-8")
    assert "Tous les numéros" in page and "octobre 2026" in page


def test_check_warns_of_a_language_without_a_catalog(workspace):
    base = workspace.config.read_text().replace('timezone = "Europe/Berlin"',
                                                'timezone = "Europe/Berlin"\nlanguage = "it"')
    workspace.configure(base=base)
    result = workspace.invoke("check")
    assert "newsletter.language: no catalog for 'it', so the edition's words are in English" in result.output


def test_a_fraction_takes_the_plural_form_its_language_gives_it():
    with i18n.speaking("fr"):
        assert (formatting.points(0.1, 1), formatting.duration(5400)) == ("0,1 point", "1,5 heure")
    with i18n.speaking("de"):
        assert (formatting.points(0.1, 1), formatting.duration(5400)) == ("0,1 Punkte", "1,5 Stunden")


def test_the_quotes_heading_of_the_highlights_file_reads_in_the_edition_language(workspace, tmp_path):
    workspace.write("sources/highlights/2026-10.md", "# What colleagues said\n\n## Anna\nFixed in ten minutes.\n")
    output = tmp_path / "de.txt"
    result = workspace.invoke("preview", "--month", "2026-10", "--collect", "--language", "de", "--output",
                              str(output))
    assert result.exit_code == 0, result.output
    text = output.read_text(encoding="utf-8")
    assert "WAS KOLLEGINNEN UND KOLLEGEN SAGEN" in text and "WHAT COLLEAGUES SAID" not in text


@pytest.mark.parametrize("language", [*LANGUAGES, "en"])
def test_the_subject_and_the_preheader_stay_within_their_limits_in_every_language(tmp_path, language):
    from newsletter.compose.checks import PREHEADER_MAX, SUBJECT_MAX

    for month in ("2026-10", "2026-11", "2026-06"):
        result = CliRunner().invoke(cli, ["-q", "preview", "--demo", "--month", month, "--language", language,
                                          "--format", "json"], env={"NEWSLETTER_STATE_DIR": str(tmp_path / "s")})
        assert result.exit_code == 0, result.output
        draft = json.loads(result.stdout)
        assert 0 < len(draft["subject"]) <= SUBJECT_MAX, (month, draft["subject"])
        assert 0 < len(draft["preheader"]) <= PREHEADER_MAX, (month, draft["preheader"])


def test_a_preheader_over_its_limit_is_a_warning():
    from newsletter.compose.checks import PREHEADER_MAX, check_preheader

    assert [f.check for f in check_preheader("x" * (PREHEADER_MAX + 1))] == ["preheader"]
    assert [f.level for f in check_preheader("")] == ["warning"]
    assert list(check_preheader("A fine line.")) == []


@pytest.mark.parametrize("plural", ["(n != 1", "n / (n - 5)"])
def test_a_workspace_po_with_a_plural_forms_header_that_cannot_work_is_one_line_naming_it(tmp_path, plural):
    folder = theme_with_po(tmp_path, f'msgid ""\nmsgstr ""\n"Plural-Forms: nplurals=2; plural={plural};\\n"\n\n'
                                     'msgid "Help desk"\nmsgstr "Servicedesk"\n')
    with pytest.raises(ConfigError) as caught:
        i18n.workspace_translations(folder, "de")
    message = str(caught.value)
    assert message.startswith(f"{folder / 'locale' / 'de.po'}: Plural-Forms: ") and "\n" not in message


@pytest.mark.parametrize("translation", ["{n Tag", "{n} Tage}"])
def test_a_workspace_po_translation_whose_braces_do_not_pair_is_refused_naming_its_line(tmp_path, translation):
    folder = theme_with_po(tmp_path, f'msgid "{{n}} day"\nmsgid_plural "{{n}} days"\nmsgstr[0] "{{n}} Tag"\n'
                                     f'msgstr[1] "{translation}"\n')
    with pytest.raises(ConfigError, match=re.escape(f"{folder / 'locale' / 'de.po'}:1: the translation of "
                                                    "'{n} day' cannot be filled in (")):
        i18n.workspace_translations(folder, "de")


PAST_ITS_END = struct.pack("<11I", 0x950412DE, 0, 1, 28, 36, 0, 0, 10, 1000, 10, 1000)  # one message, nowhere


@pytest.mark.parametrize("damage", [b"", b"\xde\x12\x04\x95", b"<html>", PAST_ITS_END],
                         ids=["empty", "cut", "not-a-catalog", "offsets-past-its-end"])
def test_a_damaged_shipped_catalog_is_one_line_naming_it_and_the_owners_hear_in_english(tmp_path, damage):
    # a disk error or a half-finished install: the run stops before anyone is sent anything
    installed = tmp_path / "installed"
    shutil.copytree(Path(i18n.__file__).parent, installed / "newsletter", symlinks=False)
    mo = installed / "newsletter" / "locale" / "de" / "LC_MESSAGES" / "messages.mo"
    mo.write_bytes(damage)
    workspace = demo_workspace(tmp_path / "ws")
    workspace.configure(BASE_CONFIG.replace('timezone = "Europe/Berlin"', 'timezone = "Europe/Berlin"\nlanguage = "de"')
                        .replace("[run]\n", '[run]\nowners = ["owner@example.com"]\n'), base="")
    done = subprocess.run([sys.executable, "-m", "newsletter", "run", "--config", str(workspace.config), "--month",
                           "2026-10"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(installed)})
    assert done.returncode == 1, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if ": ok (" not in line]
    assert line.startswith(f"newsletter: {mo}: ") and "reinstall" in line, line
    assert not (workspace.state / "outbox" / "2026-10").exists(), "nobody was sent the edition"
    (told,) = (workspace.state / "outbox" / "notifications").iterdir()
    report = email.message_from_bytes(told.read_bytes(), policy=email.policy.default)
    assert report["To"] == "owner@example.com" and "stopped:" in report.get_body().get_content()
    assert str(mo) in report.get_body().get_content()
