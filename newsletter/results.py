"""What collectors return: one frozen type per kind of source, every field documented.

`Collector.collect()` returns its kind's type (`KIND_TYPES`). The runner checks the type and its
values (`result_checks.result_problem`: a plugin's mistake fails its source with a message, instead of reaching
the composer as numbers nobody can read) and stores `metrics()`, the JSON form that the store
keeps, `collect --json` prints and the composer reads. Unknown is None, never 0; a key missing
from the JSON form means unknown too.

The numeric kinds (every kind but highlights) also say how much of the month they cover:

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
    # "monitored", or why the figures are None: "paused", "maintenance", "not_monitored" (created after the
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
        return uptime_pct(sum(known) / len(known)) if known else None

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


@dataclass(frozen=True)
class BackupJob:
    """One backup job (or one check a job pings) over the month."""

    name: str  # as people know it ("File server nightly")
    runs: int | None = None  # runs that ended in the month (for a pinged check: runs expected)
    succeeded: int | None = None  # ended Success (or pinged on time)
    failed: int | None = None  # ended Failed (or missed)
    longest_gap_s: int | None = None  # longest stretch in the month without a good run (a check's longest down)

    def metrics(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class BackupStats:
    """A backup system's month (docs/metrics.md, "Backups"). Counts are of job runs (Veeam's
    sessions) that ended in the month; a run with warnings made its backup, so it counts as done in
    `success_rate_pct` but apart from `succeeded`."""

    jobs_run: int | None = None  # runs that ended in the month
    succeeded: int | None = None  # ended Success
    with_warnings: int | None = None  # ended Warning: the backup was made, something needs a look
    failed: int | None = None  # ended Failed: no backup from that run
    protected_bytes: int | None = None  # data protected at the month's end (the latest restore points)
    restores: int | None = None  # restores done for colleagues in the month
    longest_gap_s: int | None = None  # the longest any job went without a good run
    jobs: tuple[BackupJob, ...] = ()  # per job, when the source reads them
    partial: bool | None = None
    warnings: tuple[str, ...] = ()
    covered_days: int | None = None
    extra: Mapping[str, Scalar] = field(default_factory=dict)

    @property
    def success_rate_pct(self) -> float | None:
        """Runs that made their backup (Success or Warning) among the runs that ended, 0-100; None
        when the runs or their results are unknown, or nothing ran."""
        if not self.jobs_run or self.succeeded is None:
            return None
        return round(100 * (self.succeeded + (self.with_warnings or 0)) / self.jobs_run, 4)

    def metrics(self) -> dict[str, Any]:
        """The JSON form (`collect --json`'s `metrics`)."""
        return {**_numbers(self, "jobs"), "success_rate_pct": self.success_rate_pct,
                "jobs": [job.metrics() for job in self.jobs], **_coverage(self)}


@dataclass(frozen=True)
class DeviceGroup:
    """The managed devices of one operating system at the month's end."""

    os: str  # "Windows", "macOS", "iOS", "Android", "Linux", ...
    managed: int | None = None
    compliant: int | None = None
    patched: int | None = None

    def metrics(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class DeviceStats:
    """The managed devices as they stood at the month's end, and how that changed in the month
    (docs/metrics.md, "Devices"). Devices are a state, not a count of events: the figures come from
    the last daily snapshot in the month (`as_of`) and the first one (`*_month_start`)."""

    managed: int | None = None  # devices managed at the month's end
    compliant: int | None = None  # of them, compliant with the company's policies
    patched: int | None = None  # of them, fully patched within `patch_days` of an update's release
    patch_days: int | None = None  # the N of "patched within N days"
    managed_month_start: int | None = None  # the same figures at the month's start, when known
    compliant_month_start: int | None = None
    as_of: str | None = None  # the day the month-end figures were read, YYYY-MM-DD
    by_os: tuple[DeviceGroup, ...] = ()  # most devices first
    partial: bool | None = None
    warnings: tuple[str, ...] = ()
    covered_days: int | None = None
    extra: Mapping[str, Scalar] = field(default_factory=dict)

    @property
    def compliant_pct(self) -> float | None:
        """Compliant among managed, 0-100; None when either is unknown or nothing is managed."""
        return _share(self.compliant, self.managed)

    @property
    def patched_pct(self) -> float | None:
        """Patched within `patch_days` among managed, 0-100; None when unknown."""
        return _share(self.patched, self.managed)

    def metrics(self) -> dict[str, Any]:
        """The JSON form (`collect --json`'s `metrics`)."""
        return {**_numbers(self, "by_os"), "compliant_pct": self.compliant_pct, "patched_pct": self.patched_pct,
                "by_os": [group.metrics() for group in self.by_os], **_coverage(self)}


@dataclass(frozen=True)
class AwarenessStats:
    """Security-awareness work of the month (docs/metrics.md, "Security awareness"): the phishing
    simulations whose sending started in the month, and the trainings completed in it."""

    simulations: int | None = None  # phishing simulations (campaign runs) started in the month
    delivered: int | None = None  # simulated phishing emails delivered
    clicked: int | None = None  # people who clicked (or opened an attachment, entered data)
    reported: int | None = None  # people who reported the email as phishing
    # the vendor's phish-prone percentage when it gives one, else clicked / delivered; 0-100
    phish_prone_pct: float | None = None
    trainings_completed: int | None = None  # training enrollments completed in the month
    partial: bool | None = None
    warnings: tuple[str, ...] = ()
    covered_days: int | None = None
    extra: Mapping[str, Scalar] = field(default_factory=dict)

    @property
    def reported_pct(self) -> float | None:
        """Reported among delivered, 0-100; None when unknown."""
        return _share(self.reported, self.delivered)

    def metrics(self) -> dict[str, Any]:
        """The JSON form (`collect --json`'s `metrics`)."""
        return {**_numbers(self), "reported_pct": self.reported_pct, **_coverage(self)}


# What `Collector.collect()` returns: the type of the collector's kind
Result = (TicketStats | MailStats | UptimeStats | CustomMetrics | MonthHighlights | BackupStats | DeviceStats
          | AwarenessStats)
KIND_TYPES: dict[str, type] = {"ticketing": TicketStats, "mail_security": MailStats, "uptime": UptimeStats,
                               "highlights": MonthHighlights, "custom": CustomMetrics, "backup": BackupStats,
                               "devices": DeviceStats, "awareness": AwarenessStats}
# the kinds whose results say how much of the month they cover
Measured = TicketStats | MailStats | UptimeStats | CustomMetrics | BackupStats | DeviceStats | AwarenessStats


def _numbers(stats: object, *leave_out: str) -> dict[str, Any]:
    return {f.name: getattr(stats, f.name) for f in fields(stats) if f.name not in (*COVERAGE, *leave_out)}


def _coverage(stats: Measured) -> dict[str, Any]:
    said = stats.partial is not None or bool(stats.warnings)
    return {**stats.extra, **({"partial": bool(stats.partial), "warnings": list(stats.warnings)} if said else {}),
            **({} if stats.covered_days is None else {"covered_days": stats.covered_days})}




def uptime_pct(value: float) -> float:
    """A share of time up to 4 decimals, never rounded up onto 100 when below it: 1 s down in a month
    is 99.99996%, and "100%" beside an incident would not be believed."""
    return min(round(value, 4), 99.9999) if value < 100 else round(value, 4)


def _share(part: int | None, whole: int | None) -> float | None:
    return None if part is None or not whole else round(100 * part / whole, 4)
