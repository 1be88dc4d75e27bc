"""Backups, devices and awareness in the story (compose/quiet_work.py, story.py), on hand-made
histories: the backups' streak and when it breaks, a worse month that is no hero fact, an
improvement in who clicks a test phish, the devices' compliant share and its change, unknown
never read as zero; and the blocks in the email, in the configured order, hidden without a source."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from newsletter import i18n
from newsletter.compose.context import build_context
from newsletter.compose.figures import better_by
from newsletter.compose.render import Renderer, Theme
from newsletter.model import SourceResult
from newsletter.period import Month
from newsletter.results import AwarenessStats, BackupStats, DeviceStats

OCTOBER = Month(2026, 10)


def backup(runs=2418, failed=0, restores=8, protected=None) -> SourceResult:
    stats = BackupStats(jobs_run=runs, succeeded=None if runs is None else runs - (failed or 0),
                        with_warnings=0, failed=failed, restores=restores, protected_bytes=protected)
    return SourceResult.ok("backups", "demo_backup", "backup", stats.metrics())


def devices(managed=900, compliant=850, patched=800, start=None) -> SourceResult:
    stats = DeviceStats(managed=managed, compliant=compliant, patched=patched, patch_days=14,
                        managed_month_start=start and start[0], compliant_month_start=start and start[1])
    return SourceResult.ok("devices", "demo_devices", "devices", stats.metrics())


def awareness(prone=5.0, reported=40, simulations=1, delivered=400) -> SourceResult:
    stats = AwarenessStats(simulations=simulations, delivered=delivered,
                           clicked=None if prone is None else round(delivered * prone / 100),
                           reported=reported, phish_prone_pct=prone, trainings_completed=30)
    return SourceResult.ok("awareness", "demo_awareness", "awareness", stats.metrics())


def context(now: list[SourceResult], *earlier: list[SourceResult]) -> dict:
    history = {OCTOBER.shift(-len(earlier) + n).label: results for n, results in enumerate(earlier)}
    return build_context(OCTOBER, now, history, {"company": "Example", "team": "IT"})


def section(ctx: dict, kind: str):
    return ctx[kind][0]


def test_every_backup_made_month_after_month_is_a_streak_and_a_hero_fact():
    ctx = context([backup()], *[[backup()] for _ in range(5)])
    fact = next(f for f in ctx["headline"] if f.kind == "backup")
    assert (fact.reason, fact.value, fact.noun) == ("streak", "100%", "of backups made")
    assert fact.note == "6 months in a row without a failed backup" and fact.tone == "good"
    assert fact.framing == "every one of 2,418 backups was made"
    assert section(ctx, "backup").summary == ("We made every one of the 2,418 backups that ran, and restored lost "
                                              "files for colleagues 8 times.")
    line = section(ctx, "backup").lines[0]
    assert (line.note, line.tone) == ("6 months in a row without a failed backup", "good")


def test_a_failed_backup_ends_the_streak_and_a_worse_month_is_no_hero_fact():
    broken = context([backup()], [backup()], [backup(failed=2)], [backup()])  # 2 months clean: no streak yet
    assert section(broken, "backup").streak == ""
    assert [f.reason for f in broken["headline"] if f.kind == "backup"] == ["default"]  # 100% is still said
    worse = context([backup(failed=3)], *[[backup()] for _ in range(6)])
    assert not [f for f in worse["headline"] if f.kind == "backup"]
    line = section(worse, "backup").lines[0]
    assert (line.framing, line.tone) == ("3 of 2,418 backups failed", "bad")  # red in its section, told plainly
    assert line.note.startswith("down ")
    assert "3 failed" in section(worse, "backup").summary


def test_fewer_colleagues_clicking_a_test_phish_is_an_improvement_said_as_better():
    ctx = context([awareness(prone=3.0)], *[[awareness(prone=9.0)] for _ in range(3)])
    fact = next(f for f in ctx["headline"] if f.key == "awareness.phish_prone_pct")
    assert (fact.reason, fact.value, fact.tone) == ("improvement", "3%", "good")
    assert fact.note == "6 points better than September"
    assert fact.framing == "12 of 400 colleagues clicked the test email"


def test_a_month_of_two_phishing_tests_counts_test_emails_not_colleagues():
    """Two tests to 435 people deliver 870 emails: '32 of 870 colleagues' would count each one twice."""
    two = section(context([awareness(prone=3.7, reported=531, simulations=2, delivered=870)]), "awareness")
    assert two.framings == {"phish_prone_pct": "32 of 870 test emails were clicked",
                            "reported_pct": "more than 6 in 10 test emails were reported to IT"}
    assert two.summary == "3.7% of this month's test phishing emails were clicked; 61% were reported."
    assert (two.figures["clicked"].label, two.figures["reported"].label) == (
        "Test phishing emails clicked", "Test phishing emails reported")
    unknown = section(context([awareness(reported=400, simulations=None)]), "awareness")  # tests not counted
    assert unknown.framings == {"phish_prone_pct": "20 of 400 test emails were clicked",
                                "reported_pct": "every test email was reported to IT"}
    one = section(context([awareness(prone=5.0, reported=400)]), "awareness")
    assert one.framings == {"phish_prone_pct": "20 of 400 colleagues clicked the test email",
                            "reported_pct": "every colleague told IT about it"}
    assert one.summary == "5% of colleagues clicked this month's test phishing email; 100% reported it."
    assert one.figures["clicked"].label == "Colleagues who clicked"


@pytest.mark.parametrize("language", ["de", "fr", "es"])
def test_two_phishing_tests_are_said_as_test_emails_in_every_language(language):
    with i18n.speaking(language):
        two = section(context([awareness(prone=3.7, reported=531, simulations=2, delivered=870)]), "awareness")
        one = section(context([awareness()]), "awareness")
    said = [*two.framings.values(), two.summary, two.figures["clicked"].label, two.figures["reported"].label]
    assert not [text for text in said if re.search(r"emails|clicked|reported", text)], said  # no English left
    assert not set(said) & {*one.framings.values(), one.summary, one.figures["clicked"].label}, said


def test_a_month_of_two_phishing_tests_has_its_lines_and_hero_in_test_emails():
    """The short lines, the hero's titles, the figures' labels and the trend say shares of test emails."""
    two = awareness(prone=3.7, reported=531, simulations=2, delivered=870)
    ctx = context([two], *[[awareness(prone=9.0, reported=40)] for _ in range(5)])
    lines = section(ctx, "awareness").lines
    assert [line.text.split(":")[0] for line in lines] == ["3.7% of test phishing emails clicked",
                                                           "61% of test phishing emails reported"]
    facts = {f.key: f for f in ctx["headline"]}
    record = facts["awareness.phish_prone_pct"]
    assert (record.reason, record.title) == ("record", "Lowest share of test phishing emails clicked in 6 months")
    assert record.note == "the lowest in 6 months"  # not "the fewest": two tests may have more clicks than ever
    assert facts["awareness.reported_pct"].title == "Highest share of test phishing emails reported in 6 months"
    alone = context([two])  # no history: the default
    assert [f.title for f in alone["headline"]] == ["61% of test phishing emails reported"]
    figures = section(ctx, "awareness").figures
    assert (figures["phish_prone_pct"].label, figures["reported_pct"].label) == (
        "Share of test phishing emails clicked", "Share of test phishing emails reported")
    one = context([awareness(prone=3.0, reported=240)], *[[awareness(prone=9.0, reported=40)] for _ in range(5)])
    assert [line.noun for line in section(one, "awareness").lines] == ["clicked a test phishing email",
                                                                       "reported the test phishing email"]
    assert {f.title for f in one["headline"]} >= {"Fewest colleagues clicking a test phish in 6 months"}


@pytest.mark.parametrize("language", ["de", "fr", "es"])
def test_two_phishing_tests_have_their_lines_and_hero_in_test_emails_in_every_language(language):
    with i18n.speaking(language):
        two = context([awareness(prone=3.7, reported=531, simulations=2, delivered=870)],
                      *[[awareness(prone=9.0, reported=40)] for _ in range(5)])
        one = context([awareness(prone=3.0, reported=240)], *[[awareness(prone=9.0, reported=40)] for _ in range(5)])

    def said(ctx: dict) -> list[str]:
        shown = section(ctx, "awareness")
        return [*(line.noun for line in shown.lines), *(f.title for f in ctx["headline"]),
                shown.figures["phish_prone_pct"].label, shown.figures["reported_pct"].label]
    assert not [text for text in said(two) if re.search(r"emails|clicked|reported|share|coll[eè]g|Koll|compa",
                                                         text)], said(two)
    assert not set(said(two)) & set(said(one)), said(two)


def test_a_month_without_a_phishing_test_says_so_instead_of_two_unknowns():
    """No test ran: nothing was unknown, so not "Clicked...: not available this month" twice."""
    stats = AwarenessStats(simulations=0, delivered=0, clicked=0, reported=0, trainings_completed=30)
    ctx = context([SourceResult.ok("awareness", "demo_awareness", "awareness", stats.metrics())])
    shown = section(ctx, "awareness")
    assert [line.text for line in shown.lines] == ["No phishing test this month."]
    assert shown.summary == "No phishing test this month."
    assert not ctx["headline"]
    newsletter = Renderer(Theme(Path("/nonexistent"), "default")).render("2026-10", {**ctx, "language": "en"})
    assert "No phishing test this month" in newsletter.html and "No phishing test this month." in newsletter.text
    assert "not available" not in newsletter.html + newsletter.text
    with i18n.speaking("de"):
        german = section(context([SourceResult.ok("awareness", "demo_awareness", "awareness", stats.metrics())]),
                         "awareness")
    assert [line.text for line in german.lines] == ["Diesen Monat gab es keinen Phishing-Test."]


def test_more_colleagues_clicking_is_no_hero_fact_and_red_in_its_section():
    ctx = context([awareness(prone=8.0, reported=40)], *[[awareness(prone=5.0, reported=40)] for _ in range(4)])
    assert not [f for f in ctx["headline"] if f.key == "awareness.phish_prone_pct"]
    line = section(ctx, "awareness").lines[0]
    assert (line.value, line.note, line.tone) == ("8%", "up 3 points from September", "bad")


def test_devices_compliant_share_and_its_change_against_the_month_start_without_history():
    alone = context([devices(managed=900, compliant=873, start=(880, 836))])  # 97% now, 95% at the start
    figure = section(alone, "devices").figures["compliant_pct"]
    assert (figure.display, figure.previous_display, figure.verdict) == ("97%", "95%", "better")
    line = section(alone, "devices").lines[0]
    assert line.framing == "873 of 900 devices meet our security policies"
    assert (line.note, line.tone) == ("up 2 points from September", "good")
    assert section(alone, "devices").figures["patched_pct"].label == "Devices fully patched within 14 days"


def test_a_record_compliant_share_makes_the_hero():
    ctx = context([devices(compliant=880)], *[[devices(compliant=850 + n)] for n in range(8)])
    fact = next(f for f in ctx["headline"] if f.kind == "devices")
    assert (fact.reason, fact.title, fact.value) == ("record", "Most devices compliant in 9 months", "98%")


def test_whole_fleets_and_busy_restore_months_are_said_in_their_own_words():
    ctx = context([devices(patched=900), awareness(reported=400), backup(restores=44)])
    assert section(ctx, "devices").framings["patched_pct"] == "every device had every security update within 14 days"
    assert section(ctx, "awareness").framings["reported_pct"] == "every colleague told IT about it"
    assert section(ctx, "backup").framings["restores"] == "2 restores every working day"  # 22 working days


def test_an_improvement_against_the_average_names_the_average():
    earlier = [[awareness(prone=2.5)], *[[awareness(prone=9.0)] for _ in range(9)], [awareness(prone=3.5)]]
    fact = next(f for f in context([awareness(prone=3.0)], *earlier)["headline"]
                if f.key == "awareness.phish_prone_pct")
    assert (fact.reason, fact.note) == ("improvement", "5 points better than the average of the last 11 months")
    assert better_by(3.0, 9.0, 12) == "6 points better than the 12-month average"


def test_a_short_line_says_its_noun_in_the_form_its_count_asks_for():
    one, many = (section(context([backup(restores=n)]), "backup").lines[1] for n in (1, 8))
    assert one.text.startswith("1 restore for a colleague:"), one.text
    assert many.text.startswith("8 restores for colleagues:"), many.text


def test_unknown_is_never_zero():
    ctx = context([devices(managed=None, compliant=None, patched=None), awareness(prone=None, reported=None),
                   backup(runs=None, failed=None, restores=None)])
    for kind in ("devices", "awareness", "backup"):
        shown = section(ctx, kind)
        assert shown.lines and all(not line.known for line in shown.lines), kind
        assert all("0" not in line.text for line in shown.lines), [line.text for line in shown.lines]
        assert shown.summary == ""
    assert not ctx["headline"]


@pytest.fixture
def drafted(workspace):
    assert workspace.invoke("collect", "--month", "2026-10", "--backfill", "12").exit_code == 0

    def draft(*args: str) -> dict:
        result = workspace.invoke("preview", "--month", "2026-10", "--format", "json", *args)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)
    return draft


def test_the_preview_json_carries_each_kind_with_its_lines_and_sentence(drafted):
    sections = {s["kind"]: s for s in drafted()["sections"]}
    assert [s["key"] for s in sections["backup"]["lines"]] == ["success_rate_pct", "restores"]
    assert [s["key"] for s in sections["devices"]["lines"]] == ["compliant_pct", "patched_pct"]
    assert [s["key"] for s in sections["awareness"]["lines"]] == ["phish_prone_pct", "reported_pct"]
    assert sections["backup"]["streak"] == "6 months in a row without a failed backup"
    assert all(sections[kind]["summary"] for kind in ("backup", "devices", "awareness"))


def test_the_blocks_follow_the_configured_order_and_hide_without_a_source(workspace, tmp_path):
    order = '["awareness", "ticketing", "backup", "devices"]'
    (workspace.root / "sources" / "devices.toml").unlink()
    workspace.write("newsletter.toml", workspace.config.read_text().replace(
        "[newsletter]", f"[newsletter]\nsections = {order}", 1))
    out = tmp_path / "draft.txt"
    result = workspace.invoke("preview", "--month", "2026-10", "--collect", "--output", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    places = [text.index(heading) for heading in ("SPOTTING PHISHING", "HELP DESK", "BACKUPS")]
    assert places == sorted(places)
    assert "LAPTOPS AND PHONES" not in text and "MAIL SECURITY" not in text  # no source, or not configured
    html = tmp_path / "draft.html"
    assert workspace.invoke("preview", "--month", "2026-10", "--output", str(html)).exit_code == 0
    assert "Laptops and phones" not in html.read_text() and "Spotting phishing" in html.read_text()


@pytest.mark.parametrize(("terabytes", "before", "shown", "change"), [
    (31.4, 30.9, "31.4", "0.5 more than September"),
    (31.42, 31.38, "31.4", "the same as September"),  # the same as a reader sees it
    (0.042, None, "0.04", ""),  # a small company's data is not 0 terabytes
    (1234.56, 1200.0, "1,235", "35 more than September"),
])
def test_data_protected_is_shown_with_the_decimals_a_reader_expects(terabytes, before, shown, change):
    earlier = [] if before is None else [[backup(protected=round(before * 10**12))]]
    figure = section(context([backup(protected=round(terabytes * 10**12))], *earlier), "backup").figures["protected_tb"]
    assert (figure.display, figure.comparison) == (shown, change)


def test_data_protected_is_written_in_each_language_s_digits():
    with i18n.speaking("de"):
        figure = section(context([backup(protected=31_400_000_000_000)]), "backup").figures["protected_tb"]
        assert figure.display == "31,4"


def test_a_month_in_which_no_backup_ran_is_not_said_as_every_one_made():
    shown = section(context([backup(runs=0, failed=0, restores=0)]), "backup")
    assert shown.summary == ""  # not "We made every one of the 0 backups that ran."
    assert "success_rate_pct" not in shown.framings
