"""The words the tool writes, in the edition's language: one place that every built-in string
goes through (`gettext`, `ngettext` in Python; `{% trans %}` and `_()` in templates).

The language is a context (`speaking(language)`), not a parameter threaded through every
function: the story, the framings and the templates ask for the current one, so one edition can be
composed once per language in use, each in its own `with speaking(...)` block, also in threads.
Until catalogs are installed, every language speaks English (the messages themselves).
"""

from __future__ import annotations

import contextlib
import gettext as _gettext
from collections.abc import Iterator
from contextvars import ContextVar

DEFAULT_LANGUAGE = "en"

_ENGLISH = _gettext.NullTranslations()
_current: ContextVar[_gettext.NullTranslations | None] = ContextVar("translations", default=None)
_language: ContextVar[str] = ContextVar("language", default=DEFAULT_LANGUAGE)


def translations_for(language: str) -> _gettext.NullTranslations:
    """The catalog of `language`; English (the messages as written) when there is none."""
    return _gettext.NullTranslations()


@contextlib.contextmanager
def speaking(language: str, translations: _gettext.NullTranslations | None = None) -> Iterator[None]:
    """Within the block, `gettext`/`ngettext` and the templates answer in `language`."""
    words = _current.set(translations if translations is not None else translations_for(language))
    name = _language.set(language)
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
