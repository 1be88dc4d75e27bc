"""The year in review (compose/yearly.py) on hand-made histories: the records of the year, and a
year that is not over yet."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from newsletter.compose.render import Renderer, Theme
from newsletter.compose.yearly import build_year_context
from newsletter.model import SourceResult
from newsletter.period import Month, Year

YEAR = Year(2026)
EXTRA = {"company": "Example", "team": "IT", "language": "en", "sections": []}


def month_of(resolved: int, blocked: int) -> list[SourceResult]:
    return [SourceResult.ok("helpdesk", "demo_ticketing", "ticketing", {
                "resolved": resolved, "first_response_median_s": 900, "top_categories": []}),
            SourceResult.ok("mail-filter", "demo_mail_security", "mail_security",
                            {"blocked_total": blocked, "phishing": 300})]


def stored(blocked_2026: list[int], resolved_2026: list[int]) -> dict[str, list[SourceResult]]:
    """A steady 2025 (400 resolved, 40,000 blocked a month), then the given months of 2026."""
    history = {m.label: month_of(400, 40_000) for m in Month(2026, 1).history(12)}
    for number, (blocked, resolved) in enumerate(zip(blocked_2026, resolved_2026, strict=True), start=1):
        history[Month(2026, number).label] = month_of(resolved, blocked)
    return history


# threats blocked beat the year before in April, again in May and again in September
BLOCKED = [40_000, 40_000, 40_000, 44_732, 48_112, 45_000, 41_000, 40_500, 50_000, 42_000, 41_000, 40_000]
RESOLVED = [400, 400, 400, 400, 400, 400, 400, 400, 400, 537, 410, 400]


def render_text(context) -> str:
    return Renderer(Theme(Path("/nonexistent"), "default")).render("2026", context, edition="year").text


def test_each_record_is_shown_once_at_its_standing_value():
    context = build_year_context(YEAR, stored(BLOCKED, RESOLVED), EXTRA)
    records = [(r["title"], r["value"], r["month"], r["times"]) for r in context["records"]]
    assert records == [("Most threats blocked in a year", "50,000", "September 2026", 3),
                       ("Most requests resolved in a year", "537", "October 2026", 1)]
    text = render_text(context)
    assert text.count("Most threats blocked in a year") == 1
    assert "- Most threats blocked in a year: 50,000 (September 2026; a new record 3 times this year)" in text
    assert "- Most requests resolved in a year: 537 (October 2026)\n" in text
    assert "44,732" not in text and "48,112" not in text


def test_a_record_beaten_twice_says_twice():
    blocked = [40_000, 40_000, 40_000, 44_732, 48_112, 45_000, 41_000, 40_500, 41_000, 42_000, 41_000, 40_000]
    context = build_year_context(YEAR, stored(blocked, RESOLVED), EXTRA)
    assert "- Most threats blocked in a year: 48,112 (May 2026; a new record twice this year)" in render_text(context)


def eleven_months() -> dict[str, list[SourceResult]]:
    return stored(BLOCKED[:11], RESOLVED[:11])


def test_a_year_not_over_says_it_covers_the_months_so_far():
    first_of_december = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    context = build_year_context(YEAR, eleven_months(), EXTRA, now=first_of_december)
    assert context["year"]["over"] is False
    newsletter = Renderer(Theme(Path("/nonexistent"), "default")).render("2026", context, edition="year")
    for part in (newsletter.text, newsletter.html):
        assert "January to November 2026 so far; the year is not over." in part
        assert "Over 11 months, January to November 2026:" not in part
    assert newsletter.subject.startswith("IT in 2026 so far: ")


def test_a_year_that_is_over_reads_as_the_year():
    second_of_january = datetime(2027, 1, 2, 7, 0, tzinfo=UTC)
    context = build_year_context(YEAR, stored(BLOCKED, RESOLVED), EXTRA, now=second_of_january)
    assert context["year"]["over"] is True
    newsletter = Renderer(Theme(Path("/nonexistent"), "default")).render("2026", context, edition="year")
    assert "Over 12 months, January to December 2026:\n- " in newsletter.text and "so far" not in newsletter.text
    assert newsletter.subject.startswith("IT in 2026: ")


def test_the_year_in_numbers_counts_the_quiet_work_of_the_kinds_that_have_a_source():
    """Backups, devices and security awareness add their year's totals beside the help desk's, each
    with its best month; a kind without a source says nothing."""
    from newsletter.results import AwarenessStats, BackupStats

    history = eleven_months()
    for number in range(1, 12):
        label = Month(2026, number).label
        history[label] = history[label] + [
            SourceResult.ok("backups", "veeam", "backup", BackupStats(
                jobs_run=100, succeeded=100 - (number == 3), with_warnings=0, failed=int(number == 3),
                restores=number).metrics()),
            SourceResult.ok("training", "knowbe4", "awareness", AwarenessStats(
                simulations=1, delivered=200, clicked=6, reported=100, phish_prone_pct=3.0,
                trainings_completed=10 + number).metrics()),
        ]
    context = build_year_context(YEAR, history, EXTRA)
    totals = {t.noun: t.sentence for t in context["totals"]}
    assert totals["restores for colleagues"] == "66 restores for colleagues; most in November 2026 (11)."
    assert totals["average backup success"] == "99.91% average backup success; best in January 2026 (100%)."
    assert totals["security trainings completed"] == ("176 security trainings completed; most in November "
                                                      "2026 (21).")
    assert not any("devices" in noun for noun in totals)  # no device management source
    assert "- 66 restores for colleagues; most in November 2026 (11)." in render_text(context)


def test_two_help_desks_give_two_totals_each_named_never_one_as_all_of_them():
    def desk(name: str, resolved: int) -> SourceResult:
        return SourceResult.ok(name, "jira", "ticketing", {"resolved": resolved, "top_categories": []})

    months = {f"2026-{m:02d}": [desk("it", 100), desk("facilities", 50)] for m in range(1, 13)}
    totals = [t for t in build_year_context(Year(2026), months, {})["totals"] if "requests resolved" in t.noun]
    assert [(t.value, t.noun) for t in totals] == [("1,200", "requests resolved (it)"),
                                                  ("600", "requests resolved (facilities)")]
    alone = {label: results[:1] for label, results in months.items()}
    [total] = [t for t in build_year_context(Year(2026), alone, {})["totals"] if "requests resolved" in t.noun]
    assert (total.value, total.noun) == ("1,200", "requests resolved")
