"""The quiet work beyond tickets: backups, managed devices and security awareness in the story.

What each of these kinds adds to the edition, as the help desk's, mail's and uptime's parts do in
context.py, framing.py, sentences.py and story.py (docs/story.md, "Backups, devices, awareness"):

- Figures (`figure_specs`): what a template may show, labelled for readers; the definitions are
  docs/metrics.md's. A devices figure's change is against the month before's end; the month's
  start from the source stands in when no earlier month is stored.
- Framings: backups made as "every one of 2,418 backups was made", restores as a rate, devices as
  "778 of the 920 laptops and phones", a phishing test as who clicked and who reported.
- Streak (backups): the months in a row, this one included, without a failed run, from
  STREAK_MIN_MONTHS: "6 months in a row without a failed backup". A month unknown, with nothing
  run, or with a failed run ends it. story.py makes it a hero fact (`streak`), ranked with the
  improvements; nothing else makes a backup month a hero fact but a record or an improvement.
- Angles (`ANGLE_SPECS`): which figures may make the hero (not the patched share: its record would
  only say the compliance one's again) and how, by story.py's rules (a record,
  an improvement of a service level, a default). A fall in phish-prone share is an improvement; a
  rise is no hero fact, and shows red in its section only.
- The short layout's lines (SHORT): two figures per kind, each with its sentence, said by
  sentences.short_lines as every kind's are (the backups' streak in its figure's note).

Every word goes through newsletter.i18n, when the edition is composed (not at import), so each
language gets its own.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from newsletter.compose import formatting, framing
from newsletter.compose.figures import Figure, Section
from newsletter.i18n import N_, N_plural, ngettext
from newsletter.i18n import gettext as _
from newsletter.period import Month

KINDS = ("backup", "devices", "awareness")
STREAK_MIN_MONTHS = 3
STREAK_KEYS = {"backup": "success_rate_pct"}  # the figure a kind's streak is a fact of
SHORT = {"backup": ("success_rate_pct", "restores"), "devices": ("compliant_pct", "patched_pct"),
         "awareness": ("phish_prone_pct", "reported_pct")}
TB = 10**12
# counts of what was done in the month, that add up over a year ("97 since January"); the others are states
VOLUMES = ("jobs_run", "restores", "delivered", "simulations", "trainings_completed")


def figure_specs(kind: str) -> tuple[tuple[str, str, str, bool | None], ...]:
    """(key, label, unit, higher_is_better) of a kind's figures, in the order the full layout shows
    them; higher_is_better None for a volume (a change is neither better nor worse)."""
    if kind == "backup":
        return (("success_rate_pct", _("Backups made"), "pct", True),
                ("jobs_run", _("Backup runs"), "count", None),
                ("with_warnings", _("Made, with a warning to look into"), "count", False),
                ("failed", _("Failed runs"), "count", False),
                ("restores", _("Restores for colleagues"), "count", None),
                ("protected_tb", _("Data protected, in terabytes"), "measure", None),
                ("longest_gap_s", _("Longest any job went without a backup"), "duration", False))
    if kind == "devices":
        return (("compliant_pct", _("Devices compliant"), "pct", True),
                ("patched_pct", _("Devices fully patched"), "pct", True),
                ("managed", _("Devices managed"), "count", None),
                ("compliant", _("Devices compliant, in number"), "count", None),
                ("patch_days", _("Days an update may wait to count as patched"), "count", None))
    if kind == "awareness":
        return (("phish_prone_pct", _("Clicked a test phishing email"), "pct", False),
                ("reported_pct", _("Reported the test phishing email"), "pct", True),
                ("delivered", _("Test phishing emails delivered"), "count", None),
                ("clicked", _("Colleagues who clicked"), "count", None),
                ("reported", _("Colleagues who reported it"), "count", None),
                ("simulations", _("Phishing tests"), "count", None),
                ("trainings_completed", _("Trainings completed"), "count", None))
    return ()


# story.Angle's fields for these kinds: kind, key, noun, record, higher, min_change, default_rank, one,
# best. Marked for the catalogs, not translated: story.py translates each where it is said, so the
# words follow the language of the edition being composed.
ANGLE_SPECS: tuple[tuple[Any, ...], ...] = (
    ("backup", "success_rate_pct", N_("of backups made"), N_("Most backups made {span}"), True, 0.5, 5),
    ("devices", "compliant_pct", N_("of devices compliant"), N_("Most devices compliant {span}"), True, 1.0, 6),
    ("awareness", "phish_prone_pct", N_("clicked a test phishing email"),
     N_("Fewest colleagues clicking a test phish {span}"), False, 1.0, None, "", N_("the fewest {span}")),
    ("awareness", "reported_pct", N_("reported the test phishing email"),
     N_("Most colleagues reporting a test phish {span}"), True, 3.0, 7),
    ("backup", "restores", N_("restores for colleagues"), N_("Most restores for colleagues {span}"), True, None,
     None, N_("restore for a colleague"), N_("the most {span}")),
    ("awareness", "trainings_completed", N_("trainings completed"), N_("Most trainings completed {span}"), True,
     None, None, N_("training completed"), N_("the most {span}")),
)
# The awareness angles' words in a month of more than one test (or an unknown number): shares of the test
# emails, since a colleague may count twice (`in_test_emails`; marked, translated where said, as above)
TEST_EMAIL_ANGLES = {
    "phish_prone_pct": {"noun": N_("of test phishing emails clicked"),
                        "record": N_("Lowest share of test phishing emails clicked {span}"),
                        "best": N_("the lowest {span}")},  # not "the fewest": two tests may bring the most clicks
    "reported_pct": {"noun": N_("of test phishing emails reported"),
                     "record": N_("Highest share of test phishing emails reported {span}")},
}
# what follows a short line's number for a figure no angle names (marked; sentences.short_lines translates)
NOUNS = {"patched_pct": N_("of devices fully patched")}


RESTORES_PER_DAY = N_plural("one restore every working day", "{n} restores every working day")


def trends() -> tuple[tuple[str, str, str, str], ...]:
    """charts.py's 12-month trends of these kinds: kind, figure key, title, style."""
    return (("backup", "restores", _("Restores for colleagues"), "bar"),
            ("devices", "compliant_pct", _("Devices compliant"), "line"),
            # over months of one test and of two: a share of the test emails is true of each
            ("awareness", "phish_prone_pct", _("Share of test phishing emails clicked"), "line"))


def add_figures(section: Section, now: dict[str, Any], past: list[dict[str, Any]], prev_name: str) -> None:
    """The kind's figures into `section.figures` (each with its earlier months) and its rows into
    `section.items`: backup jobs, devices by operating system."""
    views = [_view(section.kind, m) for m in past]
    current = _view(section.kind, now)
    for key, label, unit, better in figure_specs(section.kind):
        if key == "patched_pct" and isinstance(current.get("patch_days"), int):
            label = _("Devices fully patched within %(days)s days") % {"days": formatting.number(current["patch_days"])}
        if key in ("clicked", "reported") and section.kind == "awareness" and current.get("simulations") != 1:
            # not people: with two tests (or an unknown number) a colleague may count twice
            label = _("Test phishing emails clicked") if key == "clicked" else _("Test phishing emails reported")
        if key in ("phish_prone_pct", "reported_pct") and section.kind == "awareness" and current.get(
                "simulations") != 1:  # likewise a share of the test emails, not of colleagues
            label = (_("Share of test phishing emails clicked") if key == "phish_prone_pct" else
                     _("Share of test phishing emails reported"))
        history = tuple(m.get(key) for m in views)
        start = current.get(f"{key}_start")
        if start is not None and (not history or history[-1] is None):
            history = (*history[:-1], start)  # the devices' own month start stands in for the month before
        section.figures[key] = Figure(key, label, current.get(key), history[-1] if history else None, unit, better,
                                      prev_name, history)
    rows = now.get("jobs") if section.kind == "backup" else now.get("by_os") if section.kind == "devices" else None
    section.items.extend(dict(row) for row in rows or () if isinstance(row, dict))


def _view(kind: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """The stored metrics with the figures derived from them (terabytes; the devices' month start)."""
    view = dict(metrics)
    if kind == "backup" and isinstance(metrics.get("protected_bytes"), int | float):
        view["protected_tb"] = round(metrics["protected_bytes"] / TB, 3)  # shown as formatting.measure says
    if kind == "devices":
        start, managed = metrics.get("compliant_month_start"), metrics.get("managed_month_start")
        view["managed_start"] = managed
        view["compliant_start"] = start
        view["compliant_pct_start"] = round(100 * start / managed, 4) if start is not None and managed else None
    return view


def told(section: Section, month: Month) -> Section:
    """`section` with its words: framings, a volume's year, the backups' streak and its sentence
    (the short layout's lines are sentences.short_lines', as for every kind)."""
    if not section.ok:
        return section
    year_notes = {key: note for key, figure in section.figures.items()
                  if key in VOLUMES and not section.covered and (note := framing.year_note(figure, month))}
    months = streak_months(section)
    section = replace(section, framings=_framings(section, month), year_notes=year_notes,
                      streak=streak_words(months) if months >= STREAK_MIN_MONTHS else "")
    return replace(section, summary=summarize(section, month))


def streak_months(section: Section) -> int:
    """Months in a row, this one included, in which backups ran and none failed; 0 for other kinds,
    a failed source or one that covers part of the month."""
    if section.kind != "backup" or not section.ok or section.covered:
        return 0
    failed, runs = section.figures.get("failed"), section.figures.get("jobs_run")
    if failed is None or runs is None:
        return 0
    months = 0
    for failures, ran in zip([failed.value, *reversed(failed.history)], [runs.value, *reversed(runs.history)],
                             strict=True):
        if failures != 0 or not ran:  # a failure, nothing run, or unknown: the run ends
            break
        months += 1
    return months


def streak_words(months: int) -> str:
    return ngettext("%(count)s month in a row without a failed backup",
                    "%(count)s months in a row without a failed backup", months) % {"count": formatting.number(months)}


def streak_why(months: int) -> str:
    """Why a streak made the hero, for the people who run the newsletter (`preview --format json`)."""
    return ngettext("a streak: %(count)s month in a row, from %(least)s", "a streak: %(count)s months in a row, from "
                    "%(least)s", months) % {"count": formatting.number(months), "least": STREAK_MIN_MONTHS}


def _framings(section: Section, month: Month) -> dict[str, str]:
    if section.covered:
        return {}
    found = {key: _frame(section, key, month) for key, figure in section.figures.items() if figure.known}
    return {key: text for key, text in found.items() if text}


def _frame(section: Section, key: str, month: Month) -> str:
    """What one figure means, in words; '' when there is nothing to say."""
    words = {"backup": _frame_backup, "devices": _frame_devices, "awareness": _frame_awareness}[section.kind]
    return words(section, key, month)


def _frame_backup(section: Section, key: str, month: Month) -> str:
    runs, failed = section.value_of("jobs_run"), section.value_of("failed")
    if key == "success_rate_pct" and runs and failed == 0:
        return ngettext("the one backup was made", "every one of %(runs)s backups was made", int(runs)) % {
            "runs": formatting.number(runs)}
    if key == "success_rate_pct" and runs and failed:
        return ngettext("%(failed)s of %(runs)s backups failed", "%(failed)s of %(runs)s backups failed",
                        int(failed)) % {"failed": formatting.number(failed), "runs": formatting.number(runs)}
    restores = section.value_of("restores")
    if key == "restores" and restores:
        return framing.per_working_day(restores, month, forms=RESTORES_PER_DAY)
    return ""


def _frame_devices(section: Section, key: str, month: Month) -> str:
    managed, compliant, patched = (section.value_of(k) for k in ("managed", "compliant", "patched_pct"))
    if key == "compliant_pct" and managed and compliant is not None:
        return ngettext("%(part)s of %(all)s device meets our security policies",
                        "%(part)s of %(all)s devices meet our security policies",
                        int(managed)) % {"part": formatting.number(compliant), "all": formatting.number(managed)}
    shared = framing.share(patched) if key == "patched_pct" and patched is not None else ""
    if not shared:
        return ""
    days = section.value_of("patch_days")
    if shared == framing.EVERY:
        if days:
            return _("every device had every security update within %(days)s days") % {"days": formatting.number(days)}
        return _("every device had every security update")
    if days:
        return _("%(share)s devices had every security update within %(days)s days") % {
            "share": shared, "days": formatting.number(days)}
    return _("%(share)s devices had every security update") % {"share": shared}


def one_test(section: Section) -> bool:
    """Whether one phishing test ran in the month: only then is each delivered email one colleague
    (two tests reach everyone twice; an unknown number of tests may have), so that only then do the
    words count colleagues, and otherwise the test emails."""
    return section.value_of("simulations") == 1


def no_test(section: Section) -> bool:
    """Whether the source says no phishing test ran in the month: then there is no share to know, and
    the section says so, rather than call both shares not available."""
    return section.kind == "awareness" and section.value_of("simulations") == 0 and not (
        section.known("phish_prone_pct") or section.known("reported_pct"))


def no_test_words() -> str:
    return _("no phishing test this month")


def in_test_emails(section: Section, key: str) -> dict[str, str]:
    """The angle fields (story.Angle's) to say `key` with instead, in `section`: an awareness month of
    more than one test (or an unknown number) in test emails; {} otherwise."""
    return TEST_EMAIL_ANGLES.get(key, {}) if section.kind == "awareness" and not one_test(section) else {}


def _frame_awareness(section: Section, key: str, month: Month) -> str:
    delivered, clicked, reported = (section.value_of(k) for k in ("delivered", "clicked", "reported_pct"))
    if key == "phish_prone_pct" and delivered and clicked is not None and not one_test(section):
        return ngettext("%(clicked)s of %(delivered)s test emails was clicked",
                        "%(clicked)s of %(delivered)s test emails were clicked", int(clicked)) % {
            "clicked": formatting.number(clicked), "delivered": formatting.number(delivered)}
    if key == "phish_prone_pct" and delivered and clicked is not None:
        return ngettext("%(clicked)s of %(delivered)s colleagues clicked the test email",
                        "%(clicked)s of %(delivered)s colleagues clicked the test email", int(clicked)) % {
            "clicked": formatting.number(clicked), "delivered": formatting.number(delivered)}
    shared = framing.share(reported) if key == "reported_pct" and reported is not None else ""
    if shared and not one_test(section):
        return _("every test email was reported to IT") if shared == framing.EVERY else _(
            "%(share)s test emails were reported to IT") % {"share": shared}
    if shared == framing.EVERY:
        return _("every colleague told IT about it")
    if shared:
        return _("%(share)s colleagues told IT about it") % {"share": shared}
    return ""


def summarize(section: Section, month: Month) -> str:
    """One plain sentence for the section; '' when it has nothing to say."""
    f = section.figures
    if section.kind == "backup" and section.value_of("jobs_run") and section.known("failed"):  # none ran: no sentence
        runs, failed = f["jobs_run"], f["failed"]
        if failed.value == 0:
            text = _("We made every one of the %(runs)s backups that ran") % {"runs": runs.display}
        else:
            text = _("We made %(made)s of the %(runs)s backups that ran; %(failed)s failed") % {
                "made": formatting.number(runs.value - failed.value), "runs": runs.display, "failed": failed.display}
        if section.known("restores") and f["restores"].value:
            text += ngettext(", and restored lost files for colleagues %(count)s time",
                             ", and restored lost files for colleagues %(count)s times",
                             int(f["restores"].value)) % {"count": f["restores"].display}
        return text + "."
    if section.kind == "devices" and section.known("compliant_pct"):
        return (_("At the end of %(month)s, %(pct)s of the devices we manage met the company's security "
                  "policies%(change)s.") % {"month": month.short_name, "pct": f["compliant_pct"].display,
                                            "change": f["compliant_pct"].bracketed_change})
    if no_test(section):
        return f"{formatting.upper_first(no_test_words())}."
    if section.kind == "awareness" and section.known("phish_prone_pct"):
        one = one_test(section)
        text = (_("%(pct)s of colleagues clicked this month's test phishing email%(change)s") if one else
                _("%(pct)s of this month's test phishing emails were clicked%(change)s")) % {
            "pct": f["phish_prone_pct"].display, "change": f["phish_prone_pct"].bracketed_change}
        if section.known("reported_pct"):
            text += (_("; %(pct)s reported it") if one else _("; %(pct)s were reported")) % {
                "pct": f["reported_pct"].display}
        return text + "."
    return ""
