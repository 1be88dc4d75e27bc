"""The words beside the numbers in each section: one sentence per section (the full layout), the
few lines the short layout shows, and a 12-month trend in words (alt text and plain text).

A volume's change (requests, threats) is never stated as better or worse: it is context, and
only said when it says something (the year so far, the most of any month this year). A service
level's change is stated, in its colour: the one place red appears.
"""

from __future__ import annotations

from newsletter.compose import quiet_work
from newsletter.compose.figures import Figure, Line, Section, format_value
from newsletter.compose.story import ANGLE_BY_KEY, angle_of
from newsletter.i18n import gettext as _
from newsletter.i18n import ngettext

# the figures the short layout shows per kind of section, those known, in this order
SHORT = {
    "ticketing": ("resolved", "first_response_median_s", "csat_pct"),
    "mail_security": ("blocked_total", "phishing"),
    "uptime": ("overall_uptime_pct",),
    **quiet_work.SHORT,
}


def short_lines(section: Section) -> list[Line]:
    """The short layout's figures for `section`, each with its sentence; [] for other kinds."""
    if section.ok and quiet_work.no_test(section):  # nothing unknown: no test ran
        return [Line("simulations", "", "", quiet_work.no_test_words())]
    lines = []
    for key in SHORT.get(section.kind, ()) if section.ok else ():
        figure = section.figures.get(key)
        if figure is None:
            continue
        angle = ANGLE_BY_KEY.get(key)  # every short figure has one but the devices' patched share
        angle = angle_of(section, angle) if angle else None
        noun = angle.said(figure.value) if angle else _(quiet_work.NOUNS[key])
        if not figure.known:
            lines.append(Line(key, "", noun, "", label=figure.label, known=False))
            continue
        framing = section.framings.get(key, "")
        if section.covered:
            note, tone = section.covered, "neutral"
        elif angle and angle.volume:
            note, tone = section.year_notes.get(key, ""), "neutral"
        elif key == quiet_work.STREAK_KEYS.get(section.kind) and section.streak:  # the backups' streak
            note, tone = section.streak, "good"
        else:
            tone = {"better": "good", "worse": "bad"}.get(figure.verdict or "", "neutral")
            note = figure.comparison if tone != "neutral" else ""
        lines.append(Line(key, figure.display, noun, framing, note, tone))
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
    return _("the longest interruption was {time}, on {service}").format(time=longest.display,
                                                                          service=worst["name"])


def summarize(section: Section) -> str:
    """One plain-language sentence; a service level with its comparison, a volume without (the
    full layout's figures show it); '' when the section has nothing to say."""
    if not section.ok:
        return ""
    f = section.figures
    if section.kind == "ticketing":
        resolved = f["resolved"] if section.known("resolved") else None
        first = f["first_response_median_s"] if section.known("first_response_median_s") else None
        said = {"n": resolved.display if resolved else "", "time": first.display if first else "",
                "change": first.bracketed_change if first else ""}
        if resolved and first:
            return ngettext("We resolved {n} request, and the typical first answer came within {time}{change}.",
                            "We resolved {n} requests, and the typical first answer came within {time}{change}.",
                            round(resolved.value)).format(**said)
        if resolved:
            return ngettext("We resolved {n} request.", "We resolved {n} requests.", round(resolved.value)
                            ).format(**said)
        return _("The typical first answer came within {time}{change}.").format(**said) if first else ""
    if section.kind == "mail_security" and section.known("blocked_total"):
        blocked = f["blocked_total"]
        if section.known("phishing"):
            return ngettext("We stopped {n} threat before it reached anyone, {phishing} of them phishing emails.",
                            "We stopped {n} threats before they reached anyone, {phishing} of them phishing emails.",
                            round(blocked.value)).format(n=blocked.display, phishing=f["phishing"].display)
        return ngettext("We stopped {n} threat before it reached anyone.",
                        "We stopped {n} threats before they reached anyone.",
                        round(blocked.value)).format(n=blocked.display)
    if section.kind == "uptime" and section.known("overall_uptime_pct"):
        overall = f["overall_uptime_pct"]
        said = {"pct": overall.display, "change": overall.bracketed_change}
        longest = _longest(section)
        if longest:
            return _("The systems you rely on were available {pct} of the time{change}; {longest}.").format(
                **said, longest=longest)
        if all(s["figures"]["incidents"].value == 0 for s in section.items):
            return _("The systems you rely on were available {pct} of the time{change}, without a single "
                     "interruption.").format(**said)
        return _("The systems you rely on were available {pct} of the time{change}.").format(**said)
    return ""


def trend_words(label: str, figure: Figure, months: list[str]) -> str:
    """A 12-month trend in words, for alt text and the plain-text part: 'Requests resolved per
    month, November 2025 to October 2026: rising over the year; 466 in October against an
    average of 431; highest in September 2026 (545), lowest in December 2025 (305).'"""
    points = [(m, v) for m, v in zip(months, figure.series, strict=False) if v is not None]
    if len(points) < 2:
        return ""
    (first_month, _first), (last_month, last) = points[0], points[-1]
    top_month, top = max(points, key=lambda p: p[1])
    low_month, low = min(points, key=lambda p: p[1])
    earlier = [v for _month, v in points[:-1]]
    average = sum(earlier) / len(earlier)
    head, tail = points[: len(points) // 2], points[len(points) // 2:]
    drift = sum(v for _m, v in tail) / len(tail) - sum(v for _m, v in head) / len(head)
    direction = "steady" if abs(drift) < 0.2 * ((top - low) or 1.0) else ("rising" if drift > 0 else "falling")
    unit = figure.unit
    said = {"label": label, "first": first_month, "last": last_month, "now": format_value(last, unit),
            "month": last_month.split()[0], "average": format_value(average, unit), "top_month": top_month,
            "top": format_value(top, unit), "low_month": low_month, "low": format_value(low, unit)}
    trend = {"steady": _("{label} per month, {first} to {last}: steady over the year; {now} in {month} against an "
                         "average of {average}; highest in {top_month} ({top}), lowest in {low_month} ({low})."),
             "rising": _("{label} per month, {first} to {last}: rising over the year; {now} in {month} against an "
                         "average of {average}; highest in {top_month} ({top}), lowest in {low_month} ({low})."),
             "falling": _("{label} per month, {first} to {last}: falling over the year; {now} in {month} against "
                          "an average of {average}; highest in {top_month} ({top}), lowest in {low_month} ({low}).")}
    return trend[direction].format(**said)
