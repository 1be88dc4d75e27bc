"""The year in review: totals, the best month of each number, and what the team shipped.

Built from the months stored for the year, with the same Figures as a monthly edition (the
year's last stored month is "this month", the ones before it its history), so charts and
templates work unchanged; the year adds `year`, `totals`, `records` and `year_highlights`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from newsletter.compose.context import Figure, build_context, format_value, render_highlight
from newsletter.compose.story import ANGLES, headline_facts
from newsletter.errors import NewsletterError
from newsletter.model import SourceResult
from newsletter.period import Month, Year

YEAR_SECTIONS = ("totals", "trends", "year_highlights")
# kind, key, noun, how months add up ("sum" or "mean"), which month is best ("higher" or "lower")
YEAR_TOTALS = (
    ("ticketing", "resolved", "requests resolved", "sum", "higher"),
    ("mail_security", "blocked_total", "threats blocked", "sum", "higher"),
    ("uptime", "overall_uptime_pct", "average uptime", "mean", "higher"),
    ("ticketing", "first_response_median_s", "to a first answer, on average", "mean", "lower"),
    ("mail_security", "phishing", "phishing emails stopped", "sum", "higher"),
)


@dataclass(frozen=True)
class Total:
    value: str  # "5,432"
    noun: str  # "requests resolved"
    best: str  # "most in September (545)"
    months: int  # how many months the total covers

    @property
    def short(self) -> str:
        return f"{self.value} {self.noun}"

    @property
    def sentence(self) -> str:
        return f"{self.value} {self.noun}; {self.best}."


def build_year_context(year: Year, stored: dict[str, list[SourceResult]], extra: dict[str, Any]) -> dict[str, Any]:
    """`stored` maps month labels to their results: the year's, and up to 12 before it for records.
    Months of the year without results are left out."""
    months = [m for m in year.months if stored.get(m.label)]
    if not months:
        raise NewsletterError(f"nothing stored for {year}: collect its months first "
                              f"('newsletter collect --month {year}-01' ... or --backfill)")
    last: Month = months[-1]
    history = {m.label: stored[m.label] for m in months[:-1]}
    context = build_context(last, stored[last.label], history, {**extra, "sections": list(YEAR_SECTIONS)})
    names = {m.label: m.name for m in year.months}
    shown = [h["name"] for h in context["month"]["history"]] + [context["month"]["name"]]
    context["year"] = {"label": year.label, "name": year.label, "months": len(months),
                       "first": months[0].short_name, "last": last.short_name}
    context["totals"] = [t for t in (_total(spec, context, shown) for spec in YEAR_TOTALS) if t]
    context["headline"] = []
    context["records"] = year_records(months, stored)
    context["year_highlights"] = [
        {"month": names[m.label], **render_highlight(result, item, context)}
        for m in months for result in stored[m.label] if result.kind == "highlights" and result.status == "ok"
        for item in result.metrics.get("items", []) if item.get("section") == "highlights"
    ]
    return context


def year_records(months: list[Month], stored: dict[str, list[SourceResult]]) -> list[dict[str, str]]:
    """The records set during the year, each against the 12 months before it (story.py's rule)."""
    found = []
    for month in months:
        window = {m.label: stored.get(m.label, []) for m in month.history(12)}
        context = build_context(month, stored[month.label], window, {})
        found += [{"month": month.name, "title": fact.title, "value": fact.value}
                  for fact in headline_facts(context, limit=len(ANGLES)) if fact.reason == "record"]
    return found


def _total(spec: tuple[str, str, str, str, str], context: dict[str, Any], months: list[str]) -> Total | None:
    kind, key, noun, how, best = spec
    section = next((s for s in context.get(kind, []) if s.ok and key in s.figures), None)
    if section is None:
        return None
    figure: Figure = section.figures[key]
    points = [(m, v) for m, v in zip(months, figure.series, strict=False) if v is not None]
    if not points:
        return None
    values = [v for _, v in points]
    total = sum(values) if how == "sum" else sum(values) / len(values)
    month, value = (max if best == "higher" else min)(points, key=lambda p: p[1])
    if best == "higher":
        word = "best" if figure.unit == "pct" else "most"
    else:
        word = "fastest" if figure.unit == "duration" else "lowest"
    return Total(format_value(total, figure.unit), noun, f"{word} in {month} ({format_value(value, figure.unit)})",
                 len(points))
