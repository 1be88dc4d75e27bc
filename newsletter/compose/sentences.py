"""The words beside the numbers in each section: one sentence per section (the full layout), the
few lines the short layout shows, and a 12-month trend in words (alt text and plain text).

A volume's change (requests, threats) is never stated as better or worse: it is context, and
only said when it says something (the year so far, the most of any month this year). A service
level's change is stated, in its colour: the one place red appears.
"""

from __future__ import annotations

from newsletter.compose.figures import Figure, Line, Section, format_value
from newsletter.compose.story import ANGLE_BY_KEY

# the figures the short layout shows per kind of section, those known, in this order
SHORT = {
    "ticketing": ("resolved", "first_response_median_s", "csat_pct"),
    "mail_security": ("blocked_total", "phishing"),
    "uptime": ("overall_uptime_pct",),
}


def short_lines(section: Section) -> list[Line]:
    """The short layout's figures for `section`, each with its sentence; [] for other kinds."""
    lines = []
    for key in SHORT.get(section.kind, ()) if section.ok else ():
        figure = section.figures.get(key)
        if figure is None:
            continue
        angle = ANGLE_BY_KEY[key]
        if not figure.known:
            lines.append(Line(key, "", angle.noun, "", label=figure.label, known=False))
            continue
        framing = section.framings.get(key, "")
        if section.covered:
            note, tone = section.covered, "neutral"
        elif angle.volume:
            note, tone = section.year_notes.get(key, ""), "neutral"
        else:
            tone = {"better": "good", "worse": "bad"}.get(figure.verdict or "", "neutral")
            note = figure.comparison if tone != "neutral" else ""
        lines.append(Line(key, figure.display, angle.noun, framing, note, tone))
    if section.kind == "uptime" and any(line.known for line in lines):
        lines.extend(Line(key, "", "", said) for key, said in (("longest", _longest(section)),
                                                                ("streak", section.streak)) if said)
    return lines


def _longest(section: Section) -> str:
    """'the longest interruption was 14 minutes, on VPN'; '' without one."""
    worst = max(section.items, key=lambda s: s["figures"]["longest_outage_s"].value or 0, default=None)
    longest = worst["figures"]["longest_outage_s"] if worst else None
    if longest is None or not longest.value:
        return ""
    return f"the longest interruption was {longest.display}, on {worst['name']}"


def summarize(section: Section) -> str:
    """One plain-language sentence; a service level with its comparison, a volume without (the
    full layout's figures show it); '' when the section has nothing to say."""
    if not section.ok:
        return ""
    f = section.figures
    if section.kind == "ticketing":
        parts = []
        if _known(f, "resolved"):
            parts.append(f"We resolved {f['resolved'].display} requests")
        if _known(f, "first_response_median_s"):
            first = f["first_response_median_s"]
            lead = "and the" if parts else "The"
            parts.append(f"{lead} typical first answer came within {first.display}{_paren(first)}")
        return (", ".join(parts) + ".") if parts else ""
    if section.kind == "mail_security" and _known(f, "blocked_total"):
        text = f"We stopped {f['blocked_total'].display} threats before they reached anyone"
        if _known(f, "phishing"):
            text += f", {f['phishing'].display} of them phishing emails"
        return text + "."
    if section.kind == "uptime" and _known(f, "overall_uptime_pct"):
        overall = f["overall_uptime_pct"]
        text = f"The systems you rely on were available {overall.display} of the time{_paren(overall)}"
        longest = _longest(section)
        if longest:
            text += f"; {longest}"
        elif all(s["figures"]["incidents"].value == 0 for s in section.items):
            text += ", without a single interruption"
        return text + "."
    return ""


def _known(figures: dict[str, Figure], key: str) -> bool:
    return key in figures and figures[key].known


def _paren(figure: Figure) -> str:
    """A service level's change worth saying: better or worse, not 'the same'."""
    return f" ({figure.comparison})" if figure.comparison and figure.verdict in ("better", "worse") else ""


def trend_words(label: str, figure: Figure, months: list[str]) -> str:
    """A 12-month trend in words, for alt text and the plain-text part: 'Requests resolved per
    month, November 2025 to October 2026: rising over the year; 466 in October against an
    average of 431; highest in September 2026 (545), lowest in December 2025 (305).'"""
    points = [(m, v) for m, v in zip(months, figure.series, strict=False) if v is not None]
    if len(points) < 2:
        return ""
    (first_month, _), (last_month, last) = points[0], points[-1]
    top_month, top = max(points, key=lambda p: p[1])
    low_month, low = min(points, key=lambda p: p[1])
    earlier = [v for _, v in points[:-1]]
    average = sum(earlier) / len(earlier)
    head, tail = points[: len(points) // 2], points[len(points) // 2:]
    drift = sum(v for _, v in tail) / len(tail) - sum(v for _, v in head) / len(head)
    direction = "steady" if abs(drift) < 0.2 * ((top - low) or 1.0) else ("rising" if drift > 0 else "falling")
    unit = figure.unit
    return (f"{label} per month, {first_month} to {last_month}: {direction} over the year; "
            f"{format_value(last, unit)} in {last_month.split()[0]} against an average of "
            f"{format_value(average, unit)}; highest in {top_month} ({format_value(top, unit)}), "
            f"lowest in {low_month} ({format_value(low, unit)}).")
