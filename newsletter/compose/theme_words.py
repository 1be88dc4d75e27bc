"""The words of the built-in theme.toml (title, taglines, headings, footer lines) in the current language.

They are the theme's settings, so a theme of your own replaces them by writing its own; the built-in
ones go through the catalogs like every other built-in string: `translated` runs when the theme's
settings are read (inside the edition's language), and `extract` is the Babel extractor that puts them
in the catalog (babel.cfg: `[theme: templates/default/theme.toml]`), so `make catalogs` finds them
without a copy kept by hand.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from typing import IO, Any

from newsletter.i18n import gettext

# the settings that are words for readers: top-level keys and whole tables of them
WORDS = ("title", "tagline", "year_title", "year_tagline")
TABLES = ("headings",)
LISTS = (("footer", "lines"),)


def phrases(settings: dict[str, Any]) -> Iterator[tuple[tuple[str, ...], str]]:
    """(where, text) of each reader-facing word in a theme.toml's settings."""
    for key in WORDS:
        if isinstance(settings.get(key), str):
            yield (key,), settings[key]
    for table in TABLES:
        for key, value in (settings.get(table) or {}).items():
            if isinstance(value, str):
                yield (table, key), value
    for table, key in LISTS:
        for number, value in enumerate((settings.get(table) or {}).get(key) or []):
            if isinstance(value, str):
                yield (table, key, str(number)), value


def translated(settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` (the built-in theme's, read fresh) with its words in the current language; in place."""
    for where, text in list(phrases(settings)):
        if len(where) == 1:
            settings[where[0]] = gettext(text)
        elif len(where) == 2:
            settings[where[0]][where[1]] = gettext(text)
        else:
            settings[where[0]][where[1]][int(where[2])] = gettext(text)
    return settings


def extract(fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
            ) -> Iterator[tuple[int, None, str, list[str]]]:
    """Babel's extractor interface: (line, function, message, comments) per word of a theme.toml."""
    source = fileobj.read().decode("utf-8")
    lines = source.splitlines()
    for where, text in phrases(tomllib.loads(source)):
        line = next((n for n, row in enumerate(lines, 1) if _quoted(text) in row), 0)
        yield line, None, text, [f"theme.toml {'.'.join(where[:2])}"]


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
