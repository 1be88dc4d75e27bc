"""The runner's check of what a collector returned (newsletter/results.py): the kind's type, and
values of their documented types, so a plugin's mistake fails its source with a message instead of
reaching the composer as numbers nobody can read."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import fields
from typing import Any

from newsletter.results import (
    BETTER,
    KIND_TYPES,
    UNITS,
    AwarenessStats,
    BackupJob,
    BackupStats,
    CustomMetrics,
    CustomValue,
    DeviceGroup,
    DeviceStats,
    Highlight,
    MailStats,
    Measured,
    MonthHighlights,
    Quote,
    ServiceUptime,
    TicketStats,
    UptimeStats,
    _numbers,
)


def result_problem(kind: str, stats: object) -> str | None:
    """What is wrong with `stats` as the result of a collector of `kind`, or None.

    The type must be the kind's; every value must have its documented type (a number is an int or
    a finite float, never a bool or text); and a numeric kind must know at least one of its numbers:
    a collector that knows none raises SourceError saying why.
    """
    expected = KIND_TYPES.get(kind)
    if expected is None:
        return f"kind {kind!r} is not one of {', '.join(KIND_TYPES)}"
    if not isinstance(stats, expected):
        return f"{type(stats).__name__} instead of {expected.__name__}, the result of kind {kind!r}"
    if isinstance(stats, MonthHighlights):
        return _highlights_problem(stats)
    return _coverage_problem(stats) or _CHECKS[expected](stats)


def metrics_problem(metrics: object, where: str = "metrics()") -> str | None:
    """What in a result's JSON form (its metrics(), a plugin's subclass may override it) JSON cannot
    hold, or None: the store keeps it as JSON, and a set or a datetime there would stop the run."""
    if where == "metrics()" and not isinstance(metrics, dict):
        return f"metrics(): {type(metrics).__name__} instead of a dict"
    if isinstance(metrics, dict):
        for key, value in metrics.items():
            if not isinstance(key, str):
                return f"{where}: the key {key!r:.60} is not text"
            if problem := metrics_problem(value, f"{where}[{key!r:.60}]"):
                return problem
        return None
    if isinstance(metrics, list | tuple):
        return next((p for n, value in enumerate(metrics) if (p := metrics_problem(value, f"{where}[{n}]"))), None)
    if isinstance(metrics, float) and not math.isfinite(metrics):
        return f"{where}: {metrics!r} is not a number"
    if metrics is None or isinstance(metrics, str | int | float):
        return None
    return f"{where}: {type(metrics).__name__} is not JSON (text, a number, true/false, None, a list or a dict)"


# Far above any count, duration or size a system reports (an exabyte); past it a figure is a mistake,
# and one the email could not even write (Babel's decimals stop at 28 digits).
MAX_NUMBER = 10**18


def _number(where: str, value: object) -> str | None:
    """None (unknown) or a finite int or float; never a bool, a string, NaN or a huge number."""
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
                         and abs(value) <= MAX_NUMBER):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return f"{where}: {value!r:.60} is too large to be a real figure"
    return f"{where}: {value!r:.60} is not a number"


def _measure(where: str, value: object) -> str | None:
    """A figure of a kind's own (a count, a duration, a size, a share): a number or None, never below
    zero, and a share (`..._pct`, 0-100) never above 100. A custom value may be anything `_number` takes."""
    problem = _number(where, value)
    if problem or value is None:
        return problem
    if value < 0:  # type: ignore[operator]
        return f"{where}: {value!r} is negative"
    if where.endswith("_pct") and value > 100:  # type: ignore[operator]
        return f"{where}: {value!r} is above 100 (a share, 0-100)"
    return None


def _text(where: str, value: object, what: str = "text") -> str | None:
    return None if isinstance(value, str) and value.strip() else f"{where}: expected {what}, got {value!r:.60}"


def _sequence(where: str, value: object, what: str) -> str | None:
    return None if isinstance(value, tuple | list) else f"{where}: expected {what}, got {value!r:.60}"


def _first(*problems: str | None) -> str | None:
    return next((p for p in problems if p), None)


def _each_problem(field: str, items: object, kind: type, item_problem: Callable[[str, Any], str | None]) -> str | None:
    """The first problem of `field`, a tuple of `kind`: not a tuple, an item of another type, or what
    `item_problem(where, item)` finds in one (where is "field[n]", for the message)."""
    problem = _sequence(field, items, f"a tuple of {kind.__name__}")
    for number, item in enumerate(() if problem else items):
        where = f"{field}[{number}]"
        if not isinstance(item, kind):
            return f"{where}: expected a {kind.__name__}, got {item!r:.60}"
        if problem := item_problem(where, item):
            return problem
    return problem


def _numbers_problem(where: str, item: object, *names: str) -> Iterator[str | None]:
    return (_measure(f"{where}.{name}", getattr(item, name)) for name in names)


def _coverage_problem(stats: Measured) -> str | None:
    if stats.partial is not None and not isinstance(stats.partial, bool):
        return f"partial: expected True, False or None, got {stats.partial!r:.60}"
    warnings = stats.warnings
    if not (isinstance(warnings, tuple | list) and all(isinstance(w, str) for w in warnings)):
        return f"warnings: expected a tuple of text, got {warnings!r:.60}"
    if not isinstance(stats.extra, Mapping):
        return f"extra: expected a mapping of name to value, got {stats.extra!r:.60}"
    own = {f.name for f in fields(stats)} | set(_DERIVED)
    for name, value in stats.extra.items():
        if not isinstance(name, str) or name in own:
            return f"extra: {name!r:.60} is not a name of the source's own (it is taken, or not text)"
        if not isinstance(value, str | bool | None) and _number(f"extra.{name}", value):
            return f"extra.{name}: {value!r:.60} is not text, a number, true/false or None"
    return _measure("covered_days", stats.covered_days)


def _known_numbers(kind: str, stats: object, names: tuple[str, ...]) -> str | None:
    problem = _first(*(_measure(name, getattr(stats, name)) for name in names))
    if problem or any(getattr(stats, name) is not None for name in names):
        return problem
    return (f"none of the {kind} numbers ({', '.join(names[:3])}, ...) is known; a collector that knows none "
            "raises SourceError saying why")


def _tickets_problem(stats: TicketStats) -> str | None:
    names = tuple(_numbers(stats, "top_categories", "quotes"))
    categories = stats.top_categories
    problem = _known_numbers("ticketing", stats, names) or _sequence("top_categories", categories,
                                                                      "a tuple of (name, count)")
    for number, pair in enumerate(() if problem else categories):
        named = isinstance(pair, tuple | list) and len(pair) == 2 and isinstance(pair[0], str)
        if not named or _measure("", pair[1]):
            return f"top_categories[{number}]: expected (name, count), got {pair!r:.60}"
    problem = problem or _sequence("quotes", stats.quotes, "a tuple of Quote")
    for number, quote in enumerate(() if problem else stats.quotes):
        if not (isinstance(quote, Quote) and isinstance(quote.text, str) and isinstance(quote.rated_at, str)):
            return f"quotes[{number}]: expected a Quote(text, rated_at), got {quote!r:.60}"
    return problem


def _mail_problem(stats: MailStats) -> str | None:
    return _known_numbers("mail_security", stats, tuple(_numbers(stats, "rejected"))) or _measure("rejected",
                                                                                                   stats.rejected)


def _uptime_problem(stats: UptimeStats) -> str | None:
    return _each_problem("services", stats.services, ServiceUptime, lambda where, service: _first(
        _text(f"{where}.name", service.name, "a name"), _text(f"{where}.status", service.status),
        *_numbers_problem(where, service, "uptime_pct", "downtime_s", "incidents", "longest_outage_s")))


def _custom_problem(stats: CustomMetrics) -> str | None:
    if not isinstance(stats.values, Mapping):
        return f"values: expected a mapping of name to CustomValue, got {stats.values!r:.60}"
    for name, spec in stats.values.items():
        where = f"values.{name}"
        if not isinstance(spec, CustomValue):
            return f"{where}: expected a CustomValue, got {spec!r:.60}"
        units, better = ", ".join(UNITS), spec.better
        problem = _first(_number(f"{where}.value", spec.value), _text(f"{where}.label", spec.label),
                         None if spec.unit in UNITS else f"{where}.unit: {spec.unit!r} is not one of {units}",
                         None if better in BETTER else f"{where}.better: {better!r} is not higher, lower or empty")
        if problem:
            return problem
    return None


def _highlights_problem(stats: MonthHighlights) -> str | None:
    problem = _each_problem("items", stats.items, Highlight, lambda where, item: _first(
        _text(f"{where}.title", item.title),
        None if isinstance(item.body, str) else f"{where}.body: expected text, got {item.body!r:.60}",
        _text(f"{where}.section", item.section)))
    return problem or (None if stats.file is None else _text("file", stats.file, "a path"))


def _backup_problem(stats: BackupStats) -> str | None:
    return _known_numbers("backup", stats, tuple(_numbers(stats, "jobs"))) or _each_problem(
        "jobs", stats.jobs, BackupJob, lambda where, job: _first(
            _text(f"{where}.name", job.name, "a name"),
            *_numbers_problem(where, job, "runs", "succeeded", "failed", "longest_gap_s")))


def _devices_problem(stats: DeviceStats) -> str | None:
    names = tuple(_numbers(stats, "by_os", "as_of"))
    return (_known_numbers("devices", stats, names)
            or (None if stats.as_of is None else _text("as_of", stats.as_of, "a day (YYYY-MM-DD)"))
            or _each_problem("by_os", stats.by_os, DeviceGroup, lambda where, group: _first(
                _text(f"{where}.os", group.os, "a name"),
                *_numbers_problem(where, group, "managed", "compliant", "patched"))))


def _awareness_problem(stats: AwarenessStats) -> str | None:
    return _known_numbers("awareness", stats, tuple(_numbers(stats)))


_CHECKS: dict[type, Any] = {TicketStats: _tickets_problem, MailStats: _mail_problem, UptimeStats: _uptime_problem,
                            CustomMetrics: _custom_problem, BackupStats: _backup_problem,
                            DeviceStats: _devices_problem, AwarenessStats: _awareness_problem}
# figures the JSON form computes from the fields (properties), which `extra` may not take either
_DERIVED = ("overall_uptime_pct", "success_rate_pct", "compliant_pct", "patched_pct", "reported_pct")
