"""Numbers and durations written the way people say them, for templates and subjects; paths as they read them."""

from __future__ import annotations

from pathlib import Path

UNKNOWN = "n/a"


def number(value: float | None) -> str:
    """48213 -> '48,213'."""
    if value is None:
        return UNKNOWN
    return f"{round(value):,}"


def percent(value: float | None, decimals: int | None = None) -> str:
    """99.9812 -> '99.98%'; 97.0 -> '97%'. Uptime keeps two decimals, other shares none or one."""
    if value is None:
        return UNKNOWN
    if decimals is None:
        decimals = percent_decimals(value)
    return f"{value:.{decimals}f}%"


def percent_decimals(value: float) -> int:
    """The decimals `percent` shows `value` with: two from 99 (uptime), none from 10, one below."""
    if value == 100:
        return 0
    return 2 if value >= 99 else (0 if float(value).is_integer() or value >= 10 else 1)


def shown_change(value: float, reference: float) -> float:
    """value - reference as a reader works it out from the two shown at value's precision:
    98.3 after 99.38 is '98%' after '99%', a change of 1 point (not 1.08)."""
    decimals = percent_decimals(value)
    return round(round(value, decimals) - round(reference, decimals), decimals)


def points(delta: float, decimals: int) -> str:
    """A change of a percentage, never more precise than the percentage it belongs to (`decimals`,
    from percent_decimals): -1.08 at 0 -> '1 point', at 1 -> '1.1 points'; trailing zeros go."""
    text = f"{abs(delta):.{decimals}f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return f"{text} point" if text == "1" else f"{text} points"


def duration(seconds: float | None) -> str:
    """420 -> '7 minutes'; 22320 -> '6.2 hours'; 266400 -> '3.1 days'."""
    if seconds is None:
        return UNKNOWN
    seconds = abs(seconds)
    if seconds < 90:
        return _unit(round(seconds), "second")
    minutes = seconds / 60
    if minutes < 90:
        return _unit(round(minutes), "minute")
    hours = minutes / 60
    if hours < 36:
        return _unit(_one_decimal(hours), "hour")
    return _unit(_one_decimal(hours / 24), "day")


def _one_decimal(value: float) -> float | int:
    rounded = round(value, 1)
    return int(rounded) if rounded.is_integer() else rounded


def _unit(value: float, unit: str) -> str:
    return f"{value} {unit}" if value == 1 else f"{value} {unit}s"


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
