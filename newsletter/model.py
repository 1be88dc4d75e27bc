"""The records that flow from collectors to the store and on to the composer.

A collector returns its kind's typed result (newsletter/results.py); the runner turns it into a
SourceResult, whose `metrics` mapping is that result's JSON form, as stored and as printed by
`collect --json`. Unknown values are None, never zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, NamedTuple

from newsletter.i18n import N_

Kind = Literal["ticketing", "mail_security", "uptime", "highlights", "custom", "backup", "devices", "awareness"]
Status = Literal["ok", "failed", "skipped"]
KINDS: tuple[str, ...] = ("ticketing", "mail_security", "uptime", "highlights", "custom", "backup", "devices",
                          "awareness")
# What people call a source of each kind: a source's `title` unless it sets its own.
# Marked for the catalogs (N_): the composer translates a title when it shows it.
KIND_TITLES = {"ticketing": N_("Help desk"), "mail_security": N_("Mail security"), "uptime": N_("Uptime"),
               "highlights": N_("Highlights"), "custom": N_("Other numbers"), "backup": N_("Backups"),
               "devices": N_("Devices"), "awareness": N_("Security awareness")}


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
class SourceResult:
    """What one source produced for one month, as stored and as printed by `collect --json`.

    `partial`: the numbers cover only part of the month (it is still running, the system no longer
    or not yet holds all of it, some records were left out); `warnings` says what and why. A
    collector's typed result may say both (and `covered_days`, how many of the month's days it
    covers), and its JSON form carries them in the metrics; the runner copies them onto the result
    (`lifted`), where every source has them.
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


class Snapshot(NamedTuple):
    """One stored reading of a source (collectors.base.SnapshotState): when it was taken (UTC) and
    what the collector's `take_snapshot` returned."""

    taken_at: datetime
    reading: dict[str, Any]
