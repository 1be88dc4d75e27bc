"""Stored results of a month (and the month before) -> what templates see.

Templates receive Figures, not raw numbers: each knows its value, last month's value, how to
write itself and whether a change is better or worse, so no template does arithmetic and a
missing number reads "n/a" instead of a zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from newsletter.compose import formatting
from newsletter.compose.markdown import render_markdown
from newsletter.model import SourceResult
from newsletter.period import Month

Unit = Literal["count", "duration", "pct"]

# key, label, unit, higher_is_better (None: a change is neither good nor bad)
TICKET_FIGURES = (
    ("resolved", "Requests resolved", "count", True),
    ("opened", "New requests", "count", None),
    ("backlog_end", "Still open at month's end", "count", False),
    ("first_response_median_s", "Typical wait for a first answer", "duration", False),
    ("first_response_p90_s", "9 in 10 got a first answer within", "duration", False),
    ("resolution_median_s", "Typical time to solve a request", "duration", False),
    ("resolution_p90_s", "9 in 10 requests solved within", "duration", False),
    ("sla_met_pct", "Service targets met", "pct", True),
    ("csat_pct", "Happy with the help they got", "pct", True),
    ("csat_responses", "Ratings received", "count", None),
)
MAIL_FIGURES = (
    ("blocked_total", "Threats blocked", "count", None),
    ("spam", "Spam emails stopped", "count", None),
    ("phishing", "Phishing emails stopped", "count", None),
    ("malware", "Emails with malware stopped", "count", None),
    ("scanned", "Emails checked", "count", None),
)
SERVICE_FIGURES = (
    ("uptime_pct", "Available", "pct", True),
    ("downtime_s", "Downtime", "duration", False),
    ("incidents", "Interruptions", "count", False),
    ("longest_outage_s", "Longest interruption", "duration", False),
)


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    value: float | None
    previous: float | None
    unit: Unit
    higher_is_better: bool | None
    previous_month: str = ""

    @property
    def known(self) -> bool:
        return self.value is not None

    @property
    def display(self) -> str:
        return _format(self.value, self.unit)

    @property
    def previous_display(self) -> str:
        return _format(self.previous, self.unit)

    @property
    def delta(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def verdict(self) -> str | None:
        """'better', 'worse', 'same', or None when unknown or when a change means neither."""
        delta = self.delta
        if delta is None:
            return None
        if abs(delta) < (0.005 if self.unit == "pct" else 0.5):
            return "same"
        if self.higher_is_better is None:
            return None
        return "better" if (delta > 0) == self.higher_is_better else "worse"

    @property
    def comparison(self) -> str:
        """'3 minutes faster than September', '112 more than September', '' when unknown."""
        delta, month = self.delta, self.previous_month
        if delta is None:
            return ""
        if self.verdict == "same":
            return f"the same as {month}"
        if self.unit == "duration":
            return f"{formatting.duration(delta)} {'slower' if delta > 0 else 'faster'} than {month}"
        if self.unit == "pct":
            points = f"{abs(delta):.2f}".rstrip("0").rstrip(".")
            return f"{'up' if delta > 0 else 'down'} {points} points from {month}"
        return f"{formatting.number(abs(delta))} {'more' if delta > 0 else 'fewer'} than {month}"


def _format(value: float | None, unit: Unit) -> str:
    if unit == "duration":
        return formatting.duration(value)
    if unit == "pct":
        return formatting.percent(value)
    return formatting.number(value)


@dataclass(frozen=True)
class Section:
    """One source's part of the newsletter."""

    name: str
    kind: str
    status: str
    error: str | None
    figures: dict[str, Figure] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)  # services, categories, highlights

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def build_context(
    month: Month, results: list[SourceResult], previous: list[SourceResult], extra: dict[str, Any]
) -> dict[str, Any]:
    """Everything a template may use. `extra` holds workspace facts (company, team, theme)."""
    before = {r.name: r for r in previous if r.status == "ok"}
    prev_name = month.previous().short_name
    by_kind: dict[str, list[Section]] = {"ticketing": [], "mail_security": [], "uptime": [], "custom": []}
    highlights: dict[str, list[dict[str, str]]] = {}
    for result in results:
        old = before.get(result.name)
        if result.kind == "highlights":
            for item in result.metrics.get("items", []) if result.status == "ok" else []:
                highlights.setdefault(item["section"], []).append(
                    {"title": item["title"], "html": render_markdown(item["body"]), "text": item["body"]}
                )
            continue
        by_kind.setdefault(result.kind, []).append(_section(result, old, prev_name))
    return {
        "month": {"label": month.label, "name": month.name, "short_name": month.short_name,
                  "previous_name": month.previous().name, "previous_short_name": prev_name},
        "ticketing": by_kind["ticketing"],
        "mail_security": by_kind["mail_security"],
        "uptime": by_kind["uptime"],
        "custom": by_kind["custom"],
        "highlights": highlights,
        "failed_sources": [r for r in results if r.status == "failed" and r.kind != "highlights"],
        **extra,
    }


def _section(result: SourceResult, old: SourceResult | None, prev_name: str) -> Section:
    section = Section(result.name, result.kind, result.status, result.error)
    if result.status != "ok":
        return section
    now, then = result.metrics, old.metrics if old else {}
    specs = {"ticketing": TICKET_FIGURES, "mail_security": MAIL_FIGURES}.get(result.kind, ())
    for key, label, unit, better in specs:
        section.figures[key] = Figure(key, label, now.get(key), then.get(key), unit, better, prev_name)
    if result.kind == "ticketing":
        section.items.extend({"name": n, "count": c} for n, c in now.get("top_categories") or [])
    if result.kind == "uptime":
        section.figures["overall_uptime_pct"] = Figure(
            "overall_uptime_pct", "Average availability", now.get("overall_uptime_pct"),
            then.get("overall_uptime_pct"), "pct", True, prev_name)
        earlier = {s["name"]: s for s in then.get("services", [])}
        for service in now.get("services", []):
            last = earlier.get(service["name"], {})
            section.items.append({"name": service["name"], "figures": {
                key: Figure(key, label, service.get(key), last.get(key), unit, better, prev_name)
                for key, label, unit, better in SERVICE_FIGURES}})
    return section
