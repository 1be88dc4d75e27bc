"""Stored results of a month and its history -> what templates see.

Templates receive Figures, not raw numbers: each knows its value, last month's value, the
months before (for records, averages and charts), how to write itself and whether a change is
better or worse, so no template does arithmetic and a missing number reads "n/a", never a zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from newsletter.compose import formatting
from newsletter.compose.formatting import where
from newsletter.compose.markdown import render_markdown
from newsletter.model import SourceResult, kind_title
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
    history: tuple[float | None, ...] = ()  # earlier months, oldest first; the last is `previous`

    @property
    def earlier(self) -> list[float]:
        """The known values of the earlier months."""
        return [v for v in self.history if v is not None]

    @property
    def average(self) -> float | None:
        """Mean of the known earlier months (up to 12), None without any."""
        known = [v for v in self.history[-12:] if v is not None]
        return sum(known) / len(known) if known else None

    @property
    def series(self) -> list[float | None]:
        """History plus this month: what a trend chart draws."""
        return [*self.history, self.value]

    @property
    def known(self) -> bool:
        return self.value is not None

    @property
    def display(self) -> str:
        return format_value(self.value, self.unit)

    @property
    def previous_display(self) -> str:
        return format_value(self.previous, self.unit)

    @property
    def delta(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def verdict(self) -> str | None:
        """'better', 'worse', 'same', or None when unknown or when a change means neither."""
        if self.value is None or self.previous is None:
            return None
        # a percentage as shown: '98%' after '98%' is the same, whatever the decimals behind
        pct = self.unit == "pct"
        delta = formatting.shown_change(self.value, self.previous) if pct else self.value - self.previous
        if abs(delta) < (0.005 if self.unit == "pct" else 0.5):
            return "same"
        if self.higher_is_better is None:
            return None
        return "better" if (delta > 0) == self.higher_is_better else "worse"

    @property
    def comparison(self) -> str:
        """'3 minutes faster than September', '112 more than September', '' when unknown."""
        if self.verdict == "same":
            return f"the same as {self.previous_month}"
        return describe_change(self.value, self.previous, self.unit, f"than {self.previous_month}")


def describe_change(value: float | None, reference: float | None, unit: Unit, against: str) -> str:
    """`value` against `reference` in words: '3 minutes faster than September', 'up 2 points from
    the 12-month average'. A percentage's change is the one between the two as they are shown
    (value's precision): '98%, down 1 point', never '98%, down 1.08 points'."""
    if value is None or reference is None:
        return ""
    delta = value - reference
    if unit == "duration":
        return f"{formatting.duration(delta)} {'slower' if delta > 0 else 'faster'} {against}"
    if unit == "pct":
        delta = formatting.shown_change(value, reference)
        points = formatting.points(delta, formatting.percent_decimals(value))
        if points == "0 points":
            return f"the same {against.replace('than ', 'as ', 1)}"
        return f"{'up' if delta > 0 else 'down'} {points} {against.replace('than ', 'from ', 1)}"
    return f"{formatting.number(abs(delta))} {'more' if delta > 0 else 'fewer'} {against}"


def format_value(value: float | None, unit: Unit) -> str:
    if unit == "duration":
        return formatting.duration(value)
    if unit == "pct":
        return formatting.percent(value)
    return formatting.number(value)


@dataclass(frozen=True)
class Section:
    """One source's part of the newsletter. `name` is its id; `title` is what readers call it."""

    name: str
    kind: str
    status: str
    error: str | None
    figures: dict[str, Figure] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)  # services, categories, highlights
    summary: str = ""  # one plain-language sentence with its comparison (story.summarize)
    title: str = ""
    partial: bool = False  # not the whole month, or not every record (warnings say why); and when days
    coverage: str = ""  # are missing: "These numbers cover 22 of the 31 days of October.", for readers,
    covered: str = ""  # and "counted over 22 of 31 days", beside a number (the hero)
    warnings: list[str] = field(default_factory=list)  # why, for the people who run the newsletter

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def build_context(
    month: Month, results: list[SourceResult], history: dict[str, list[SourceResult]], extra: dict[str, Any]
) -> dict[str, Any]:
    """Everything a template may use. `history` maps earlier month labels to their stored results
    (any order, any gaps); `extra` holds workspace facts (company, team, sections, and
    `source_titles`: source name -> title, where a source without one is called by its kind)."""
    from newsletter.compose import story

    labels = [m.label for m in month.history(max(_span(month, history), 1))]
    past = {label: {r.name: r for r in history.get(label, []) if r.status == "ok"} for label in labels}
    prev_name = month.previous().short_name
    by_kind: dict[str, list[Section]] = {"ticketing": [], "mail_security": [], "uptime": [], "custom": []}
    highlights: dict[str, list[dict[str, str]]] = {}
    titles = extra.get("source_titles") or {}
    failed: list[Section] = []
    written: dict[str, list[Any]] = {"markdown_refused": [], "markdown_pictures": []}
    for result in results:
        if result.kind == "highlights":
            for item in result.metrics.get("items", []) if result.status == "ok" else []:
                highlights.setdefault(item["section"], []).append(render_highlight(result, item, written))
            continue
        older = [past[label].get(result.name) for label in labels]
        section = replace(_section(result, older, prev_name, month),
                          title=titles.get(result.name) or kind_title(result.kind))
        section = replace(section, summary=story.summarize(section))
        by_kind.setdefault(result.kind, []).append(section)
        if result.status == "failed":
            failed.append(section)
    custom = {key: figure for section in by_kind["custom"] for key, figure in section.figures.items()}
    context = {
        "month": {"label": month.label, "name": month.name, "short_name": month.short_name, "days": month.days,
                  "previous_name": month.previous().name, "previous_short_name": prev_name,
                  "history": [{"label": m.label, "name": m.name, "short_name": m.short_name}
                              for m in month.history(len(labels))]},
        "ticketing": by_kind["ticketing"],
        "mail_security": by_kind["mail_security"],
        "uptime": by_kind["uptime"],
        "custom": by_kind["custom"],
        "metrics": custom,
        "highlights": highlights,
        "failed_sources": failed,  # Sections: `.title` is what to call them
        **written,
        **extra,
    }
    context["headline"] = story.headline_facts(context)
    return context


def render_highlight(result: SourceResult, item: dict[str, str], written: dict[str, list[Any]]) -> dict[str, str]:
    """One highlight as templates see it (title, html, text). What in it cannot go out and the
    pictures it sends along go to `written` (markdown_refused, markdown_pictures), for the renderer."""
    file = result.metrics.get("file")
    origin = f'{where(file) if file else result.name} ("{item["title"]}")'
    rendered = render_markdown(item["body"], origin, Path(file).parent if file else None)
    written["markdown_refused"].extend(rendered.refused)
    written["markdown_pictures"].extend(rendered.pictures)
    return {"title": item["title"], "html": rendered.html, "text": item["body"]}


def _span(month: Month, history: dict[str, list[SourceResult]]) -> int:
    """How many months back the given history reaches (at least the month before)."""
    earliest = min(history, default=month.previous().label)
    year, number = (int(part) for part in earliest.split("-"))
    return max(1, month.year * 12 + month.month - (year * 12 + number))


def _coverage(result: SourceResult, month: Month) -> dict[str, str]:
    """How many days a partial result's numbers cover, in words, when the source knows: that changes
    what they mean to a reader. Other reasons (a few records left out) are for the people who run
    the newsletter: `warnings`, shown by collect, the preview and the reviewers' email."""
    days = result.metrics.get("covered_days")
    if isinstance(days, int | float) and not isinstance(days, bool) and 0 <= days < month.days:
        return {"coverage": f"These numbers cover {days:.0f} of the {month.days} days of {month.short_name}.",
                "covered": f"counted over {days:.0f} of {month.days} days"}
    return {}


def _section(result: SourceResult, older: list[SourceResult | None], prev_name: str, month: Month) -> Section:
    """One source's figures, each with its values in the earlier months (None where unknown)."""
    section = Section(result.name, result.kind, result.status, result.error)
    if result.status != "ok":
        return section
    if result.partial:
        section = replace(section, partial=True, warnings=list(result.warnings), **_coverage(result, month))
    now = result.metrics
    past = [r.metrics if r else {} for r in older]

    def figure(key: str, label: str, unit: Unit, better: bool | None, pick=lambda m, k: m.get(k)) -> Figure:
        history = tuple(pick(m, key) for m in past)
        previous = history[-1] if history else None
        return Figure(key, label, pick(now, key), previous, unit, better, prev_name, history)

    specs = {"ticketing": TICKET_FIGURES, "mail_security": MAIL_FIGURES}.get(result.kind, ())
    for key, label, unit, better in specs:
        section.figures[key] = figure(key, label, unit, better)
    if result.kind == "ticketing":
        section.items.extend({"name": n, "count": c} for n, c in now.get("top_categories") or [])
    if result.kind == "uptime":
        section.figures["overall_uptime_pct"] = figure("overall_uptime_pct", "Average availability", "pct", True)
        for service in now.get("services", []):
            name = service["name"]

            def pick(metrics: dict[str, Any], key: str, name: str = name) -> Any:
                found = next((s for s in metrics.get("services", []) if s["name"] == name), {})
                return found.get(key)

            # "monitored", or "paused" / "not_monitored": shown as words, never as a percentage
            section.items.append({"name": name, "status": service.get("status") or "monitored", "figures": {
                key: figure(key, label, unit, better, pick) for key, label, unit, better in SERVICE_FIGURES}})
    if result.kind == "custom":
        for name, spec in (now.get("values") or {}).items():

            def custom(metrics: dict[str, Any], key: str) -> Any:
                return ((metrics.get("values") or {}).get(key) or {}).get("value")

            better = {"higher": True, "lower": False}.get(spec.get("better") or "")
            section.figures[name] = figure(name, spec.get("label") or name, spec.get("unit") or "count", better, custom)
    return section
