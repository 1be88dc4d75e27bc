"""The story behind the numbers: the three headline facts and one plain sentence per section.

Headline rules (each is tested on hand-made histories in tests/test_story.py):

1. Record: the month beats every known earlier month in the metric's good direction, with at
   least MIN_RECORD_MONTHS earlier months known ("Fastest first answer in a year"; "... yet" when
   the history read holds every month ever stored, `history_complete`).
2. Improvement: better than the month before, or than the average of the earlier months (at
   least MIN_AVERAGE_MONTHS known), by the metric's threshold; never when the month is worse
   than the one before.
3. Defaults: requests resolved, threats blocked, uptime (then first answer, phishing), stated
   plainly with their honest comparison: a worse month reads as worse, never as a win.

Records come first, then improvements by size, then defaults in order; three at most, no
metric twice, at most two from one kind of source. Missing sources offer nothing, so the hero
shrinks rather than show a gap. A source that covers only some of the month's days offers only
its defaults, noted with how much it covers ("counted over 22 of 31 days") instead of a comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from newsletter.compose.figures import Figure, Section, describe_change, format_value

MIN_RECORD_MONTHS = 5
MIN_AVERAGE_MONTHS = 3
HEADLINE_FACTS = 3
PER_KIND = 2


@dataclass(frozen=True)
class Angle:
    """How one metric can make the headline."""

    kind: str
    key: str
    noun: str  # follows the number: "466 requests resolved"
    record: str  # "Most requests resolved"
    higher: bool  # which way a record points
    min_change: float | None  # improvement threshold: relative for counts and durations, points for pct
    default_rank: int | None = None  # place among the defaults; None: never a default


ANGLES = (
    Angle("ticketing", "resolved", "requests resolved", "Most requests resolved", True, 0.15, 0),
    Angle("mail_security", "blocked_total", "threats blocked", "Most threats blocked", True, None, 1),
    Angle("uptime", "overall_uptime_pct", "uptime", "Best uptime", True, 0.1, 2),
    Angle("ticketing", "first_response_median_s", "to a first answer", "Fastest first answer", False, 0.15, 3),
    Angle("mail_security", "phishing", "phishing emails stopped", "Most phishing stopped", True, None, 4),
    Angle("ticketing", "resolution_median_s", "to solve a typical request", "Quickest fixes", False, 0.15),
    Angle("ticketing", "csat_pct", "happy with the help they got", "Happiest colleagues", True, 2.0),
    Angle("ticketing", "sla_met_pct", "of service targets met", "Most service targets met", True, 2.0),
)
RANKS = {"record": 0, "improvement": 1, "default": 2}


@dataclass(frozen=True)
class Fact:
    """One headline fact: a big number, what it counts, and how it compares."""

    key: str  # "helpdesk.resolved"
    kind: str
    reason: str  # "record" | "improvement" | "default"
    value: str  # "466"
    noun: str  # "requests resolved"
    title: str  # "Most requests resolved in a year" (records), else "466 requests resolved"
    note: str  # the comparison: "the most in 12 months", "3 minutes faster than September"
    tone: str  # "good" | "bad" | "neutral": how the template may colour the note
    strength: float = 0.0

    @property
    def short(self) -> str:
        """For the subject line: '466 requests resolved'."""
        return f"{self.value} {self.noun}"

    @property
    def sentence(self) -> str:
        """'466 requests resolved, 79 fewer than September.'"""
        return f"{self.short}, {self.note}." if self.note else f"{self.short}."

    @property
    def line(self) -> str:
        """The fact as one line of text: 'Fastest first answer in a year: 12 minutes.' or the sentence."""
        return f"{self.title}: {self.value}." if self.reason == "record" else self.sentence


def headline_facts(context: dict[str, Any], limit: int = HEADLINE_FACTS) -> list[Fact]:
    """The facts the hero shows, chosen by the rules in this module's docstring."""
    candidates: list[Fact] = []
    for angle in ANGLES:
        for section in context.get(angle.kind, []):
            figure = section.figures.get(angle.key) if section.ok else None
            if figure is not None and figure.known:
                candidates.extend(_facts(angle, section, figure, bool(context.get("history_complete"))))
    candidates.sort(key=lambda f: (RANKS[f.reason], -f.strength))
    chosen: list[Fact] = []
    for fact in candidates:
        if len(chosen) == limit:
            break
        if any(c.key == fact.key for c in chosen) or sum(c.kind == fact.kind for c in chosen) >= PER_KIND:
            continue
        chosen.append(fact)
    return chosen


def _facts(angle: Angle, section: Section, figure: Figure, complete: bool) -> list[Fact]:
    key, value = f"{section.name}.{angle.key}", figure.display
    if section.covered:  # part of a month against whole ones makes no record, no improvement, no comparison
        return [] if angle.default_rank is None else [
            Fact(key, angle.kind, "default", value, angle.noun, f"{value} {angle.noun}", section.covered, "neutral",
                 -float(angle.default_rank))]
    found = []
    earlier = figure.earlier
    better = (lambda a, b: a > b) if angle.higher else (lambda a, b: a < b)
    if len(earlier) >= MIN_RECORD_MONTHS and all(better(figure.value, v) for v in earlier):
        span = "yet" if complete else record_span(len(figure.history))
        superlative = angle.record.split(" ", 1)[0].lower()
        found.append(Fact(key, angle.kind, "record", value, angle.noun, f"{angle.record} {span}",
                          f"the {superlative} {span}", "good", float(len(earlier))))
    gain = _improvement(angle, figure)
    if gain is not None:
        found.append(Fact(key, angle.kind, "improvement", value, angle.noun, f"{value} {angle.noun}",
                          gain[1], "good", gain[0]))
    if angle.default_rank is not None:
        tone = {"better": "good", "worse": "bad"}.get(figure.verdict or "", "neutral")
        found.append(Fact(key, angle.kind, "default", value, angle.noun, f"{value} {angle.noun}",
                          figure.comparison, tone, -float(angle.default_rank)))
    return found


def _improvement(angle: Angle, figure: Figure) -> tuple[float, str] | None:
    """(strength, note) when the month improved by the angle's threshold; never for a worse month."""
    if angle.min_change is None or figure.higher_is_better is None or figure.verdict == "worse":
        return None
    best: tuple[float, str] | None = None
    known = figure.earlier
    references = [(figure.previous, f"than {figure.previous_month}")]
    if len(known) >= MIN_AVERAGE_MONTHS:
        references.append((figure.average, f"than the {average_label(len(known))}"))
    for reference, against in references:
        if reference is None:
            continue
        gain = (figure.value - reference) * (1 if figure.higher_is_better else -1)
        scale = gain if figure.unit == "pct" else (gain / abs(reference) if reference else 0.0)
        strength = scale / angle.min_change
        if strength >= 1 and (best is None or strength > best[0]):
            best = (strength, describe_change(figure.value, reference, figure.unit, against))
    return best


def record_span(earlier_months: int) -> str:
    """'in a year' once the record stands against 11 or more earlier months, else 'in 7 months'."""
    return "in a year" if earlier_months >= 11 else f"in {earlier_months + 1} months"


def average_label(months: int) -> str:
    return "12-month average" if months >= 12 else f"average of the last {months} months"


# one sentence per section ------------------------------------------------------------------------
def summarize(section: Section) -> str:
    """One plain-language sentence with its comparison; '' when the section has nothing to say."""
    if not section.ok:
        return ""
    f = section.figures
    if section.kind == "ticketing":
        parts = []
        if _known(f, "resolved"):
            parts.append(f"We resolved {f['resolved'].display} requests{_paren(f['resolved'])}")
        if _known(f, "first_response_median_s"):
            first = f["first_response_median_s"]
            lead = "and the" if parts else "The"
            parts.append(f"{lead} typical first answer came within {first.display}{_paren(first)}")
        return (", ".join(parts) + ".") if parts else ""
    if section.kind == "mail_security" and _known(f, "blocked_total"):
        text = f"We stopped {f['blocked_total'].display} threats before they reached anyone{_paren(f['blocked_total'])}"
        if _known(f, "phishing"):
            text += f", {f['phishing'].display} of them phishing emails"
        return text + "."
    if section.kind == "uptime" and _known(f, "overall_uptime_pct"):
        overall = f["overall_uptime_pct"]
        text = f"The systems you rely on were available {overall.display} of the time{_paren(overall)}"
        worst = max(section.items, key=lambda s: s["figures"]["longest_outage_s"].value or 0, default=None)
        longest = worst["figures"]["longest_outage_s"] if worst else None
        if longest is not None and longest.value:
            text += f"; the longest interruption was {longest.display}, on {worst['name']}"
        elif all(s["figures"]["incidents"].value == 0 for s in section.items):
            text += ", without a single interruption"
        return text + "."
    return ""


def _known(figures: dict[str, Figure], key: str) -> bool:
    return key in figures and figures[key].known


def _paren(figure: Figure) -> str:
    return f" ({figure.comparison})" if figure.comparison else ""


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
