"""The words the tool writes, in the edition's language: one place that every built-in string
goes through (`gettext`, `ngettext` in Python; `{% trans %}` and `_()` in templates), and the
locale's way of writing numbers and dates (Babel's locale data: `locale()`).

The language is a context (`speaking(language)`), not a parameter threaded through every
function: the story, the framings and the templates ask for the current one, so one edition can be
composed once per language in use, each in its own `with speaking(...)` block, also in threads.

Catalogs: `newsletter/locale/<language>/LC_MESSAGES/messages.mo`, compiled from the `.po` beside it
by `make catalogs` (Babel) and shipped in the package; English is the messages as written. A
workspace's own `.po` (`templates/<theme>/locale/<language>.po`) is compiled when it is loaded and
answers first, falling back to the shipped catalog (`workspace_translations`).
"""

from __future__ import annotations

import contextlib
import functools
import gettext as _gettext
import io
import re
import string
import struct
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po

from newsletter.errors import ConfigError, NewsletterError

DEFAULT_LANGUAGE = "en"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"

NullTranslations = _gettext.NullTranslations  # what a catalog is, for type hints elsewhere
_ENGLISH = _gettext.NullTranslations()
_current: ContextVar[_gettext.NullTranslations | None] = ContextVar("translations", default=None)
_language: ContextVar[str] = ContextVar("language", default=DEFAULT_LANGUAGE)


def N_(message: str) -> str:
    """Marks `message` for the catalogs without translating it: for words defined at import time
    (labels in tables), translated with `gettext` where they are used."""
    return message


def N_plural(singular: str, plural: str) -> tuple[str, str]:
    """Marks a singular/plural pair for the catalogs (one message with its plural forms), for
    `ngettext(*pair, n)` where it is used."""
    return singular, plural


def catalog_language(language: str) -> str:
    """The catalog a language tag reads: 'de-AT', 'de_DE' and 'DE' read 'de'; '' reads English."""
    return (language or DEFAULT_LANGUAGE).replace("_", "-").split("-")[0].strip().lower() or DEFAULT_LANGUAGE


def shipped_languages() -> tuple[str, ...]:
    """English and every language with a compiled catalog in the package, sorted."""
    found = {p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.mo")}
    return (DEFAULT_LANGUAGE, *sorted(found - {DEFAULT_LANGUAGE}))


def without_catalog(language: str) -> str | None:
    """None when `language` (any tag of it) is English or has a shipped catalog; else the reason, for
    the error that refuses it to name: "no catalog for 'xx'; shipped: en, de, ... (docs/languages.md ...)"."""
    shipped = shipped_languages()
    if catalog_language(language) in shipped:
        return None
    return f"no catalog for {language!r}; shipped: {', '.join(shipped)} (docs/languages.md says how to add one)"


@functools.lru_cache(maxsize=32)
def translations_for(language: str) -> _gettext.NullTranslations:
    """The shipped catalog of `language` (any tag of it); English (the messages as written) when
    there is none. A damaged one (a disk error, a half-finished install) is a NewsletterError naming it."""
    try:
        return _gettext.translation(DOMAIN, LOCALE_DIR, [catalog_language(language)], fallback=True)
    except (OSError, struct.error, UnicodeError, LookupError, ValueError, IndexError) as exc:
        path = _gettext.find(DOMAIN, LOCALE_DIR, [catalog_language(language)])
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise NewsletterError(f"{path}: cannot read this message catalog ({why}); the installation is damaged: "
                              "install it again from its checkout or wheel (pip install --force-reinstall PATH)"
                              ) from None


def workspace_translations(theme_folder: Path | None, language: str) -> _gettext.NullTranslations:
    """`theme_folder/locale/<language>.po` compiled now, falling back to the shipped catalog; the
    shipped catalog alone when the workspace has none. A broken `.po` is a ConfigError naming the
    file and line."""
    shipped = translations_for(language)
    path = theme_folder / "locale" / f"{catalog_language(language)}.po" if theme_folder else None
    if path is None or not path.is_file():
        return shipped
    own = _compiled(path, catalog_language(language))
    own.add_fallback(shipped)
    return own


_PO_LINE = re.compile(r'^(#.*|(msgctxt|msgid|msgid_plural|msgstr(\[\d+\])?)\s+".*"|".*")?$')
# a format field ({n}, {n:,}, and {0} or {} too, which no message has) or a %(name)s
_FIELD = re.compile(r"\{[^{}]*\}|%\([A-Za-z_]+\)s")


def _fields(text: str) -> set[str]:
    """The fields `text` fills in, by name: "{n:,}" and "{n}" are the same field."""
    return {re.split(r"[:!.\[]", field[1:-1], maxsplit=1)[0] if field.startswith("{") else field
            for field in _FIELD.findall(text.replace("{{", "").replace("}}", ""))}


def _compiled(path: Path, language: str) -> _gettext.GNUTranslations:
    """A workspace's `.po`, read strictly and compiled in memory with Babel's tools. Refused with
    `file:line: what`: a line that is no .po syntax (Babel's reader guesses past some), and a
    translation naming a field its message does not have (it would fail the edition later)."""
    try:
        text = path.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), 1):
            if not _PO_LINE.match(line.strip()):
                raise ConfigError(f"{path}:{number}: expected msgid \"...\", msgstr \"...\", a quoted line or a "
                                  f"# comment, got {line.strip()[:60]!r}")
        catalog = read_po(io.BytesIO(text.encode("utf-8")), locale=language, abort_invalid=True)
    except PoFileError as exc:  # Babel's message ends with the line, counted from 0: "... on 11"
        found = re.match(r"(.*) on (\d+)$", str(exc))
        where = f"{path}:{int(found[2]) + 1}: {found[1]}" if found else f"{path}: {exc}"
        raise ConfigError(f"{where}; fix the file or remove it") from None
    except (OSError, UnicodeDecodeError, ValueError, LookupError) as exc:  # LookupError: an unknown charset
        raise ConfigError(f"{path}: cannot read this message catalog ({exc})") from None
    for message in catalog:
        if not message.id:
            continue
        message.flags.discard("fuzzy")  # a person wrote it on purpose: use it, fuzzy or not
        ids = message.id if isinstance(message.id, tuple | list) else (message.id,)
        strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
        allowed = {field for one in ids for field in _fields(one)}
        unknown = sorted({field for one in strings for field in _fields(one or "")} - allowed)
        if unknown:
            shown = lambda name: name if name.startswith("%") else "{" + name + "}"  # noqa: E731
            raise ConfigError(f"{path}:{message.lineno}: the translation of {ids[0]!r} names {shown(unknown[0])}, "
                              f"which its message does not have (it has: "
                              f"{', '.join(shown(f) for f in sorted(allowed)) or 'none'})")
        if any(not field.startswith("%") for field in allowed):  # filled in with str.format: braces must pair
            for one in strings:
                try:
                    parts = list(string.Formatter().parse(one or ""))
                except ValueError as exc:
                    raise ConfigError(f"{path}:{message.lineno}: the translation of {ids[0]!r} cannot be filled in "
                                      f"({exc}); write {{{{ and }}}} for a brace itself") from None
                _refuse_formats(parts, path, message.lineno, ids[0])
    compiled = io.BytesIO()
    try:
        write_mo(compiled, catalog)
    except (LookupError, UnicodeError) as exc:  # its header's charset: unknown, or not one for its words
        raise ConfigError(f"{path}: cannot read this message catalog ({exc})") from None
    compiled.seek(0)
    try:
        translations = _gettext.GNUTranslations(compiled)
        for count in range(1000):  # an expression that reads but fails for some count (n / 0) would fail the edition
            translations.plural(count)
    except (ValueError, ArithmeticError) as exc:
        raise ConfigError(f"{path}: Plural-Forms: cannot use {catalog.plural_forms!r} ({exc}); write it as in "
                          "the shipped catalogs (\"nplurals=2; plural=(n != 1);\") or leave the header out") from None
    return translations


def _refuse_formats(parts: list[tuple[str, str | None, str | None, str | None]], path: Path, line: int,
                    message: str) -> None:
    """Every value reaches a message as text, written already in the language's way ("1.234",
    "3,5 Stunden"): a format ({n:,}), a conversion ({n!r}) or a part ({n.real}) of it would fail
    the edition when it is composed, so the file is refused now."""
    for _, field, spec, conversion in parts:
        name = re.split(r"[.\[]", field, maxsplit=1)[0] if field is not None else ""
        if field is not None and (spec or conversion or field != name):
            written = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ConfigError(f"{path}:{line}: the translation of {message!r} writes {written}, but its value comes "
                              f"already written (digits and separators in the edition's language); write {{{name}}}")


def locale() -> Locale:
    """Babel's locale of the current language (its numbers, dates and month names); English for a
    tag Babel does not know."""
    return _babel_locale(current_language())


@functools.lru_cache(maxsize=32)
def _babel_locale(language: str) -> Locale:
    for tag in ((language or DEFAULT_LANGUAGE).replace("-", "_"), catalog_language(language)):
        try:
            return Locale.parse(tag)
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse(DEFAULT_LANGUAGE)


@contextlib.contextmanager
def speaking(language: str, translations: _gettext.NullTranslations | None = None) -> Iterator[None]:
    """Within the block, `gettext`/`ngettext`, the number formats and the templates answer in `language`."""
    words = _current.set(translations if translations is not None else translations_for(language))
    name = _language.set(language or DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _current.reset(words)
        _language.reset(name)


def current_language() -> str:
    """The language of the current block ("en" outside any)."""
    return _language.get()


def _words() -> _gettext.NullTranslations:
    return _current.get() or _ENGLISH


def gettext(message: str) -> str:
    """`message` in the current language."""
    return _words().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of `singular`/`plural` for the count `n`, in the current language."""
    return _words().ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """`message` in the current language, told apart from the same words elsewhere by `context`."""
    return _words().pgettext(context, message)
