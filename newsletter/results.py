"""What collectors return: one frozen type per kind of source, every field documented.

`Collector.collect()` returns its kind's type (`KIND_TYPES`). The runner checks the type and its
values (`result_problem`: a plugin's mistake fails its source with a message, instead of reaching
the composer as numbers nobody can read) and stores `metrics()`, the JSON form that the store
keeps, `collect --json` prints and the composer reads. Unknown is None, never 0; a key missing
from the JSON form means unknown too.

The numeric kinds (tickets, mail, uptime, custom) also say how much of the month they cover:

- `partial`: True when the numbers cover only part of the month (the system no longer or not yet
  holds all of it, records were left out); False when the collector checked that they cover all
  of it; None, the default, when it does not say (read as whole).
- `warnings`: what and why, in words the people who run the newsletter can act on.
- `covered_days`: how many of the month's days the numbers cover, when the collector knows.
- `extra`: the source's own figures beside its kind's (rspamd's `window_start`), name to text,
  number, true/false or None: kept in the store and shown by `collect --json`, not in the email.

In the JSON form `partial` and `warnings` appear when the collector says anything about coverage,
`covered_days` when it is known; the runner copies `partial` and `warnings` onto the stored result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

Scalar = str | int | float | bool | None
Unit = Literal["count", "pct", "duration"]
UNITS: tuple[str, ...] = ("count", "pct", "duration")
BETTER: tuple[str, ...] = ("higher", "lower", "")
COVERAGE = ("partial", "warnings", "covered_days", "extra")


@dataclass(frozen=True)
class Quote:
    """A colleague's positive satisfaction comment: a candidate for "What colleagues said", never
    shown in the email unless a person picks it in the preview. Only the words and the day: no
    requester, no ticket (the collector keeps neither)."""

    text: str
    rated_at: str  # the day it was written, YYYY-MM-DD

    def metrics(self) -> dict[str, str]:
        return {"text": self.text, "rated_at": self.rated_at}


@dataclass(frozen=True)
class TicketStats:
    """A help desk's month, by the definitions in DESIGN.md ("Metric definitions"). Durations in
    seconds; a median is the middle value (of an even count, the mean of
    the two middle values) and a 90th percentile is nearest-rank."""

    opened: int | None = None  # created in the month
    resolved: int | None = None  # resolved in the month
    backlog_end: int | None = None  # open at the month's end
    first_response_median_s: float | None = None  # of the tickets opened in the month
    first_response_p90_s: float | None = None
    resolution_median_s: float | None = None  # of the tickets resolved in the month
    resolution_p90_s: float | None = None
    sla_met_pct: float | None = None  # resolved tickets with an SLA that was not breached, 0-100
    csat_pct: float | None = None  # positive ratings among the rated resolved tickets, 0-100
    csat_responses: int | None = None  # how many were rated
    top_categories: tuple[tuple[str, int], ...] = ()  # (name, tickets opened), most first
    quotes: tuple[Quote, ...] = ()  # the month's positive comments, when the source reads them
    partial: bool | None = None
    warnings: tuple[str, ...] = ()
    covered_days: int | None = None
    extra: Mapping[str, Scalar] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        """The JSON form (`collect --json`'s `metrics`); `quotes` only when there are some."""
        quotes = {"quotes": [q.metrics() for q in self.quotes]} if self.quotes else {}
        return {**_numbers(self, "top_categories", "quotes"),
                "top_categories": [[name, count] for name, count in self.top_categories], **quotes,
                **_coverage(self)}


@dataclass(frozen=True)
class MailStats:
    """A mail filter's month: messages it scanned and what it stopped."""

    scanned: int | None = None  # messages scanned
    spam: int | None = None
    phishing: int | None = None
    malware: int | None = None
    blocked_total: int | None = None  # everything kept from the inboxes, spam included
    # refused outright (part of blocked_total), where the system counts it apart; absent when None
    rejected: int | None = None
    partial: bool | None = None
    warnings: tuple[str, ...] = ()
    covered_days: int | None = None
    extra: Mapping[str, Scalar] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        """The JSON form (`collect --json`'s `metrics`)."""
        rejected = {} if self.rejected is None else {"rejected": self.rejected}
        return {**_numbers(self, "rejected"), **rejected, **_coverage(self)}


@dataclass(frozen=True)
class ServiceUptime:
    """One monitored service over the part of the month it was monitored."""

    name: str  # as people know it ("Email"), after the source's rename
    uptime_pct: float | None  # 0-100
    downtime_s: int | None
    incidents: int | None  # outages (overlapping ones count once)
    longest_outage_s: int | None
    # "monitored", or why the figures are None: "paused", "not_monitored" (created after the
    # month, or no data in it), "unknown"
    status: str = "monitored"

    def metrics(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class UptimeStats:
    """The services of one monitoring system; `overall_uptime_pct` is their mean."""

    services: tuple[ServiceUptime, ...] = ()
    partial: bool | None = None
    warnings: tuple[str, ...] = ()
    covered_days: int | None = None
    extra: Mapping[str, Scalar] = field(default_factory=dict)

    @property
    def overall_uptime_pct(self) -> float | None:
        """Mean over services whose uptime is known; None when none is."""
        known = [s.uptime_pct for s in self.services if s.uptime_pct is not None]
        return round(sum(known) / len(known), 4) if known else None

    def metrics(self) -> dict[str, Any]:
        """The JSON form (`collect --json`'s `metrics`)."""
        return {"services": [s.metrics() for s in self.services], "overall_uptime_pct": self.overall_uptime_pct,
                **_coverage(self)}


@dataclass(frozen=True)
class CustomValue:
    """One number no API holds (laptops rolled out), as the team wrote it down."""

    value: float | None  # None: unknown this month
    label: str  # what it counts, as the email says it ("Laptops rolled out")
    unit: Unit = "count"  # count, pct (0-100) or duration (seconds)
    better: Literal["higher", "lower", ""] = ""  # or "" when a change is neither good nor bad

    def metrics(self) -> dict[str, Any]:
        return {"value": self.value, "label": self.label, "unit": self.unit, "better": self.better}


@dataclass(frozen=True)
class CustomMetrics:
    """Numbers of the team's own, by name (lower-case letters, digits and _): templates read
    them as `metrics.<name>`."""

    values: Mapping[str, CustomValue] = field(default_factory=dict)
    partial: bool | None = None
    warnings: tuple[str, ...] = ()
    covered_days: int | None = None
    extra: Mapping[str, Scalar] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        """The JSON form (`collect --json`'s `metrics`)."""
        return {"values": {name: value.metrics() for name, value in self.values.items()}, **_coverage(self)}


@dataclass(frozen=True)
class Highlight:
    """A few lines the team wrote by hand; `body` is Markdown, rendered safely by the composer."""

    title: str
    body: str
    section: str = "highlights"  # the template's name of the group it is in ("thanks", "tip_of_the_month")

    def metrics(self) -> dict[str, Any]:
        return {"title": self.title, "body": self.body, "section": self.section}


@dataclass(frozen=True)
class MonthHighlights:
    """The month's highlights, in the order they were written."""

    items: tuple[Highlight, ...] = ()
    # where they were written (an absolute path): the composer names it in problems and finds
    # pictures beside it; None when they come from elsewhere
    file: str | None = None

    def metrics(self) -> dict[str, Any]:
        """The JSON form (`collect --json`'s `metrics`)."""
        return {"items": [item.metrics() for item in self.items], **({"file": self.file} if self.file else {})}


# What `Collector.collect()` returns: the type of the collector's kind
Result = TicketStats | MailStats | UptimeStats | CustomMetrics | MonthHighlights
KIND_TYPES: dict[str, type] = {"ticketing": TicketStats, "mail_security": MailStats, "uptime": UptimeStats,
                               "highlights": MonthHighlights, "custom": CustomMetrics}


def _numbers(stats: object, *leave_out: str) -> dict[str, Any]:
    return {f.name: getattr(stats, f.name) for f in fields(stats) if f.name not in (*COVERAGE, *leave_out)}


def _coverage(stats: TicketStats | MailStats | UptimeStats | CustomMetrics) -> dict[str, Any]:
    said = stats.partial is not None or bool(stats.warnings)
    return {**stats.extra, **({"partial": bool(stats.partial), "warnings": list(stats.warnings)} if said else {}),
            **({} if stats.covered_days is None else {"covered_days": stats.covered_days})}


# The check ----------------------------------------------------------------------------------------
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


def _coverage_problem(stats: TicketStats | MailStats | UptimeStats | CustomMetrics) -> str | None:
    if stats.partial is not None and not isinstance(stats.partial, bool):
        return f"partial: expected True, False or None, got {stats.partial!r:.60}"
    warnings = stats.warnings
    if not (isinstance(warnings, tuple | list) and all(isinstance(w, str) for w in warnings)):
        return f"warnings: expected a tuple of text, got {warnings!r:.60}"
    if not isinstance(stats.extra, Mapping):
        return f"extra: expected a mapping of name to value, got {stats.extra!r:.60}"
    own = {f.name for f in fields(stats)} | {"overall_uptime_pct"}
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


_CHECKS: dict[type, Any] = {TicketStats: _tickets_problem, MailStats: _mail_problem, UptimeStats: _uptime_problem,
                            CustomMetrics: _custom_problem}
