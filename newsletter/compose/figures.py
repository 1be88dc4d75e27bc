"""Figure and Section: what templates see instead of raw numbers.

A Figure knows its value, last month's value, the months before (for records, averages and
charts), how to write itself and whether a change is better or worse, so no template does
arithmetic and a missing number reads "n/a", never a zero. A Section is one source's part of the
edition. Both are plain data: context.py builds them, story.py and framing.py read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from newsletter.compose import formatting
from newsletter.i18n import N_
from newsletter.i18n import gettext as _

Unit = Literal["count", "duration", "pct", "measure"]  # measure: not counted, with decimals (terabytes)


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    value: float | None
    previous: float | None
    unit: Unit
    higher_is_better: bool | None
    previous_month: str = ""
    history: tuple[float | None, ...] = ()  # earlier months, oldest first; the last is `previous`

    @property
    def earlier(self) -> list[float]:
        """The known values of the earlier months."""
        return [v for v in self.history if v is not None]

    @property
    def average(self) -> float | None:
        """Mean of the known earlier months (up to 12), None without any."""
        known = [v for v in self.history[-12:] if v is not None]
        return sum(known) / len(known) if known else None

    @property
    def series(self) -> list[float | None]:
        """History plus this month: what a trend chart draws."""
        return [*self.history, self.value]

    @property
    def known(self) -> bool:
        return self.value is not None

    @property
    def display(self) -> str:
        return format_value(self.value, self.unit)

    @property
    def previous_display(self) -> str:
        return format_value(self.previous, self.unit)

    @property
    def delta(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def verdict(self) -> str | None:
        """'better', 'worse', 'same', or None when unknown or when a change means neither."""
        if self.value is None or self.previous is None:
            return None
        # a percentage as shown: '98%' after '98%' is the same, whatever the decimals behind
        pct = self.unit == "pct"
        delta = formatting.shown_change(self.value, self.previous) if pct else self.value - self.previous
        if abs(delta) < (0.005 if self.unit == "pct" else 0.5) and self.unit != "measure":
            return "same"
        # a duration or a measure likewise: '12 minutes' after '12 minutes' is the same, not '2 seconds slower'
        if self.unit in ("duration", "measure") and self.display == self.previous_display:
            return "same"
        if self.higher_is_better is None:
            return None
        return "better" if (delta > 0) == self.higher_is_better else "worse"

    @property
    def comparison(self) -> str:
        """'3 minutes faster than September', '112 more than September', '' when unknown."""
        if self.verdict == "same":
            return _(CHANGES["month"]["same"]).format(month=self.previous_month)
        return describe_change(self.value, self.previous, self.unit, self.previous_month)

    @property
    def bracketed_change(self) -> str:
        """A service level's change worth saying in a sentence, in brackets: ' (3 minutes faster than
        September)' when better or worse, '' when the same or unknown."""
        return f" ({self.comparison})" if self.comparison and self.verdict in ("better", "worse") else ""

    def change_from(self, reference: float, against: str | int) -> str:
        """The value against `reference` (a month's, `against` its name; or an average, `against` the
        months averaged) in words, as an improvement is said: a share that is better lower (who
        clicked a test phish) and fell reads 'better than' (better_by), otherwise describe_change."""
        if self.unit == "pct" and self.higher_is_better is False and self.value is not None and self.value < reference:
            return better_by(self.value, reference, against)
        return describe_change(self.value, reference, self.unit, against)


# A change in words, by what it is measured against (a month; the 12-month average; the average of
# the last n months) and which way it went: whole phrases, since languages bend "than" by both.
CHANGES = {
    "month": {"slower": N_("{amount} slower than {month}"), "faster": N_("{amount} faster than {month}"),
              "same": N_("the same as {month}"), "up": N_("up {amount} from {month}"),
              "down": N_("down {amount} from {month}"), "more": N_("{amount} more than {month}"),
              "fewer": N_("{amount} fewer than {month}")},
    "year": {"slower": N_("{amount} slower than the 12-month average"),
             "faster": N_("{amount} faster than the 12-month average"),
             "same": N_("the same as the 12-month average"), "up": N_("up {amount} from the 12-month average"),
             "down": N_("down {amount} from the 12-month average"),
             "more": N_("{amount} more than the 12-month average"),
             "fewer": N_("{amount} fewer than the 12-month average")},
    "months": {"slower": N_("{amount} slower than the average of the last {n} months"),
               "faster": N_("{amount} faster than the average of the last {n} months"),
               "same": N_("the same as the average of the last {n} months"),
               "up": N_("up {amount} from the average of the last {n} months"),
               "down": N_("down {amount} from the average of the last {n} months"),
               "more": N_("{amount} more than the average of the last {n} months"),
               "fewer": N_("{amount} fewer than the average of the last {n} months")},
}


def describe_change(value: float | None, reference: float | None, unit: Unit, against: str | int) -> str:
    """`value` against `reference` in words: '3 minutes faster than September' (`against` a month's
    name), 'up 2 points from the 12-month average' (`against` the months averaged, an int). A
    percentage's change is the one between the two as they are shown (value's precision): '98%, down
    1 point', never '98%, down 1.08 points'."""
    if value is None or reference is None:
        return ""
    family = "month" if isinstance(against, str) else ("year" if against >= 12 else "months")
    words = {"month": against, "n": against}
    delta = value - reference
    if unit == "duration":
        said = CHANGES[family]["slower" if delta > 0 else "faster"]
        return _(said).format(amount=formatting.duration(delta), **words)
    if unit == "pct":
        delta, decimals = formatting.change_points(value, reference)
        if not delta:
            return _(CHANGES[family]["same"]).format(**words)
        points = formatting.points(delta, decimals)
        return _(CHANGES[family]["up" if delta > 0 else "down"]).format(amount=points, **words)
    if unit == "measure":  # between the two as shown: '31.4' after '30.9' is 0.5 more
        delta = round(formatting.shown_measure(value) - formatting.shown_measure(reference), 2)
        if not delta:
            return _(CHANGES[family]["same"]).format(**words)
        return _(CHANGES[family]["more" if delta > 0 else "fewer"]).format(amount=formatting.decimal(abs(delta)),
                                                                          **words)
    said = CHANGES[family]["more" if delta > 0 else "fewer"]
    return _(said).format(amount=formatting.number(abs(delta)), **words)


def better_by(value: float, reference: float, against: str | int) -> str:
    """A share that is better lower (who clicked a test phish), improved: '1.2 points better than
    September' (`against` a month's name), '2 points better than the 12-month average' (`against`
    the months averaged), never 'down', which a reader could take for a decline."""
    points = formatting.points(*formatting.change_points(value, reference))
    if isinstance(against, str):
        return _("%(points)s better than %(month)s") % {"points": points, "month": against}
    if against >= 12:
        return _("%(points)s better than the 12-month average") % {"points": points}
    return _("%(points)s better than the average of the last %(months)s months") % {
        "points": points, "months": formatting.number(against)}


def format_value(value: float | None, unit: Unit) -> str:
    if unit == "duration":
        return formatting.duration(value)
    if unit == "pct":
        return formatting.percent(value)
    if unit == "measure":
        return formatting.measure(value)
    return formatting.number(value)


@dataclass(frozen=True)
class Section:
    """One source's part of the newsletter. `name` is its id; `title` is what readers call it."""

    name: str
    kind: str
    status: str
    error: str | None
    figures: dict[str, Figure] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)  # services, categories, highlights
    summary: str = ""  # one plain-language sentence with its comparison (story.summarize)
    title: str = ""
    partial: bool = False  # not the whole month, or not every record (warnings say why); and when days
    coverage: str = ""  # are missing: "These numbers cover 22 of the 31 days of October.", for readers,
    covered: str = ""  # and "counted over 22 of 31 days", beside a number (the hero)
    warnings: list[str] = field(default_factory=list)  # why, for the people who run the newsletter
    framings: dict[str, str] = field(default_factory=dict)  # key -> what the figure means (framing.py)
    year_notes: dict[str, str] = field(default_factory=dict)  # a volume's year: "4,102 since January"
    streak: str = ""  # "Email: 97 days without an interruption" (uptime)
    lines: list[Line] = field(default_factory=list)  # the short layout: the few figures it shows

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def value_of(self, key: str) -> float | None:
        """The value of the figure `key`; None when unknown or when the section has no such figure."""
        figure = self.figures.get(key)
        return figure.value if figure is not None else None

    def known(self, key: str) -> bool:
        """Whether the section has the figure `key` and knows its value this month."""
        return self.value_of(key) is not None


@dataclass(frozen=True)
class Line:
    """One figure as the short layout shows it: '466 requests resolved', its framing, and a note
    (a service level's change, coloured by `tone`; a volume's year, never coloured)."""

    key: str
    value: str  # "466"
    noun: str  # "requests resolved"
    framing: str  # "22 requests every working day"
    note: str = ""  # "3 minutes faster than September", "4,102 since January"
    tone: str = "neutral"  # "good" | "bad" | "neutral"
    label: str = ""  # "Requests resolved": what an unknown figure is called
    known: bool = True  # False: the source said nothing of it this month (never read as zero)

    @property
    def said(self) -> str:
        """The framing with its note: '22 requests every working day (4,102 since January)'."""
        if self.framing and self.note:
            return f"{self.framing} ({self.note})"
        return self.framing or self.note

    @property
    def sentence(self) -> str:
        """What `said` says, as a sentence: capital first, full stop last; '' when nothing."""
        return f"{formatting.upper_first(self.said)}." if self.said else ""

    @property
    def text(self) -> str:
        """The line in plain text: '466 requests resolved: 22 requests every working day.'"""
        if not self.known:
            return _("{label}: not available this month.").format(label=self.label)
        if not self.value:
            return self.sentence
        head = f"{self.value} {self.noun}"
        return _("{head}: {said}.").format(head=head, said=self.said) if self.said else f"{head}."
