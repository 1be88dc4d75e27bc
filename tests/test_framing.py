"""Facts in words people use (compose/framing.py), on hand-made histories: a quiet month, a record,
a streak and a streak broken, no history at all; and each framing's arithmetic."""

from __future__ import annotations

from newsletter.compose import framing
from newsletter.compose.context import build_context
from newsletter.model import SourceResult
from newsletter.period import Month
from tests.test_story import OCTOBER, history_of, mail, tickets


def uptime(pct: float = 99.9, *, email: int = 0, vpn: int = 0, vpn_down_s: int = 0) -> SourceResult:
    """Two services; `email` and `vpn`: their interruptions this month."""
    services = [{"name": "Email", "uptime_pct": 100.0 if not email else 99.9, "downtime_s": 600 * email,
                 "incidents": email, "longest_outage_s": 600 if email else 0},
                {"name": "VPN", "uptime_pct": pct, "downtime_s": vpn_down_s, "incidents": vpn,
                 "longest_outage_s": vpn_down_s}]
    return SourceResult.ok("monitoring", "demo_uptime", "uptime", {"services": services, "overall_uptime_pct": pct})


def month_of(resolved=400, first=900, blocked=40000, phishing=700, **outages) -> list[SourceResult]:
    return [tickets(resolved=resolved, first=first), mail(blocked=blocked, phishing=phishing), uptime(**outages)]


def context(now: list[SourceResult], *earlier: list[SourceResult]) -> dict:
    return build_context(OCTOBER, now, history_of(*earlier), {"company": "Example", "team": "IT"})


def fact(ctx: dict, noun: str):
    return next(f for f in ctx["headline"] if f.noun == noun)


def test_a_quiet_month_is_context_not_a_decline():
    # 150 requests and 22,000 threats after a year of 400 and 40,000: fewer, not worse
    ctx = context(month_of(resolved=150, blocked=22000), *[month_of() for _ in range(12)])
    resolved, blocked = fact(ctx, "requests resolved"), fact(ctx, "threats blocked")
    assert resolved.framing == "7 requests every working day"  # 150 over October's 22 working days
    assert resolved.note == "3,750 since January" and resolved.tone == "neutral"
    assert blocked.framing == "a threat stopped every 2 minutes"
    assert blocked.note == "382,000 since January" and blocked.tone == "neutral"
    assert resolved.line == "150 requests resolved: 7 requests every working day (3,750 since January)."
    assert all(f.tone != "bad" for f in ctx["headline"])
    section = ctx["ticketing"][0]
    assert section.figures["resolved"].verdict is None  # a volume is neither better nor worse
    assert section.lines[0].note == "3,750 since January" and section.lines[0].tone == "neutral"


def test_a_record_is_said_with_its_framing_and_why():
    ctx = context(month_of(first=420), *[month_of() for _ in range(12)])
    record = ctx["headline"][0]
    assert (record.reason, record.title, record.value) == ("record", "Fastest first answer in a year", "7 minutes")
    assert record.note == "the fastest in a year" and record.tone == "good"
    assert record.framing == "half of all requests had a first answer within 7 minutes"
    assert record.why == "a record: better than each of the 12 earlier months known"
    assert record.line == ("Fastest first answer in a year: 7 minutes, half of all requests had a first answer "
                           "within 7 minutes.")


def test_the_busiest_month_of_the_year_says_so_rather_than_the_total():
    # more than January to September, but not more than last October: no record, still worth saying
    earlier = [month_of(resolved=600), month_of(), month_of(), *[month_of(resolved=400 + n) for n in range(9)]]
    ctx = context(month_of(resolved=450), *earlier)
    resolved = fact(ctx, "requests resolved")
    assert resolved.reason == "default" and resolved.note == "more than any other month this year"


def test_a_streak_counts_the_days_of_the_months_without_an_interruption():
    # VPN: an interruption in June, none since; Email: none in the whole year
    earlier = [month_of(vpn=1 if n == 8 else 0) for n in range(12)]  # the 9th of 12 earlier months is June
    ctx = context(month_of(vpn=0), *earlier)
    section = ctx["uptime"][0]
    assert section.streak == "Email: 396 days without an interruption"  # October 2025 to October 2026
    up = fact(ctx, "uptime")
    assert up.note == section.streak and up.tone == "good"
    assert [line.text for line in section.lines][-1] == "Email: 396 days without an interruption."


def test_a_streak_broken_this_month_is_not_claimed():
    earlier = [month_of() for _ in range(12)]
    ctx = context(month_of(pct=99.8, email=1, vpn=2, vpn_down_s=5357), *earlier)
    section = ctx["uptime"][0]
    assert section.streak == ""  # both services were interrupted in October
    lines = [line.text for line in section.lines]
    assert "The longest interruption was 89 minutes, on VPN." in lines
    assert not any("without an interruption" in line for line in lines)
    # a one-month run is no streak yet either
    assert context(month_of(), month_of(vpn=1))["uptime"][0].streak == "Email: 61 days without an interruption"
    assert context(month_of(), month_of(vpn=1, email=1))["uptime"][0].streak == ""


def test_no_history_still_frames_every_fact_in_words():
    ctx = context(month_of(resolved=466, blocked=42587))
    assert [(f.noun, f.framing, f.note) for f in ctx["headline"]] == [
        ("requests resolved", "21 requests every working day", ""),  # no year so far without the months before
        ("threats blocked", "a threat stopped every minute", ""),
        ("uptime", "an average of 45 minutes of interruption per system in the whole month", ""),
    ]
    assert all(f.reason == "default" and f.why.startswith("a default (") for f in ctx["headline"])
    assert ctx["uptime"][0].streak == ""


def test_a_part_of_a_month_gets_no_framing():
    partial = SourceResult.ok("mail-filter", "exchange_csv", "mail_security",
                              {"blocked_total": 20000, "phishing": 300, "covered_days": 15, "partial": True}).lifted()
    ctx = context([partial], *[[mail(40000, 700)] for _ in range(12)])
    blocked = fact(ctx, "threats blocked")
    assert (blocked.framing, blocked.note) == ("", "counted over 15 of 31 days")
    section = ctx["mail_security"][0]
    assert section.year_notes == {} and section.framings == {}
    assert section.lines[0].text == "20,000 threats blocked: counted over 15 of 31 days."


def test_rates_people_can_picture():
    october = Month(2026, 10)
    assert framing.working_days(october) == 22 and framing.working_days(Month(2026, 2)) == 20
    assert framing.per_working_day(466, october) == "21 requests every working day"
    assert framing.per_working_day(20, october) == "one request every working day"
    assert framing.per_working_day(5, october) == "one every 4 working days"
    assert framing.every(750, october, "phishing") == "a phishing email stopped every hour"  # 59.6 min
    assert framing.every(100_000, october, "blocked_total") == "a threat stopped every 27 seconds"
    assert framing.every(5_000_000, october, "blocked_total") == "2 threats stopped every second"
    assert framing.every(84, october, "malware") == "an email with malware stopped every 9 hours"


def test_an_interval_is_said_in_the_largest_unit_that_is_right_within_a_tenth():
    assert [framing.interval(s) for s in (1, 26, 61, 3780, 6000, 10800, 86400 * 2.05)] == [
        "every second", "every 26 seconds", "every minute", "every hour", "every 100 minutes", "every 3 hours",
        "every 2 days"]


def test_a_percentage_in_time_and_in_people():
    october = Month(2026, 10)  # 31 days and an hour (summer time ends)
    assert framing.interruption(99.96, october, 1) == "18 minutes of interruption in the whole month"
    assert framing.interruption(100.0, october, 4) == "not a single minute of interruption in the whole month"
    assert framing.interruption(99.99, october, 4) == "an average of 4 minutes of interruption per system in the " \
        "whole month"
    assert framing.interruption(99.9999, october, 1) == "less than a minute of interruption in the whole month"
    assert [framing.share(p) for p in (95, 50, 75, 92, 100, 2)] == [
        "19 in 20", "1 in 2", "3 in 4", "more than 9 in 10", "every", ""]
