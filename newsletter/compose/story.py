"""The story behind the numbers: the hero's facts, chosen by rules and framed in words people use.

Which facts (each rule is tested on hand-made histories in tests/test_story.py):

1. Record: the month beats every known earlier month in the metric's good direction, with at
   least MIN_RECORD_MONTHS earlier months known ("Fastest first answer in a year"; "... yet" when
   the history read holds every month ever stored, `history_complete`).
2. Improvement, for a service level only (first answer, time to solve, satisfaction, service
   targets, uptime): better than the month before, or than the average of the earlier months (at
   least MIN_AVERAGE_MONTHS known), by the metric's threshold; never when worse than the month before.
3. Defaults: requests resolved, threats blocked, uptime, then first answer and phishing (then
   the quiet work's: backups made, devices compliant, test phish reported).

Streak, for backups (quiet_work.py): every backup made for STREAK_MIN_MONTHS months in a row or
more, this one included; ranked with the improvements, by its length.

A volume (requests, threats) is context, never a verdict: fewer threats is not IT doing worse.
Its note is a record, the most of any month this year, the year so far, or nothing; never a
decline, and its tone is always neutral. A service level that got worse than the month before
is no hero fact at all (stating it proudly would need spin): the next fact takes its place.
So no hero fact is ever "bad"; red is kept for the sections below.

Records come first, then improvements and streaks by size, then defaults in order; three at most, no
metric twice, at most two from one kind of source. Missing sources offer nothing, so the hero
shrinks rather than show a gap. A source that covers only some of the month's days offers only
its defaults, noted with how much it covers ("counted over 22 of 31 days"), with no comparison
and no framing. Each fact carries its framing (framing.py) and `why`: the rule that chose it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from newsletter.compose import quiet_work
from newsletter.compose.figures import Figure, Section, describe_change

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
    min_change: float | None  # improvement threshold (relative for durations, points for pct); None: a volume
    default_rank: int | None = None  # place among the defaults; None: never a default

    @property
    def volume(self) -> bool:
        """A count of what arrived or was done: context, never better or worse."""
        return self.min_change is None


ANGLES = (
    Angle("ticketing", "resolved", "requests resolved", "Most requests resolved", True, None, 0),
    Angle("mail_security", "blocked_total", "threats blocked", "Most threats blocked", True, None, 1),
    Angle("uptime", "overall_uptime_pct", "uptime", "Best uptime", True, 0.1, 2),
    Angle("ticketing", "first_response_median_s", "to a first answer", "Fastest first answer", False, 0.15, 3),
    Angle("mail_security", "phishing", "phishing emails stopped", "Most phishing stopped", True, None, 4),
    Angle("ticketing", "resolution_median_s", "to solve a typical request", "Quickest fixes", False, 0.15),
    Angle("ticketing", "csat_pct", "happy with the help they got", "Happiest colleagues", True, 2.0),
    Angle("ticketing", "sla_met_pct", "of service targets met", "Most service targets met", True, 2.0),
)
ANGLE_BY_KEY = {angle.key: angle for angle in ANGLES}
RANKS = {"record": 0, "streak": 1, "improvement": 1, "default": 2}
DEFAULTS = ("requests resolved, threats blocked, uptime, first answer, phishing, then backups made, devices compliant, "
            "test phish reported")


@dataclass(frozen=True)
class Fact:
    """One hero fact: a big number, what it counts, what it means, and why it was chosen."""

    key: str  # "helpdesk.resolved"
    kind: str
    reason: str  # "record" | "improvement" | "default"
    value: str  # "466"
    noun: str  # "requests resolved"
    title: str  # "Most requests resolved in a year" (records), else "466 requests resolved"
    note: str  # context: "the fastest in a year", "3 minutes faster than September", "4,102 since January"
    tone: str  # "good" | "neutral": how the template may colour the note; never "bad"
    framing: str = ""  # what the number means: "22 requests every working day" (framing.py)
    why: str = ""  # the rule that chose it, for the people who run the newsletter
    strength: float = 0.0

    @property
    def short(self) -> str:
        """For the subject line: '466 requests resolved'."""
        return f"{self.value} {self.noun}"

    @property
    def sentence(self) -> str:
        """'466 requests resolved, 4,102 since January.'"""
        return f"{self.short}, {self.note}." if self.note else f"{self.short}."

    @property
    def line(self) -> str:
        """The fact as one line of text: 'Fastest first answer in a year: 12 minutes, half of all
        requests had a first answer within 12 minutes.' or '466 requests resolved: 22 requests every
        working day (4,102 since January).'"""
        if self.reason == "record":
            return f"{self.title}: {self.value}" + (f", {self.framing}." if self.framing else ".")
        framed = f"{self.short}: {self.framing}" if self.framing else self.short
        return f"{framed} ({self.note})." if self.note else f"{framed}."


def headline_facts(context: dict[str, Any], limit: int = HEADLINE_FACTS) -> list[Fact]:
    """The facts the hero shows, chosen by the rules in this module's docstring."""
    candidates: list[Fact] = []
    for angle in (*ANGLES, *(Angle(*spec) for spec in quiet_work.angle_specs())):
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
    plain = {"key": key, "kind": angle.kind, "value": value, "noun": angle.noun, "title": f"{value} {angle.noun}"}
    if section.covered:  # part of a month against whole ones makes no record, no improvement, no comparison
        return [] if angle.default_rank is None else [Fact(
            **plain, reason="default", note=section.covered, tone="neutral", strength=-float(angle.default_rank),
            why=f"a default ({DEFAULTS}, in that order); the source covers part of the month, so nothing "
                "is compared")]
    framing = section.framings.get(angle.key, "")
    found = []
    record = _record(angle, figure, complete)
    if record:
        span, earlier = record
        superlative = angle.record.split(" ", 1)[0].lower()
        found.append(Fact(**{**plain, "title": f"{angle.record} {span}"}, reason="record",
                          note=f"the {superlative} {span}", tone="neutral" if angle.volume else "good",
                          framing=framing, strength=float(earlier),
                          why=f"a record: better than each of the {earlier} earlier months known"))
    months = quiet_work.streak_months(section) if quiet_work.STREAK_KEYS.get(angle.kind) == angle.key else 0
    if months >= quiet_work.STREAK_MIN_MONTHS:  # quiet_work.py: backups without a failure, month after month
        found.append(Fact(**plain, reason="streak", note=section.streak, tone="good", framing=framing,
                          strength=months / quiet_work.STREAK_MIN_MONTHS,
                          why=quiet_work.streak_why(months)))
    gain = None if angle.volume else _improvement(angle, figure)
    if gain is not None:
        found.append(Fact(**plain, reason="improvement", note=gain[1], tone="good", framing=framing,
                          strength=gain[0], why=f"an improvement: {gain[1]}, at least the "
                                                f"{_threshold(angle, figure)} this rule asks for"))
    if angle.default_rank is not None and (angle.volume or figure.verdict != "worse"):
        note, tone = _default_note(angle, section, figure)
        unless = "" if angle.volume or figure.previous is None else f", and not worse than {figure.previous_month}"
        found.append(Fact(**plain, reason="default", note=note, tone=tone, framing=framing,
                          strength=-float(angle.default_rank),
                          why=f"a default ({DEFAULTS}, in that order), when no record or improvement takes "
                              f"its place{unless}"))
    return found


def _record(angle: Angle, figure: Figure, complete: bool) -> tuple[str, int] | None:
    """(span words, earlier months) when the month beats every known earlier one."""
    earlier = figure.earlier
    better = (lambda a, b: a > b) if angle.higher else (lambda a, b: a < b)
    if len(earlier) >= MIN_RECORD_MONTHS and all(better(figure.value, v) for v in earlier):
        return ("yet" if complete else record_span(len(figure.history))), len(earlier)
    return None


def _default_note(angle: Angle, section: Section, figure: Figure) -> tuple[str, str]:
    """A volume's context (the year), uptime's streak, or a service level's gain; never a decline."""
    if angle.volume:
        return section.year_notes.get(angle.key, ""), "neutral"
    if angle.kind == "uptime" and section.streak:
        return section.streak, "good"
    if figure.verdict == "better":
        return figure.comparison, "good"
    return "", "neutral"


def _threshold(angle: Angle, figure: Figure) -> str:
    if figure.unit == "pct":
        return f"{angle.min_change:g} points"
    return f"{(angle.min_change or 0) * 100:.0f}%"


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
            lower_share = figure.unit == "pct" and not figure.higher_is_better  # quiet_work.better_by says why
            best = (strength, quiet_work.better_by(figure.value, reference, against) if lower_share
                    else describe_change(figure.value, reference, figure.unit, against))
    return best


def record_span(earlier_months: int) -> str:
    """'in a year' once the record stands against 11 or more earlier months, else 'in 7 months'."""
    return "in a year" if earlier_months >= 11 else f"in {earlier_months + 1} months"


def average_label(months: int) -> str:
    return "12-month average" if months >= 12 else f"average of the last {months} months"
