"""The runner's check of what a collector returned (newsletter/results.py): the kind's type, and
values of their documented types, so a plugin's mistake fails its source with a message instead of
reaching the composer as numbers nobody can read."""

from __future__ import annotations

import math
from collections.abc import Mapping
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


def _number(where: str, value: object) -> str | None:
    """None (unknown) or a finite int or float; never a bool, a string or NaN."""
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)):
        return None
    return f"{where}: {value!r:.60} is not a number"


def _text(where: str, value: object, what: str = "text") -> str | None:
    return None if isinstance(value, str) and value.strip() else f"{where}: expected {what}, got {value!r:.60}"


def _sequence(where: str, value: object, what: str) -> str | None:
    return None if isinstance(value, tuple | list) else f"{where}: expected {what}, got {value!r:.60}"


def _first(*problems: str | None) -> str | None:
    return next((p for p in problems if p), None)


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
    return _number("covered_days", stats.covered_days)


def _known_numbers(kind: str, stats: object, names: tuple[str, ...]) -> str | None:
    problem = _first(*(_number(name, getattr(stats, name)) for name in names))
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
        if not (isinstance(pair, tuple | list) and len(pair) == 2 and isinstance(pair[0], str)) or _number("", pair[1]):
            return f"top_categories[{number}]: expected (name, count), got {pair!r:.60}"
    problem = problem or _sequence("quotes", stats.quotes, "a tuple of Quote")
    for number, quote in enumerate(() if problem else stats.quotes):
        if not (isinstance(quote, Quote) and isinstance(quote.text, str) and isinstance(quote.rated_at, str)):
            return f"quotes[{number}]: expected a Quote(text, rated_at), got {quote!r:.60}"
    return problem


def _mail_problem(stats: MailStats) -> str | None:
    return _known_numbers("mail_security", stats, tuple(_numbers(stats, "rejected"))) or _number("rejected",
                                                                                                  stats.rejected)


def _uptime_problem(stats: UptimeStats) -> str | None:
    problem = _sequence("services", stats.services, "a tuple of ServiceUptime")
    for number, service in enumerate(() if problem else stats.services):
        where = f"services[{number}]"
        if not isinstance(service, ServiceUptime):
            return f"{where}: expected a ServiceUptime, got {service!r:.60}"
        problem = _first(_text(f"{where}.name", service.name, "a name"), _text(f"{where}.status", service.status),
                         *(_number(f"{where}.{key}", getattr(service, key))
                           for key in ("uptime_pct", "downtime_s", "incidents", "longest_outage_s")))
        if problem:
            return problem
    return problem


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
    problem = _sequence("items", stats.items, "a tuple of Highlight")
    for number, item in enumerate(() if problem else stats.items):
        where = f"items[{number}]"
        if not isinstance(item, Highlight):
            return f"{where}: expected a Highlight, got {item!r:.60}"
        problem = _first(_text(f"{where}.title", item.title),
                         None if isinstance(item.body, str) else f"{where}.body: expected text, got {item.body!r:.60}",
                         _text(f"{where}.section", item.section))
        if problem:
            return problem
    return problem or (None if stats.file is None else _text("file", stats.file, "a path"))


def _backup_problem(stats: BackupStats) -> str | None:
    problem = _known_numbers("backup", stats, tuple(_numbers(stats, "jobs"))) or _sequence(
        "jobs", stats.jobs, "a tuple of BackupJob")
    for number, job in enumerate(() if problem else stats.jobs):
        where = f"jobs[{number}]"
        if not isinstance(job, BackupJob):
            return f"{where}: expected a BackupJob, got {job!r:.60}"
        problem = _first(_text(f"{where}.name", job.name, "a name"),
                         *(_number(f"{where}.{key}", getattr(job, key))
                           for key in ("runs", "succeeded", "failed", "longest_gap_s")))
        if problem:
            return problem
    return problem


def _devices_problem(stats: DeviceStats) -> str | None:
    names = tuple(name for name in _numbers(stats, "by_os", "as_of"))
    problem = (_known_numbers("devices", stats, names) or _sequence("by_os", stats.by_os, "a tuple of DeviceGroup")
               or (None if stats.as_of is None else _text("as_of", stats.as_of, "a day (YYYY-MM-DD)")))
    for number, group in enumerate(() if problem else stats.by_os):
        where = f"by_os[{number}]"
        if not isinstance(group, DeviceGroup):
            return f"{where}: expected a DeviceGroup, got {group!r:.60}"
        problem = _first(_text(f"{where}.os", group.os, "a name"),
                         *(_number(f"{where}.{key}", getattr(group, key))
                           for key in ("managed", "compliant", "patched")))
        if problem:
            return problem
    return problem


def _awareness_problem(stats: AwarenessStats) -> str | None:
    return _known_numbers("awareness", stats, tuple(_numbers(stats)))


_CHECKS: dict[type, Any] = {TicketStats: _tickets_problem, MailStats: _mail_problem, UptimeStats: _uptime_problem,
                            CustomMetrics: _custom_problem, BackupStats: _backup_problem,
                            DeviceStats: _devices_problem, AwarenessStats: _awareness_problem}
# figures the JSON form computes from the fields (properties), which `extra` may not take either
_DERIVED = ("overall_uptime_pct", "success_rate_pct", "compliant_pct", "patched_pct", "reported_pct")
