"""Stored results of a month and its history -> what templates see.

Templates receive Figures (figures.py), not raw numbers, so no template does arithmetic and a
missing number reads "n/a", never a zero; the story (story.py) is chosen from those Figures.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from newsletter.compose import story
from newsletter.compose.figures import Figure, Section, Unit
from newsletter.compose.formatting import where
from newsletter.compose.markdown import render_markdown
from newsletter.model import SourceResult, kind_title
from newsletter.period import Month

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


def build_context(
    month: Month, results: list[SourceResult], history: dict[str, list[SourceResult]], extra: dict[str, Any]
) -> dict[str, Any]:
    """Everything a template may use. `history` maps earlier month labels to their stored results
    (any order, any gaps); `extra` holds workspace facts (company, team, sections, and
    `source_titles`: source name -> title, where a source without one is called by its kind)."""
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
