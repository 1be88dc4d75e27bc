"""Numbers and durations written the way people say them, in the current language (newsletter.i18n:
Babel's locale data for digits, separators and the percent sign; the catalogs for the units), for
templates and subjects; paths as they read them."""

from __future__ import annotations

from pathlib import Path

from babel.numbers import format_decimal, format_percent

from newsletter.i18n import N_, gettext, locale, ngettext

UNKNOWN = N_("n/a")


def unknown() -> str:
    """What a number nobody knows reads, in the current language."""
    return gettext(UNKNOWN)


def number(value: float | None) -> str:
    """48213 -> '48,213' (English), '48.213' (German), '48 213' (French)."""
    if value is None:
        return unknown()
    return format_decimal(round(value), locale=locale())


def decimal(value: float) -> str:
    """6.2 -> '6.2' (English), '6,2' (German): a measure with its decimals as given."""
    return format_decimal(value, locale=locale(), decimal_quantization=False)


def measure(value: float | None) -> str:
    """A quantity measured, not counted (terabytes): 1234.5 -> '1,235'; 31.42 -> '31.4' ('31,4' in
    German); 0.042 -> '0.04': whole from 100, one decimal below, two below 1 (a little is not 0)."""
    if value is None:
        return unknown()
    return decimal(shown_measure(value))


def shown_measure(value: float) -> float | int:
    """The number `measure(value)` shows."""
    size = abs(value)
    rounded = round(value, 0 if size >= 100 else 1 if size >= 1 else 2)
    return int(rounded) if float(rounded).is_integer() else rounded


def percent(value: float | None, decimals: int | None = None) -> str:
    """99.9812 -> '99.98%' ('99,98 %' in German and French); 97.0 -> '97%'. Uptime keeps two decimals,
    other shares none or one."""
    if value is None:
        return unknown()
    if decimals is None:
        decimals = percent_decimals(value)
    here = locale()
    pattern = here.percent_formats[None].pattern.split(";")[0]
    return format_percent(_kept_below(value, decimals) / 100, format=_with_decimals(pattern, decimals), locale=here)


def _kept_below(value: float, decimals: int) -> float:
    """`value` as it may be shown at `decimals`: never rounded up onto 100 (99.996 -> 99.99, not
    '100.00%' beside two minutes of interruption)."""
    return 100 - 10.0 ** -decimals if value < 100 <= round(value, decimals) else value


def shown_percent(value: float) -> float:
    """The number `percent(value)` shows."""
    decimals = percent_decimals(value)
    return round(_kept_below(value, decimals), decimals)


def change_decimals(value: float, reference: float) -> int:
    """The decimals a change between two shown percentages has: the finer of theirs."""
    return max(percent_decimals(value), percent_decimals(reference))


def change_points(value: float, reference: float) -> tuple[float, int]:
    """The change a reader works out from the two as shown (`shown_change`), and the decimals to say
    it with: the value's own (98% after 99.38%: "1 point", not "1.38"), or the finer of the two where
    the value's would round it to nothing (10% after 9.7%: "0.3 points")."""
    delta, decimals = shown_change(value, reference), percent_decimals(value)
    if delta and not round(abs(delta), decimals):
        decimals = change_decimals(value, reference)
    return delta, decimals


def _with_decimals(pattern: str, decimals: int) -> str:
    """The locale's percent pattern ('#,##0 %') showing exactly `decimals` decimals ('#,##0.00 %')."""
    end = pattern.rfind("0") + 1
    return pattern[:end] + ("." + "0" * decimals if decimals else "") + pattern[end:]


def percent_decimals(value: float) -> int:
    """The decimals `percent` shows `value` with: two from 99 (uptime), none from 10, one below."""
    if value == 100:
        return 0
    return 2 if value >= 99 else (0 if float(value).is_integer() or value >= 10 else 1)


def shown_change(value: float, reference: float) -> float:
    """value - reference as a reader works it out from the two as shown: 98.3 after 97.38 is '98%'
    after '97.4%', 0.6 points; 98.6 after 99.40 is '99%' after '99.40%', 0.4 points down (rounding
    both at 98.6's precision would make it '99%' after '99%', the same)."""
    return round(shown_percent(value) - shown_percent(reference), change_decimals(value, reference))


def points(delta: float, decimals: int) -> str:
    """A change of a percentage, never more precise than the percentage it belongs to (`decimals`,
    from percent_decimals): -1.08 at 0 -> '1 point', at 1 -> '1.1 points'; trailing zeros go."""
    shown = round(abs(delta), decimals)
    shown = int(shown) if float(shown).is_integer() else shown
    return ngettext("{n} point", "{n} points", _count(shown)).format(n=decimal(shown))


def duration(seconds: float | None) -> str:
    """420 -> '7 minutes'; 22320 -> '6.2 hours' ('6,2 Stunden'); 266400 -> '3.1 days'."""
    if seconds is None:
        return unknown()
    seconds = abs(seconds)
    if seconds < 90:
        value: float = round(seconds)
        return ngettext("{n} second", "{n} seconds", _count(value)).format(n=decimal(value))
    minutes = seconds / 60
    if minutes < 90:
        value = round(minutes)
        return ngettext("{n} minute", "{n} minutes", _count(value)).format(n=decimal(value))
    hours = minutes / 60
    if hours < 36:
        value = _one_decimal(hours)
        return ngettext("{n} hour", "{n} hours", _count(value)).format(n=decimal(value))
    value = _one_decimal(hours / 24)
    return ngettext("{n} day", "{n} days", _count(value)).format(n=decimal(value))


def _count(value: float) -> int:
    """The count a plural form is chosen by: a whole number as it is; a fraction by the language's own
    rule (CLDR, through Babel): 'one' reads as 1 ('0,1 point', '1,5 heure' in French), else as 2
    ('6.2 hours', '6,2 Stunden')."""
    if float(value).is_integer():
        return int(value)
    return 1 if locale().plural_form(value) == "one" else 2


def _one_decimal(value: float) -> float | int:
    rounded = round(value, 1)
    return int(rounded) if rounded.is_integer() else rounded


def fit(parts: list[str], limit: int, separator: str = " · ") -> str:
    """Join as many leading parts as fit in `limit` characters: subject lines stay short."""
    text = ""
    for part in parts:
        candidate = f"{text}{separator}{part}" if text else part
        if len(candidate) > limit:
            break
        text = candidate
    return text


def upper_first(text: str) -> str:
    """'a threat stopped every minute' -> 'A threat stopped every minute': a sentence's start,
    leaving the rest as written (Jinja's `capitalize` would lower 'Email')."""
    return text[:1].upper() + text[1:]


def where(filename: str) -> str:
    """A file's path as a person reads it: relative to the current folder when inside it."""
    path = Path(filename)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
