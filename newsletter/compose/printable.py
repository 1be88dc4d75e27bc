"""Characters no part of an email may carry, taken out of every value a template prints.

MJML is XML: one C0 control other than TAB, LF and CR, one lone surrogate or a U+FFFE/U+FFFF
in a highlight, a theme value or a queue name from an API makes the whole document unreadable.
DEL and the C1 controls are legal XML but never text in an email, and U+009B (CSI) drives a
terminal when a reviewer reads the plain-text part in one; the other noncharacters are never
text either. They are removed, not replaced: what is left reads as intended.
"""

from __future__ import annotations

import re
from typing import Any

import jinja2
from markupsafe import Markup

_NONCHARACTERS = "".join(f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17))
_UNPRINTABLE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef{_NONCHARACTERS}]")


def printable(text: str) -> str:
    """`text` without the characters above; the very same object when it has none (the usual case)."""
    return _UNPRINTABLE.sub("", text) if _UNPRINTABLE.search(text) else text


def printable_value(value: Any) -> Any:
    """A value as a template prints it, cleaned: strings (safe HTML stays safe HTML), and any other
    object by the text it prints as. Numbers, None and undefined names pass unchanged."""
    if isinstance(value, (int, float, type(None), jinja2.Undefined)):
        return value
    if isinstance(value, str):
        cleaned = printable(value)
        return value if cleaned is value else (Markup(cleaned) if isinstance(value, Markup) else cleaned)
    if hasattr(value, "__html__"):
        return Markup(printable(value.__html__()))
    return printable(str(value))
