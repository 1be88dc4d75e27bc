"""The records that flow from collectors to the store and on to the composer.

Collectors produce a SourceResult whose `metrics` mapping has a stable shape per kind
(see `collect --json`). Unknown values are None, never zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

Kind = Literal["ticketing", "mail_security", "uptime", "highlights", "custom"]
Status = Literal["ok", "failed", "skipped"]
KINDS: tuple[str, ...] = ("ticketing", "mail_security", "uptime", "highlights", "custom")


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
    """What one source produced for one month, as stored and as printed by `collect --json`."""

    name: str
    type: str
    kind: str
    status: Status
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def ok(cls, name: str, type_: str, kind: str, metrics: dict[str, Any]) -> SourceResult:
        return cls(name=name, type=type_, kind=kind, status="ok", metrics=metrics)

    @classmethod
    def failed(cls, name: str, type_: str, kind: str, error: str) -> SourceResult:
        return cls(name=name, type=type_, kind=kind, status="failed", error=error)

    @classmethod
    def skipped(cls, name: str, type_: str, kind: str, reason: str) -> SourceResult:
        return cls(name=name, type=type_, kind=kind, status="skipped", error=reason)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "kind": self.kind,
            "status": self.status,
            "error": self.error,
            "metrics": self.metrics,
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
        )
