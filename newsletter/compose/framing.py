"""Facts in words people use: each figure framed in terms a colleague can picture.

Every framing is computed from the data alone (docs/story.md shows each with an example):

- Rate. Requests per working day: the month's count over its working days, Monday to Friday
  (public holidays are not known, so a month with some reads a little low): "22 requests every
  working day". Mail arrives day and night, so a mail count is the interval between two, the
  month's seconds over the count: "a phishing email stopped every hour". An interval is said in
  the largest unit (day, hour, minute, second) that says it within a tenth: 63 minutes is "every
  hour", 100 minutes stays "every 100 minutes" (not "every 2 hours").
- Time. An availability percentage as the interruption it leaves: (100 - pct) % of the month:
  "17 minutes of interruption in the whole month"; over several systems (the percentage is their
  mean) "an average of 17 minutes of interruption per system in the whole month".
- Share. A percentage of people or requests as "N in M" with M one of 2, 3, 4, 5, 10, 20 when that
  is within half a point; otherwise "more than N in 10" (or in 20): "85 colleagues rated their
  help; 19 in 20 were happy".
- Median. What "typical" means: "half of all requests had a first answer within 12 minutes; 9 in
  10 within 37 minutes" (the 90th percentile, when known).
- Streak. Per service, the months in a row, this one included, with no interruption at all,
  counted in days (a lower bound: the last interruption came before them): "Email: 97 days
  without an interruption". From STREAK_MIN_MONTHS months on; a month unknown or not monitored
  ends it.
- Year so far. A count's total since January, when every month of the year is known:
  "4,102 since January"; or, once PEAK_MIN_MONTHS earlier months of the year are known and all
  lower, "more than any other month this year".

Records and improvements are judged in story.py, which uses these framings for the hero.
A part of a month gets no framing: a rate or a total over only some days would mislead.
"""

from __future__ import annotations

import math
from datetime import timedelta

from newsletter.compose import formatting
from newsletter.compose.figures import Figure, Section, format_value
from newsletter.i18n import N_, N_plural, ngettext
from newsletter.i18n import gettext as _
from newsletter.period import Month

STREAK_MIN_MONTHS = 2
PEAK_MIN_MONTHS = 3
SNAP = 0.1  # an interval within 10 % of the next unit is said in that unit
# "every minute", "every 26 seconds": a whole phrase per unit, since languages bend "every" by the unit
_UNITS = ((86400, N_plural("every day", "every {n} days")), (3600, N_plural("every hour", "every {n} hours")),
          (60, N_plural("every minute", "every {n} minutes")), (1, N_plural("every second", "every {n} seconds")))
_DENOMINATORS = (2, 3, 4, 5, 10, 20)
# mail counts, by key: one of them stopped at an interval ("a threat stopped every minute"), and a
# flood of them ("3 threats stopped every second")
MAIL_ITEMS = {
    "blocked_total": (N_("a threat stopped {every}"),
                      N_plural("{n} threat stopped every second", "{n} threats stopped every second")),
    "spam": (N_("a spam email stopped {every}"),
             N_plural("{n} spam email stopped every second", "{n} spam emails stopped every second")),
    "phishing": (N_("a phishing email stopped {every}"),
                 N_plural("{n} phishing email stopped every second", "{n} phishing emails stopped every second")),
    "malware": (N_("an email with malware stopped {every}"),
                N_plural("{n} email with malware stopped every second",
                         "{n} emails with malware stopped every second")),
}


def working_days(month: Month) -> int:
    """Monday to Friday in the month."""
    first = month.first_day
    return sum((first + timedelta(days=n)).weekday() < 5 for n in range(month.days))


def per_working_day(count: float, month: Month, new: bool = False, forms: tuple[str, str] | None = None) -> str:
    """'22 requests every working day' ('22 new requests ...' when `new`; `forms`, an N_plural pair
    with {n}, for what is counted if not requests); 'one every 3 working days' for a quiet month."""
    days = working_days(month)
    if count <= 0 or days == 0:
        return ""
    rate = count / days
    if rate >= 0.75:
        shown = max(1, round(rate))
        if forms:
            said = ngettext(*forms, shown)
        elif new:
            said = ngettext("one new request every working day", "{n} new requests every working day", shown)
        else:
            said = ngettext("one request every working day", "{n} requests every working day", shown)
        return said.format(n=formatting.number(shown))
    gap = round(1 / rate)
    return ngettext("one every working day", "one every {n} working days", gap).format(n=formatting.number(gap))


def interval(seconds: float) -> str:
    """An interval in the largest unit that says it within a tenth: 'every minute' (61 s), 'every 26
    seconds', 'every hour' (63 minutes), 'every 100 minutes' (not 'every 2 hours'), 'every 3 hours'."""
    for size, (one, many) in _UNITS:
        count = seconds / size
        whole = round(count)
        if whole >= 1 and (abs(count - whole) <= SNAP * count or size == 1):
            return ngettext(one, many, whole).format(n=formatting.number(whole))
    return _("every second")


def every(count: float, month: Month, key: str) -> str:
    """'a phishing email stopped every hour' (`key` "phishing", of MAIL_ITEMS); '3 threats stopped
    every second' for a flood."""
    if count <= 0:
        return ""
    one, (flood, floods) = MAIL_ITEMS[key]
    gap = month.seconds / count
    if gap < 0.9:
        per_second = round(count / month.seconds)
        return ngettext(flood, floods, per_second).format(n=formatting.number(per_second))
    return _(one).format(every=interval(gap))


def interruption(pct: float, month: Month, systems: int) -> str:
    """What an availability percentage leaves of the month, in time."""
    lost = (100 - pct) / 100 * month.seconds
    if lost <= 0:
        return _("not a single minute of interruption in the whole month")
    said = _("less than a minute") if lost < 30 else formatting.duration(lost)
    if systems > 1:
        return _("an average of {time} of interruption per system in the whole month").format(time=said)
    return _("{time} of interruption in the whole month").format(time=said)


def share(pct: float) -> str:
    """95 -> '19 in 20'; 92 -> 'more than 9 in 10'; 100 -> 'every'; '' below 1 in 20."""
    if pct >= 100:
        return EVERY
    for d in _DENOMINATORS:
        n = round(pct * d / 100)
        if 0 < n < d and abs(n * 100 / d - pct) <= 0.5:
            return _("{n} in {d}").format(n=n, d=d)
    for d in (10, 20):
        n = math.floor(pct * d / 100)
        if n >= 1 and n * 100 / d < pct:
            return _("more than {n} in {d}").format(n=n, d=d)
    return ""


EVERY = "every"  # share()'s word for 100 %: never shown as such (each sentence says "every" its own way)


# what a median means, by what it measures
MEDIANS = {"first_response": N_("half of all requests had a first answer within {time}"),
           "resolution": N_("half of all requests were solved within {time}")}


def median(median_s: float, p90_s: float | None, what: str) -> str:
    """'half of all requests had a first answer within 12 minutes; 9 in 10 within 37 minutes'
    (`what`: "first_response" or "resolution", of MEDIANS)."""
    text = _(MEDIANS[what]).format(time=formatting.duration(median_s))
    if p90_s is not None and formatting.duration(p90_s) != formatting.duration(median_s):
        text += _("; 9 in 10 within {time}").format(time=formatting.duration(p90_s))
    return text


def year_so_far(figure: Figure, month: Month) -> float | None:
    """The total since January, this month included; None in January or with a month unknown."""
    earlier = month.month - 1
    if earlier < 1 or figure.value is None or len(figure.history) < earlier:
        return None
    months = figure.history[len(figure.history) - earlier:]
    if any(v is None for v in months):
        return None
    return figure.value + sum(months)


def year_note(figure: Figure, month: Month) -> str:
    """A volume's month in its year: 'more than any other month this year' once PEAK_MIN_MONTHS
    earlier months of the year are known and all lower; else '4,102 since January'; else ''."""
    total = year_so_far(figure, month)
    if total is None:
        return ""
    earlier = figure.history[len(figure.history) - (month.month - 1):]
    if len(earlier) >= PEAK_MIN_MONTHS and all(figure.value > v for v in earlier):
        return _("more than any other month this year")
    return _("{total} since January").format(total=format_value(total, figure.unit))


def streak(section: Section, month: Month) -> tuple[str, int] | None:
    """(service, days) of the longest run of months without an interruption ending with this one,
    from STREAK_MIN_MONTHS months; None when no service has one. Ties go to the service listed first."""
    best: tuple[str, int] | None = None
    for item in section.items:
        incidents = item.get("figures", {}).get("incidents")
        if incidents is None or item.get("status") != "monitored":
            continue
        run = [incidents.value, *reversed(incidents.history)]
        months = 0
        for value in run:
            if value != 0:  # an interruption, or unknown: the run ends
                break
            months += 1
        if months >= STREAK_MIN_MONTHS:
            days = sum(month.shift(-n).days for n in range(months))
            if best is None or days > best[1]:
                best = (item["name"], days)
    return best


def streak_words(found: tuple[str, int]) -> str:
    name, days = found
    return ngettext("{name}: {n} day without an interruption", "{name}: {n} days without an interruption",
                    days).format(name=name, n=formatting.number(days))


def frame(section: Section, key: str, month: Month) -> str:
    """The sentence that says what one of the section's figures means; '' when there is none."""
    figure = section.figures.get(key)
    if figure is None or figure.value is None or section.covered or not section.ok:
        return ""
    value = figure.value
    if section.kind == "ticketing":
        if key == "resolved":
            return per_working_day(value, month)
        if key == "opened":
            return per_working_day(value, month, new=True)
        if key == "first_response_median_s":
            return median(value, section.value_of("first_response_p90_s"), "first_response")
        if key == "resolution_median_s":
            return median(value, section.value_of("resolution_p90_s"), "resolution")
        if key == "csat_pct" and share(value):
            return _happy(share(value), section.value_of("csat_responses"))
        if key == "sla_met_pct" and share(value):
            if share(value) == EVERY:
                return _("every request was handled within its service target")
            return _("{part} requests were handled within their service target").format(part=share(value))
    if section.kind == "mail_security":
        if key in MAIL_ITEMS:
            return every(value, month, key)
        if key == "scanned" and section.value_of("blocked_total") and value:
            part = share(100 * section.value_of("blocked_total") / value)
            return _("{part} was a threat").format(part=part) if part and part != EVERY else ""
    if section.kind == "uptime" and key == "overall_uptime_pct":
        systems = sum(1 for s in section.items if s["figures"]["uptime_pct"].value is not None)
        return interruption(value, month, systems)
    return ""


def _happy(part: str, ratings: float | None) -> str:
    """'85 colleagues rated their help; 19 in 20 were happy'."""
    if part == EVERY:
        return _("every colleague who rated their help was happy")
    if ratings:
        return ngettext("{n} colleague rated their help; {part} were happy",
                        "{n} colleagues rated their help; {part} were happy",
                        round(ratings)).format(n=formatting.number(ratings), part=part)
    return _("{part} colleagues who rated their help were happy").format(part=part)


def framings(section: Section, month: Month) -> dict[str, str]:
    """Every figure of the section that has a framing, by key."""
    found = {key: frame(section, key, month) for key in section.figures}
    return {key: text for key, text in found.items() if text}
