"""Stored results of a month and its history -> what templates see.

Templates receive Figures (figures.py), not raw numbers, so no template does arithmetic and a
missing number reads "n/a", never a zero; the story (story.py) is chosen from those Figures.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from newsletter.compose import framing, lead, quiet_work, sentences, story
from newsletter.compose.figures import Figure, Section, Unit
from newsletter.i18n import N_
from newsletter.i18n import gettext as _
from newsletter.model import SourceResult, kind_title
from newsletter.period import Month
from newsletter.sections import DEFAULT_SECTIONS

log = logging.getLogger(__name__)

# key, label (marked for the catalogs, translated when the Figure is made), unit, higher_is_better (None: a
# change is neither good nor bad)
TICKET_FIGURES = (
    ("resolved", N_("Requests resolved"), "count", None),  # a volume: context, never better or worse
    ("opened", N_("New requests"), "count", None),
    ("backlog_end", N_("Still open at month's end"), "count", False),
    ("first_response_median_s", N_("Typical wait for a first answer"), "duration", False),
    ("first_response_p90_s", N_("9 in 10 got a first answer within"), "duration", False),
    ("resolution_median_s", N_("Typical time to solve a request"), "duration", False),
    ("resolution_p90_s", N_("9 in 10 requests solved within"), "duration", False),
    ("sla_met_pct", N_("Service targets met"), "pct", True),
    ("csat_pct", N_("Happy with the help they got"), "pct", True),
    ("csat_responses", N_("Ratings received"), "count", None),
)
MAIL_FIGURES = (
    ("blocked_total", N_("Threats blocked"), "count", None),
    ("spam", N_("Spam emails stopped"), "count", None),
    ("phishing", N_("Phishing emails stopped"), "count", None),
    ("malware", N_("Emails with malware stopped"), "count", None),
    ("scanned", N_("Emails checked"), "count", None),
)
SERVICE_FIGURES = (
    ("uptime_pct", N_("Available"), "pct", True),
    ("downtime_s", N_("Downtime"), "duration", False),
    ("incidents", N_("Interruptions"), "count", False),
    ("longest_outage_s", N_("Longest interruption"), "duration", False),
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
    by_kind: dict[str, list[Section]] = {"ticketing": [], "mail_security": [], "uptime": [], "custom": [],
                                         **{kind: [] for kind in quiet_work.KINDS}}
    titles = extra.get("source_titles") or {}
    failed: list[Section] = []
    written: dict[str, list[Any]] = {"markdown_refused": [], "markdown_pictures": []}
    for result in results:
        if result.kind == "highlights":
            continue
        older = [past[label].get(result.name) for label in labels]
        section = replace(_section(result, older, prev_name, month),
                          title=_(titles.get(result.name) or kind_title(result.kind)))
        by_kind.setdefault(result.kind, []).append(_told(section, month))
        if result.status == "failed":
            failed.append(section)
    custom = _metrics(by_kind["custom"], month)
    lead_story, highlights = _highlights(results, written, "lead" in (extra.get("sections") or DEFAULT_SECTIONS))
    context = {
        "month": {"label": month.label, "name": month.name, "short_name": month.short_name, "days": month.days,
                  "previous_name": month.previous().name, "previous_short_name": prev_name,
                  "history": [{"label": m.label, "name": m.name, "short_name": m.short_name}
                              for m in month.history(len(labels))]},
        "ticketing": by_kind["ticketing"],
        "mail_security": by_kind["mail_security"],
        "uptime": by_kind["uptime"],
        "custom": by_kind["custom"],
        **{kind: by_kind[kind] for kind in quiet_work.KINDS},
        "metrics": custom,
        "lead": lead_story,
        "highlights": highlights,
        "failed_sources": failed,  # Sections: `.title` is what to call them
        **written,
        **extra,
    }
    context["headline"] = story.headline_facts(context)
    return context


def _metrics(sections: list[Section], month: Month) -> dict[str, Figure]:
    """`metrics.<name>` of every custom source; a name two sources use holds one number, so it is
    said (check refuses it) rather than one source's number shown as if it were the only one."""
    metrics: dict[str, Figure] = {}
    owner: dict[str, str] = {}
    for section in sections:
        for key, found in section.figures.items():
            if key in owner:
                log.warning("warning: %s: metrics.%s is given by both %s and %s; templates show %s's: rename "
                            "it in one of the files", month, key, owner[key], section.name, section.name)
            metrics[key], owner[key] = found, section.name
    return metrics


def _told(section: Section, month: Month) -> Section:
    """The section with its words: framings, a volume's year, uptime's streak, its sentence and the
    short layout's lines (framing.py, sentences.py)."""
    if not section.ok:
        return section
    if section.kind in quiet_work.KINDS:
        section = quiet_work.told(section, month)
    else:
        year_notes = {key: note for key, figure in section.figures.items()
                      if figure.unit == "count" and figure.higher_is_better is None and not section.covered
                      and (note := framing.year_note(figure, month))}
        found = framing.streak(section, month) if section.kind == "uptime" and not section.covered else None
        section = replace(section, framings=framing.framings(section, month), year_notes=year_notes,
                          streak=framing.streak_words(found) if found else "")
        section = replace(section, summary=sentences.summarize(section))
    return replace(section, lines=sentences.short_lines(section))


def _highlights(results: list[SourceResult], written: dict[str, list[Any]],
                with_lead: bool) -> tuple[dict[str, Any] | None, dict[str, list[dict[str, Any]]]]:
    """(the lead story or None, the other highlights by section), in the order they were written."""
    items = [(result, item) for result in results if result.kind == "highlights" and result.status == "ok"
             for item in result.metrics.get("items", [])]
    chosen = lead.choose(items) if with_lead else None
    highlights: dict[str, list[dict[str, Any]]] = {}
    lead_story = None
    for number, (result, item) in enumerate(items):
        if number == chosen:
            lead_story = lead.render_lead(result, item, written)
        else:
            highlights.setdefault(item["section"], []).append(lead.render_highlight(result, item, written))
    return lead_story, highlights


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
        said = {"n": f"{days:.0f}", "days": month.days, "month": month.short_name}
        return {"coverage": _("These numbers cover {n} of the {days} days of {month}.").format(**said),
                "covered": _("counted over {n} of {days} days").format(**said)}
    return {}


def _section(result: SourceResult, older: list[SourceResult | None], prev_name: str, month: Month) -> Section:
    """One source's figures, each with its values in the earlier months (None where unknown)."""
    section = Section(result.name, result.kind, result.status, result.error)
    if result.status != "ok":
        return section
    if result.partial:
        section = replace(section, partial=True, warnings=list(result.warnings), **_coverage(result, month))
    now = result.metrics
    # an earlier month measured in part is unknown here: summed "since January", beaten as a peak or
    # compared with, it would stand for the whole month
    past = [r.metrics if r and not r.partial else {} for r in older]

    def figure(key: str, label: str, unit: Unit, better: bool | None, pick=lambda m, k: m.get(k)) -> Figure:
        history = tuple(pick(m, key) for m in past)
        previous = history[-1] if history else None
        return Figure(key, _(label), pick(now, key), previous, unit, better, prev_name, history)

    specs = {"ticketing": TICKET_FIGURES, "mail_security": MAIL_FIGURES}.get(result.kind, ())
    for key, label, unit, better in specs:
        section.figures[key] = figure(key, label, unit, better)
    if result.kind == "ticketing":
        section.items.extend({"name": n, "count": c} for n, c in now.get("top_categories") or [])
    if result.kind == "uptime":
        section.figures["overall_uptime_pct"] = figure("overall_uptime_pct", N_("Average availability"), "pct", True)
        for service in now.get("services", []):
            name = service["name"]

            def pick(metrics: dict[str, Any], key: str, name: str = name, service: dict[str, Any] = service) -> Any:
                if metrics is now:
                    return service.get(key)
                # an earlier month's by name, when one service has it in both months: two monitors both
                # called "Email" cannot be told apart, so neither gets a history (and a comparison) of the other
                same = [s for s in metrics.get("services", []) if s["name"] == name]
                alone = len(same) == 1 and sum(s["name"] == name for s in now.get("services", [])) == 1
                return same[0].get(key) if alone else None

            # "monitored", or "paused" / "not_monitored": shown as words, never as a percentage
            section.items.append({"name": name, "status": service.get("status") or "monitored", "figures": {
                key: figure(key, label, unit, better, pick) for key, label, unit, better in SERVICE_FIGURES}})
    if result.kind in quiet_work.KINDS:
        quiet_work.add_figures(section, now, past, prev_name)
    if result.kind == "custom":
        for name, spec in (now.get("values") or {}).items():

            def custom(metrics: dict[str, Any], key: str) -> Any:
                return ((metrics.get("values") or {}).get(key) or {}).get("value")

            better = {"higher": True, "lower": False}.get(spec.get("better") or "")
            found = figure(name, spec.get("label") or name, spec.get("unit") or "count", better, custom)
            if found.unit == "count" and any(not float(v).is_integer() for v in found.series if v is not None):
                found = replace(found, unit="measure")  # 6.2 counted by hand is not '6': shown and compared as such
            section.figures[name] = found
    return section
