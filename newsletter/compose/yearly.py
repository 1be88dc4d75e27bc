"""The year in review: totals, the best month of each number, and what the team shipped.

Built from the months stored for the year, with the same Figures as a monthly edition (the
year's last stored month is "this month", the ones before it its history), so charts and
templates work unchanged; the year adds `year`, `totals`, `records` and `year_highlights` (each
month's lead story first, with its photo).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from newsletter.compose import lead
from newsletter.compose.context import build_context
from newsletter.compose.figures import Figure, format_value
from newsletter.compose.lead import render_highlight
from newsletter.compose.story import ANGLES, headline_facts
from newsletter.errors import NewsletterError, NothingToDo
from newsletter.i18n import N_, ngettext
from newsletter.i18n import gettext as _
from newsletter.model import SourceResult
from newsletter.period import Month, Year

YEAR_SECTIONS = ("totals", "trends", "year_highlights")
# kind, key, noun (marked for the catalogs), how months add up ("sum" or "mean"), which month is best
# ("higher" or "lower")
YEAR_TOTALS = (
    ("ticketing", "resolved", N_("requests resolved"), "sum", "higher"),
    ("mail_security", "blocked_total", N_("threats blocked"), "sum", "higher"),
    ("uptime", "overall_uptime_pct", N_("average uptime"), "mean", "higher"),
    ("ticketing", "first_response_median_s", N_("to a first answer, on average"), "mean", "lower"),
    ("mail_security", "phishing", N_("phishing emails stopped"), "sum", "higher"),
    # the quiet work (quiet_work.py's kinds): a month's rate averaged as uptime is, volumes added up
    ("backup", "success_rate_pct", N_("average backup success"), "mean", "higher"),
    ("backup", "restores", N_("restores for colleagues"), "sum", "higher"),
    ("devices", "compliant_pct", N_("average device compliance"), "mean", "higher"),
    ("awareness", "trainings_completed", N_("security trainings completed"), "sum", "higher"),
)
# a total's best month, by which month is best and the figure's unit
BEST = {("higher", "pct"): N_("best in {month} ({value})"), ("higher", "count"): N_("most in {month} ({value})"),
        ("lower", "duration"): N_("fastest in {month} ({value})"),
        ("lower", "count"): N_("lowest in {month} ({value})")}


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


def build_year_context(year: Year, stored: dict[str, list[SourceResult]], extra: dict[str, Any],
                       now: datetime | None = None) -> dict[str, Any]:
    """`stored` maps month labels to their results: the year's, and up to 12 before it for records.
    Months of the year without results are left out. `year.over` is False while `now` is before the
    year's end, so the templates say the edition covers the months so far (None: the year is over)."""
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
                       "first": months[0].short_name, "last": last.short_name,
                       "over": now is None or not year_not_over(year, now), "ends": f"{year_end(year):%Y-%m-%d}"}
    context["totals"] = [total for spec in YEAR_TOTALS for total in _totals(spec, context, shown)]
    context["headline"] = []
    context["records"] = year_records(months, stored)
    context["year_highlights"] = [{"month": names[m.label], **item} for m in months
                                  for item in _shipped(stored[m.label], context)]
    return context


def _shipped(results: list[SourceResult], written: dict[str, Any]) -> list[dict[str, Any]]:
    """A month's highlights as the year shows them: its lead story first, with its photo (resized as
    in its month: lead.py), then the others written before any "# " heading."""
    items = [(result, item) for result in results if result.kind == "highlights" and result.status == "ok"
             for item in result.metrics.get("items", [])]
    chosen = lead.choose(items)
    shipped = [lead.render_lead(*items[chosen], written)] if chosen is not None else []
    return shipped + [render_highlight(result, item, written) for number, (result, item) in enumerate(items)
                      if number != chosen and item.get("section") == "highlights"]


def year_end(year: Year) -> datetime:
    """The first instant after the year, in its time zone."""
    return year.months[-1].end


def year_not_over(year: Year, now: datetime) -> bool:
    return now < year_end(year)


def refuse_unfinished(year: Year, now: datetime) -> None:
    """The send gate: a year in review goes out once its year is over, or on purpose (`--force`).

    NothingToDo (exit 3, like a month not due yet): a review mailed in December would read as the
    whole year while it covers the months so far.
    """
    if year_not_over(year, now):
        raise NothingToDo(f"the year in review of {year} is not sent before the year is over (on "
                          f"{year_end(year):%Y-%m-%d}); to send the months so far anyway, add --force")


def year_records(months: list[Month], stored: dict[str, list[SourceResult]]) -> list[dict[str, Any]]:
    """Each record set during the year once, at its standing value, with how often it was set.

    A month's record is judged against the 12 months before it (story.py's rule), so a later record
    of a metric beats every earlier one of the year: the last one stands. Listed in the order the
    standing records were set; `times` says how many months of the year set that record.
    """
    standing: dict[str, dict[str, Any]] = {}
    for month in months:
        window = {m.label: stored.get(m.label, []) for m in month.history(12)}
        context = build_context(month, stored[month.label], window, {})
        for fact in headline_facts(context, limit=len(ANGLES)):
            if fact.reason == "record":
                times = standing.pop(fact.key, {}).get("times", 0) + 1
                standing[fact.key] = {"month": month.name, "title": fact.title, "value": fact.value,
                                      "times": times, "beaten": _times(times)}
    return list(standing.values())


def _times(count: int) -> str:
    """'' for a record set once; 'a new record three times this year' when set again and again."""
    if count < 2:
        return ""
    if count == 2:
        return _("a new record twice this year")
    return ngettext("a new record {n} time this year", "a new record {n} times this year", count).format(n=count)


def _totals(spec: tuple[str, str, str, str, str], context: dict[str, Any], months: list[str]) -> list[Total]:
    """The spec's total for each source of its kind that has the figure: two help desks are two
    totals, each named by its source, never one source's figure as all of them."""
    kind, key = spec[0], spec[1]
    sections = [s for s in context.get(kind, []) if s.ok and key in s.figures]
    totals = [(section, _total(spec, section.figures[key], months)) for section in sections]
    if len(sections) > 1:  # each by its title, or by its name where two share a title
        titles = [s.title for s in sections]
        called = {s.name: s.title if s.title and titles.count(s.title) == 1 else s.name for s in sections}
        return [replace(total, noun=f"{total.noun} ({called[section.name]})") for section, total in totals if total]
    return [total for _section, total in totals if total]


def _total(spec: tuple[str, str, str, str, str], figure: Figure, months: list[str]) -> Total | None:
    _kind, _key, noun, how, best = spec
    points = [(m, v) for m, v in zip(months, figure.series, strict=False) if v is not None]
    if not points:
        return None
    values = [v for _month, v in points]
    total = sum(values) if how == "sum" else sum(values) / len(values)
    month, value = (max if best == "higher" else min)(points, key=lambda p: p[1])
    said = BEST.get((best, figure.unit)) or BEST[(best, "count")]
    return Total(format_value(total, figure.unit), _(noun),
                 _(said).format(month=month, value=format_value(value, figure.unit)), len(points))
