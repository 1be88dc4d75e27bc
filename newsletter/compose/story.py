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

from dataclasses import dataclass, replace
from typing import Any

from newsletter.compose import quiet_work
from newsletter.compose.figures import Figure, Section
from newsletter.i18n import N_, ngettext
from newsletter.i18n import gettext as _

MIN_RECORD_MONTHS = 5
MIN_AVERAGE_MONTHS = 3
HEADLINE_FACTS = 3
PER_KIND = 2


@dataclass(frozen=True)
class Angle:
    """How one metric can make the headline."""

    kind: str
    key: str
    noun: str  # follows the number: "466 requests resolved" (marked for the catalogs: `said` translates)
    record: str  # "Most requests resolved {span}": a record's title, {span} "in a year" (record_span)
    higher: bool  # which way a record points
    min_change: float | None  # improvement threshold (relative for durations, points for pct); None: a volume
    default_rank: int | None = None  # place among the defaults; None: never a default
    one: str = ""  # the noun after a count of one ("request resolved"); "" when `noun` follows no count
    best: str = N_("the best {span}")  # a record's note: "the most in a year"

    def said(self, value: float | None) -> str:
        """The noun in the current language, in the form the number before it asks for."""
        # the two forms are messages of their own (a count's noun has no plural of a single message)
        return _(self.one if self.one and value is not None and round(value) == 1 else self.noun)

    @property
    def volume(self) -> bool:
        """A count of what arrived or was done: context, never better or worse."""
        return self.min_change is None


ANGLES = (
    Angle("ticketing", "resolved", N_("requests resolved"), N_("Most requests resolved {span}"), True, None, 0,
          one=N_("request resolved"), best=N_("the most {span}")),
    Angle("mail_security", "blocked_total", N_("threats blocked"), N_("Most threats blocked {span}"), True, None, 1,
          one=N_("threat blocked"), best=N_("the most {span}")),
    Angle("uptime", "overall_uptime_pct", N_("uptime"), N_("Best uptime {span}"), True, 0.1, 2),
    Angle("ticketing", "first_response_median_s", N_("to a first answer"), N_("Fastest first answer {span}"),
          False, 0.15, 3, best=N_("the fastest {span}")),
    Angle("mail_security", "phishing", N_("phishing emails stopped"), N_("Most phishing stopped {span}"), True,
          None, 4, one=N_("phishing email stopped"), best=N_("the most {span}")),
    Angle("ticketing", "resolution_median_s", N_("to solve a typical request"), N_("Quickest fixes {span}"),
          False, 0.15, best=N_("the quickest {span}")),
    Angle("ticketing", "csat_pct", N_("happy with the help they got"), N_("Happiest colleagues {span}"), True, 2.0,
          best=N_("the happiest {span}")),
    Angle("ticketing", "sla_met_pct", N_("of service targets met"), N_("Most service targets met {span}"), True,
          2.0, best=N_("the most {span}")),
)
QUIET_ANGLES = tuple(Angle(*spec) for spec in quiet_work.ANGLE_SPECS)  # backups, devices, awareness
ANGLE_BY_KEY = {angle.key: angle for angle in (*ANGLES, *QUIET_ANGLES)}
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
            head = _("{head}: {said}").format(head=self.title, said=self.value)
            return f"{head}, {self.framing}." if self.framing else f"{head}."
        framed = _("{head}: {said}").format(head=self.short, said=self.framing) if self.framing else self.short
        return f"{framed} ({self.note})." if self.note else f"{framed}."


def headline_facts(context: dict[str, Any], limit: int = HEADLINE_FACTS) -> list[Fact]:
    """The facts the hero shows, chosen by the rules in this module's docstring."""
    candidates: list[Fact] = []
    for angle in (*ANGLES, *QUIET_ANGLES):
        for section in context.get(angle.kind, []):
            figure = section.figures.get(angle.key) if section.ok else None
            if figure is not None and figure.known:
                candidates.extend(_facts(angle_of(section, angle), section, figure,
                                         bool(context.get("history_complete"))))
    candidates.sort(key=lambda f: (RANKS[f.reason], -f.strength))
    chosen: list[Fact] = []
    for fact in candidates:
        if len(chosen) == limit:
            break
        if any(c.key == fact.key for c in chosen) or sum(c.kind == fact.kind for c in chosen) >= PER_KIND:
            continue
        chosen.append(fact)
    return chosen


def angle_of(section: Section, angle: Angle) -> Angle:
    """`angle` as `section` says it: a month of two phishing tests in test emails, not colleagues."""
    return replace(angle, **quiet_work.in_test_emails(section, angle.key))


def _facts(angle: Angle, section: Section, figure: Figure, complete: bool) -> list[Fact]:
    key, value, noun = f"{section.name}.{angle.key}", figure.display, angle.said(figure.value)
    plain = {"key": key, "kind": angle.kind, "value": value, "noun": noun, "title": f"{value} {noun}"}
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
        found.append(Fact(**{**plain, "title": _(angle.record).format(span=span)}, reason="record",
                          note=_(angle.best).format(span=span), tone="neutral" if angle.volume else "good",
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
        return (_("yet") if complete else record_span(len(figure.history))), len(earlier)
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
    references: list[tuple[float | None, str | int]] = [(figure.previous, figure.previous_month)]
    if len(known) >= MIN_AVERAGE_MONTHS:
        references.append((figure.average, min(len(known), 12)))
    for reference, against in references:
        if reference is None:
            continue
        gain = (figure.value - reference) * (1 if figure.higher_is_better else -1)
        scale = gain if figure.unit == "pct" else (gain / abs(reference) if reference else 0.0)
        strength = scale / angle.min_change
        if strength >= 1 and (best is None or strength > best[0]):
            best = (strength, figure.change_from(reference, against))
    return best


def record_span(earlier_months: int) -> str:
    """'in a year' once the record stands against 11 or more earlier months, else 'in 7 months'."""
    if earlier_months >= 11:
        return _("in a year")
    return ngettext("in {n} month", "in {n} months", earlier_months + 1).format(n=earlier_months + 1)
