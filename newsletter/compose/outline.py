"""The draft as data: what `newsletter preview --format json` prints, for scripts and tests.

The same story the templates show, as plain JSON values: the subject and preheader as rendered,
the lead story, the hero facts with why each was chosen, and every section with its figures (raw
value, as shown, its framing and comparison). Raw numbers are the stored ones; `display` is what
a reader sees.
"""

from __future__ import annotations

from typing import Any

from newsletter.compose.figures import Figure, Section
from newsletter.compose.quiet_work import KINDS


def outline(context: dict[str, Any]) -> dict[str, Any]:
    """The story of one rendered edition; `context` is what its templates saw (subject included)."""
    return {
        "month": context["month"]["label"],
        "subject": context.get("subject", ""),
        "preheader": context.get("preheader", ""),
        "lead": _lead(context.get("lead")),
        "hero": [_fact(fact) for fact in context.get("headline", [])],
        "sections": [_section(section) for kind in ("ticketing", "mail_security", "uptime", "custom", *KINDS)
                     for section in context.get(kind, [])],
    }


def _lead(lead: dict[str, Any] | None) -> dict[str, Any] | None:
    if not lead:
        return None
    photo = lead.get("photo")
    return {"title": lead["title"], "text": lead["text"],
            "photo": {"file": photo.file, "alt": photo.alt, "width": photo.width, "height": photo.height}
            if photo else None}


def _fact(fact: Any) -> dict[str, Any]:
    return {"key": fact.key, "kind": fact.kind, "reason": fact.reason, "why": fact.why, "value": fact.value,
            "noun": fact.noun, "title": fact.title, "framing": fact.framing, "note": fact.note, "tone": fact.tone}


def _section(section: Section) -> dict[str, Any]:
    shown = {line.key for line in section.lines}
    return {
        "name": section.name, "kind": section.kind, "title": section.title, "status": section.status,
        "error": section.error, "partial": section.partial, "coverage": section.coverage,
        "summary": section.summary, "streak": section.streak,
        "lines": [{"key": line.key, "value": line.value, "noun": line.noun, "framing": line.framing,
                   "note": line.note, "tone": line.tone} for line in section.lines],
        "figures": [_figure(figure, section, key in shown) for key, figure in section.figures.items()],
        "services": [{"name": item["name"], "status": item["status"],
                      "figures": [_figure(f, section, False) for f in item["figures"].values()]}
                     for item in section.items if "figures" in item],
        "top_categories": [[item["name"], item["count"]] for item in section.items if "count" in item],
        "jobs": [_row(item) for item in section.items] if section.kind == "backup" else [],
        "by_os": [_row(item) for item in section.items] if section.kind == "devices" else [],
    }


def _row(item: dict[str, Any]) -> dict[str, Any]:
    """A backup job's or an operating system's row as stored (BackupJob, DeviceGroup)."""
    return {key: _plain(value) if isinstance(value, float) else value for key, value in item.items()}


def _figure(figure: Figure, section: Section, shown: bool) -> dict[str, Any]:
    """`shown`: among the few figures the short layout shows for its section."""
    return {"key": figure.key, "label": figure.label, "value": _plain(figure.value), "display": figure.display,
            "unit": figure.unit, "previous": _plain(figure.previous), "comparison": figure.comparison,
            "verdict": figure.verdict, "framing": section.framings.get(figure.key, ""), "shown": shown}


def _plain(value: float | None) -> float | int | None:
    """A whole number as an int (466, not 466.0), for scripts that compare."""
    return int(value) if isinstance(value, float) and value.is_integer() else value
