"""The records that flow from collectors to the store and on to the composer.

Collectors produce a SourceResult whose `metrics` mapping has a stable shape per kind
(see `collect --json`). Unknown values are None, never zero.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from typing import Any, Literal, NamedTuple

Kind = Literal["ticketing", "mail_security", "uptime", "highlights", "custom"]
Status = Literal["ok", "failed", "skipped"]
KINDS: tuple[str, ...] = ("ticketing", "mail_security", "uptime", "highlights", "custom")
# What people call a source of each kind: a source's `title` unless it sets its own.
KIND_TITLES = {"ticketing": "Help desk", "mail_security": "Mail security", "uptime": "Uptime",
               "highlights": "Highlights", "custom": "Other numbers"}


def kind_title(kind: str) -> str:
    """'mail_security' -> 'Mail security': the default `title` of a source of that kind."""
    return KIND_TITLES.get(kind) or kind.replace("_", " ").strip().capitalize() or "Source"


class Ticket(NamedTuple):
    """A help-desk ticket normalized from any vendor. Times are tz-aware; None means unknown/never.

    A NamedTuple rather than a dataclass: collectors stream hundreds of thousands of these,
    and a tuple is the cheapest immutable record to build and to hold.
    """

    id: str
    created: datetime
    first_response: datetime | None = None
    resolved: datetime | None = None
    category: str | None = None
    sla_breached: bool | None = None  # None: no SLA applies or it is unknown
    csat_positive: bool | None = None  # None: not rated
    # Durations as the system measures them (e.g. business minutes); None: from the timestamps above.
    first_response_s: float | None = None
    resolution_s: float | None = None


@dataclass(frozen=True)
class TicketStats:
    opened: int | None = None
    resolved: int | None = None
    backlog_end: int | None = None
    first_response_median_s: float | None = None
    first_response_p90_s: float | None = None
    resolution_median_s: float | None = None
    resolution_p90_s: float | None = None
    sla_met_pct: float | None = None
    csat_pct: float | None = None
    csat_responses: int | None = None
    top_categories: list[list[Any]] = field(default_factory=list)
    partial: bool = False  # some tickets were left out of the figures (warnings say why)
    warnings: list[str] = field(default_factory=list)

    def metrics(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MailStats:
    scanned: int | None = None
    spam: int | None = None
    phishing: int | None = None
    malware: int | None = None
    blocked_total: int | None = None

    def metrics(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ServiceUptime:
    name: str
    uptime_pct: float | None
    downtime_s: int | None
    incidents: int | None
    longest_outage_s: int | None
    # "monitored", or why the figures are None: "paused", "not_monitored" (created after the
    # month, or no data in it), "unknown"
    status: str = "monitored"


@dataclass(frozen=True)
class UptimeStats:
    services: list[ServiceUptime] = field(default_factory=list)

    @property
    def overall_uptime_pct(self) -> float | None:
        """Mean over services whose uptime is known; None when none is."""
        known = [s.uptime_pct for s in self.services if s.uptime_pct is not None]
        return round(sum(known) / len(known), 4) if known else None

    def metrics(self) -> dict[str, Any]:
        return {
            "services": [asdict(s) for s in self.services],
            "overall_uptime_pct": self.overall_uptime_pct,
        }


@dataclass(frozen=True)
class Highlight:
    """A few lines the team wrote by hand; `body` is Markdown, rendered safely by the composer."""

    title: str
    body: str
    section: str = "highlights"

    def metrics(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SourceResult:
    """What one source produced for one month, as stored and as printed by `collect --json`.

    `partial`: the numbers cover only part of the month (it is still running, the system no longer
    or not yet holds all of it, some records were left out); `warnings` says what and why. A
    collector may put both in its metrics (and `covered_days`, how many of the month's days it
    covers); the runner copies them onto the result (`lifted`), where every source has them.
    """

    name: str
    type: str
    kind: str
    status: Status
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    partial: bool = False
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def ok(cls, name: str, type_: str, kind: str, metrics: dict[str, Any]) -> SourceResult:
        return cls(name=name, type=type_, kind=kind, status="ok", metrics=metrics)

    @classmethod
    def failed(cls, name: str, type_: str, kind: str, error: str) -> SourceResult:
        return cls(name=name, type=type_, kind=kind, status="failed", error=error)

    @classmethod
    def skipped(cls, name: str, type_: str, kind: str, reason: str) -> SourceResult:
        return cls(name=name, type=type_, kind=kind, status="skipped", error=reason)

    def lifted(self) -> SourceResult:
        """`partial` and `warnings` of the metrics (a collector's own say) also on the result itself,
        where every source has them; the metrics keep their shape."""
        if "partial" not in self.metrics and "warnings" not in self.metrics:
            return self
        warnings = [*self.warnings, *(w for w in self.metrics.get("warnings") or [] if w not in self.warnings)]
        return replace(self, partial=self.partial or bool(self.metrics.get("partial")), warnings=warnings)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "kind": self.kind,
            "status": self.status,
            "error": self.error,
            "metrics": self.metrics,
            "partial": self.partial,
            "warnings": self.warnings,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SourceResult:
        return cls(
            name=data["name"],
            type=data["type"],
            kind=data["kind"],
            status=data["status"],
            error=data.get("error"),
            metrics=data.get("metrics") or {},
            partial=bool(data.get("partial")),
            warnings=list(data.get("warnings") or []),
        ).lifted()


# The shape of each kind's metrics ------------------------------------------------------------------
# Checked on every result before it is stored (collect.py), because a plugin's mistake must fail
# its source with a message, not reach the composer as numbers nobody can read.
UNITS = ("count", "pct", "duration")
COMMON_METRICS = ("partial", "warnings", "covered_days")  # any kind: how much of the month it covers


def metrics_problem(kind: str, metrics: object) -> str | None:
    """What is wrong with `metrics` for `kind` ('metrics.opened: '5' is not a number'), or None.

    Keys of the kind may be missing (unknown) and others may be added (a source's extras); but a
    result must hold at least one of its kind's numbers, and every value must have its documented type.
    """
    if not isinstance(metrics, dict):
        return f"expected a mapping of numbers, got {type(metrics).__name__}"
    check = _SHAPES.get(kind)
    problem = _common_problem(metrics) or (check(metrics) if check else None)
    return f"metrics.{problem}" if problem else None


def _common_problem(m: dict) -> str | None:
    if "partial" in m and not isinstance(m["partial"], bool):
        return f"partial: expected true or false, got {m['partial']!r}"
    warnings = m.get("warnings", [])
    if not (isinstance(warnings, list) and all(isinstance(w, str) for w in warnings)):
        return f"warnings: expected a list of text, got {warnings!r:.60}"
    return _number("covered_days", m.get("covered_days"))


def _number(where: str, value: object) -> str | None:
    """None (unknown) or a finite int or float; never a bool, a string or NaN."""
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)):
        return None
    return f"{where}: {value!r:.60} is not a number"


def _text(where: str, value: object, what: str = "text") -> str | None:
    return None if isinstance(value, str) and value.strip() else f"{where}: expected {what}, got {value!r:.60}"


def _numbers(kind: str, m: dict, keys: tuple[str, ...]) -> str | None:
    if not any(key in m for key in keys):
        return (f"none of the {kind} numbers ({', '.join(keys[:3])}, ...) but {', '.join(sorted(map(str, m)))[:80]}"
                if m else f"no {kind} numbers at all")
    return next((p for key in keys if key in m and (p := _number(key, m[key]))), None)


def _ticketing(m: dict) -> str | None:
    keys = tuple(f.name for f in fields(TicketStats) if f.name not in ("top_categories", *COMMON_METRICS))
    problem = _numbers("ticketing", m, keys)
    categories = m.get("top_categories") or []
    if problem or not isinstance(categories, list):
        return problem or f"top_categories: expected a list, got {categories!r:.60}"
    for number, pair in enumerate(categories):
        if not (isinstance(pair, list | tuple) and len(pair) == 2 and isinstance(pair[0], str)) or _number("", pair[1]):
            return f"top_categories[{number}]: expected [name, count], got {pair!r:.60}"
    return None


def _mail(m: dict) -> str | None:
    return _numbers("mail_security", m, tuple(f.name for f in fields(MailStats) if f.name not in COMMON_METRICS))


def _uptime(m: dict) -> str | None:
    services = m.get("services")
    if not isinstance(services, list):
        return f"services: expected a list of services, got {services!r:.60}"
    problem = _number("overall_uptime_pct", m.get("overall_uptime_pct"))
    for number, service in enumerate(services):
        where = f"services[{number}]"
        if problem:
            break
        if not isinstance(service, dict):
            return f"{where}: expected a mapping, got {service!r:.60}"
        problem = _text(f"{where}.name", service.get("name"), "a name") or next(
            (p for key in ("uptime_pct", "downtime_s", "incidents", "longest_outage_s")
             if (p := _number(f"{where}.{key}", service.get(key)))), None)
        if not problem and "status" in service:
            problem = _text(f"{where}.status", service["status"])
    return problem


def _highlights(m: dict) -> str | None:
    items = m.get("items")
    if not isinstance(items, list):
        return f"items: expected a list of highlights, got {items!r:.60}"
    for number, item in enumerate(items):
        where = f"items[{number}]"
        if not isinstance(item, dict):
            return f"{where}: expected a mapping with title and body, got {item!r:.60}"
        body = item.get("body")
        problem = (_text(f"{where}.title", item.get("title"))
                   or (None if isinstance(body, str) else f"{where}.body: expected text, got {body!r:.60}")
                   or (_text(f"{where}.section", item["section"]) if "section" in item else None))
        if problem:
            return problem
    return None


def _custom(m: dict) -> str | None:
    values = m.get("values")
    if not isinstance(values, dict):
        return f"values: expected a mapping of name to value, got {values!r:.60}"
    for name, spec in values.items():
        where = f"values.{name}"
        if not isinstance(spec, dict):
            return f"{where}: expected a mapping with value and label, got {spec!r:.60}"
        unit, better = spec.get("unit", "count"), spec.get("better") or ""
        problem = _number(f"{where}.value", spec.get("value")) or _text(f"{where}.label", spec.get("label"))
        if not problem and unit not in UNITS:
            problem = f"{where}.unit: {unit!r} is not one of {', '.join(UNITS)}"
        if not problem and better not in ("higher", "lower", ""):
            problem = f"{where}.better: {better!r} is not higher, lower or empty"
        if problem:
            return problem
    return None


_SHAPES = {"ticketing": _ticketing, "mail_security": _mail, "uptime": _uptime, "highlights": _highlights,
           "custom": _custom}
