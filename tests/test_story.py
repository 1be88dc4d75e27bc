"""The headline rules (compose/story.py) on hand-made histories: records, improvements, short
history, a worse month, missing sources; and the sentences people read. The framings of each
fact (compose/framing.py) are tests/test_framing.py's."""

from __future__ import annotations

from newsletter import i18n
from newsletter.compose.context import build_context
from newsletter.compose.story import headline_facts, record_span
from newsletter.model import SourceResult
from newsletter.period import Month

OCTOBER = Month(2026, 10)


def tickets(resolved=None, first=None, csat=None) -> SourceResult:
    return SourceResult.ok("helpdesk", "demo_ticketing", "ticketing", {
        "resolved": resolved, "first_response_median_s": first, "csat_pct": csat, "top_categories": []})


def mail(blocked=None, phishing=None) -> SourceResult:
    return SourceResult.ok("mail-filter", "demo_mail_security", "mail_security",
                           {"blocked_total": blocked, "phishing": phishing})


def uptime(pct=None) -> SourceResult:
    services = [{"name": "Email", "uptime_pct": pct, "downtime_s": 0, "incidents": 0, "longest_outage_s": 0}]
    return SourceResult.ok("monitoring", "demo_uptime", "uptime", {"services": services, "overall_uptime_pct": pct})


def history_of(*months: list[SourceResult]) -> dict[str, list[SourceResult]]:
    """The given months end with September 2026: the last one is the month before October."""
    return {OCTOBER.shift(-len(months) + n).label: results for n, results in enumerate(months)}


def context(now: list[SourceResult], *earlier: list[SourceResult]) -> dict:
    return build_context(OCTOBER, now, history_of(*earlier), {"company": "Example", "team": "IT"})


def steady(n: int, **values) -> list[list[SourceResult]]:
    return [[tickets(resolved=values.get("resolved", 400), first=values.get("first", 900)),
              mail(blocked=values.get("blocked", 40000)), uptime(values.get("pct", 99.9))] for _ in range(n)]


def test_a_record_over_a_year_leads_the_hero():
    ctx = context([tickets(resolved=520, first=900), mail(blocked=40000), uptime(99.9)], *steady(12))
    facts = ctx["headline"]
    assert facts[0].reason == "record"
    assert facts[0].title == "Most requests resolved in a year"
    assert facts[0].value == "520"
    assert facts[0].note == "the most in a year"
    assert facts[0].tone == "neutral"  # a volume's record is context, not a verdict
    assert len(facts) == 3
    assert len({f.key for f in facts}) == 3


def test_fastest_first_answer_is_a_record_because_lower_is_better():
    ctx = context([tickets(resolved=400, first=600), mail(blocked=40000), uptime(99.9)], *steady(8))
    record = next(f for f in ctx["headline"] if f.reason == "record")
    assert record.title == "Fastest first answer in 9 months"
    assert record.value == "10 minutes"


def test_no_record_with_short_history_but_sensible_defaults():
    ctx = context([tickets(resolved=900, first=60), mail(blocked=50000), uptime(100.0)], *steady(2))
    facts = ctx["headline"]
    assert all(f.reason != "record" for f in facts)
    assert len(facts) == 3
    # with no history at all only the defaults remain, in their documented order
    bare = context([tickets(resolved=400, first=900), mail(blocked=40000), uptime(99.9)])
    assert [f.noun for f in bare["headline"]] == ["requests resolved", "threats blocked", "uptime"]
    assert all(f.reason == "default" and f.note == "" for f in bare["headline"])


def test_improvement_over_last_month_beats_a_default():
    ctx = context([tickets(resolved=400, first=600), mail(blocked=40000), uptime(99.9)],
                  *steady(1, first=900))
    first = next(f for f in ctx["headline"] if f.noun == "to a first answer")
    assert first.reason == "improvement"
    assert first.note == "5 minutes faster than September"
    assert ctx["headline"][0] is first


def test_improvement_over_the_average_when_last_month_was_better_still_is_not_claimed():
    # September was even faster than October: October is worse, so no win, even though it beats the average
    months = [*steady(6, first=1200), [tickets(resolved=400, first=300), mail(40000), uptime(99.9)]]
    ctx = context([tickets(resolved=400, first=700), mail(blocked=40000), uptime(99.9)], *months)
    assert all(f.noun != "to a first answer" or f.reason == "default" for f in ctx["headline"])


def test_a_worse_month_is_never_spun_as_a_win():
    ctx = context([tickets(resolved=300, first=1800), mail(blocked=30000), uptime(99.2)], *steady(12))
    facts = ctx["headline"]
    # uptime and the first answer got worse: stating them proudly would need spin, so they are no hero
    # fact; fewer requests and fewer threats are context, said without a verdict
    assert [(f.noun, f.reason, f.tone) for f in facts] == [("requests resolved", "default", "neutral"),
                                                           ("threats blocked", "default", "neutral")]
    assert [f.note for f in facts] == ["3,900 since January", "390,000 since January"]
    # the sections below still say it, in red: the one place a worse service level shows
    lines = {line.key: line for line in ctx["uptime"][0].lines}
    assert (lines["overall_uptime_pct"].note, lines["overall_uptime_pct"].tone) == \
        ("down 0.7 points from September", "bad")
    first = next(line for line in ctx["ticketing"][0].lines if line.key == "first_response_median_s")
    assert (first.note, first.tone) == ("15 minutes slower than September", "bad")
    resolved = next(line for line in ctx["ticketing"][0].lines if line.key == "resolved")
    assert (resolved.note, resolved.tone) == ("3,900 since January", "neutral")


def test_missing_sources_offer_nothing_and_unknown_never_reads_zero():
    failed = SourceResult.failed("mail-filter", "rspamd", "mail_security", "rspamd answered 401")
    ctx = context([tickets(resolved=400, first=None), failed], *steady(3))
    facts = ctx["headline"]
    assert [f.noun for f in facts] == ["requests resolved"]
    assert ctx["ticketing"][0].summary == "We resolved 400 requests."
    assert ctx["mail_security"][0].summary == ""
    nothing = context([])
    assert nothing["headline"] == []


def test_at_most_two_facts_from_one_kind_of_source():
    # every help-desk number is a record; one slot still goes to another source
    ctx = context([tickets(resolved=900, first=60, csat=99.0), mail(blocked=40000), uptime(99.9)],
                  *[[tickets(resolved=400, first=900, csat=90.0), mail(40000), uptime(99.9)]] * 12)
    kinds = [f.kind for f in ctx["headline"]]
    assert kinds.count("ticketing") == 2 and len(kinds) == 3


def test_section_sentences_carry_the_comparison_in_plain_words():
    ctx = context([tickets(resolved=466, first=720), mail(blocked=48213, phishing=750), uptime(99.98)],
                  [tickets(resolved=545, first=900), mail(blocked=45000, phishing=700), uptime(99.9)])
    # a volume's change is context the full layout's figures show; a service level's is said
    assert ctx["ticketing"][0].summary == ("We resolved 466 requests, and the typical first answer came within "
                                           "12 minutes (3 minutes faster than September).")
    assert ctx["mail_security"][0].summary == ("We stopped 48,213 threats before they reached anyone, "
                                               "750 of them phishing emails.")
    assert ctx["uptime"][0].summary == ("The systems you rely on were available 99.98% of the time "
                                        "(up 0.08 points from September), without a single interruption.")


def test_history_months_with_gaps_count_as_unknown():
    gap = {OCTOBER.shift(-3).label: steady(1)[0], OCTOBER.shift(-1).label: steady(1)[0]}
    ctx = build_context(OCTOBER, steady(1)[0], gap, {})
    figure = ctx["ticketing"][0].figures["resolved"]
    assert figure.history == (400, None, 400)
    assert figure.previous == 400


def test_a_record_over_everything_ever_stored_is_the_best_yet():
    now = [tickets(resolved=400, first=600), mail(blocked=40000), uptime(99.9)]
    ctx = build_context(OCTOBER, now, history_of(*steady(7)), {"history_complete": True})
    record = next(f for f in ctx["headline"] if f.reason == "record")
    assert record.title == "Fastest first answer yet"
    assert record.note == "the fastest yet"


def test_record_span_words():
    assert record_span(5) == "in 6 months"
    assert record_span(11) == "in a year"
    assert record_span(12) == "in a year"


def test_headline_limit_and_no_duplicates():
    ctx = context([tickets(resolved=520, first=600), mail(blocked=40000), uptime(99.9)], *steady(12))
    assert len(headline_facts(ctx, limit=5)) <= 5
    keys = [f.key for f in headline_facts(ctx, limit=5)]
    assert len(keys) == len(set(keys))


def test_numbers_and_durations_as_people_say_them():
    from newsletter.compose import formatting

    assert formatting.number(48213) == "48,213"
    assert formatting.duration(22320) == "6.2 hours"
    assert formatting.duration(840) == "14 minutes"
    assert formatting.percent(100.0) == "100%"
    assert formatting.percent(99.9812) == "99.98%"
    assert formatting.fit(["466 requests resolved", "42,587 threats blocked", "99.96% uptime"], 46) == \
        "466 requests resolved · 42,587 threats blocked"
    assert formatting.fit(["a very long first part"], 5) == ""


def test_a_percentage_and_its_change_are_shown_at_the_same_precision():
    # CSAT 98.3% after 99.38%: shown as "98%", so its change is a whole point, never "1.08 points"
    ctx = context([tickets(resolved=400, first=900, csat=98.3)], [tickets(resolved=400, first=900, csat=99.38)])
    csat = ctx["ticketing"][0].figures["csat_pct"]
    assert (csat.display, csat.comparison) == ("98%", "down 1 point from September")
    # one decimal below 10%, two from 99% (uptime): the change keeps the value's decimals at most
    low = context([tickets(csat=8.25)], [tickets(csat=9.33)])["ticketing"][0].figures["csat_pct"]
    assert (low.display, low.comparison) == ("8.2%", "down 1.1 points from September")
    up = context([uptime(99.98)], [uptime(99.904)])["uptime"][0].figures["overall_uptime_pct"]
    assert (up.display, up.comparison) == ("99.98%", "up 0.08 points from September")


def test_a_change_too_small_to_show_at_that_precision_is_the_same():
    # 95.2% and 94.9% both read "95%": "down 0 points" would be nonsense, "down 0.3 points" a false precision
    csat = context([tickets(csat=94.9)], [tickets(csat=95.2)])["ticketing"][0].figures["csat_pct"]
    assert (csat.display, csat.comparison, csat.verdict) == ("95%", "the same as September", "same")
    # 98.19% then 98.6% read "98%" then "99%": a point up, as anyone comparing the two works it out
    sla = context([tickets(csat=98.6)], [tickets(csat=98.19)])["ticketing"][0].figures["csat_pct"]
    assert (sla.display, sla.previous_display, sla.comparison, sla.verdict) == (
        "99%", "98%", "up 1 point from September", "better")


def test_a_fall_across_the_two_decimal_line_is_worse_not_the_same():
    # 98.6% reads "99%" and 99.40% "99.40%": rounding both at 98.6's precision would make them the same
    up = context([uptime(98.6)], [uptime(99.4)])["uptime"][0].figures["overall_uptime_pct"]
    assert (up.display, up.previous_display, up.verdict) == ("99%", "99.40%", "worse")
    assert up.comparison == "down 0.4 points from September"


def test_a_share_below_100_is_never_shown_as_100():
    from newsletter.compose import formatting

    assert formatting.percent(99.996) == "99.99%" and formatting.percent(99.9949) == "99.99%"
    assert formatting.percent(100.0) == "100%" and formatting.percent(99.5) == "99.50%"
    up = context([uptime(99.996)], [uptime(99.99)])["uptime"][0].figures["overall_uptime_pct"]
    assert (up.display, up.verdict) == ("99.99%", "same")


def test_points_are_written_at_the_precision_given():
    from newsletter.compose import formatting

    assert formatting.percent_decimals(98.3) == 0 and formatting.percent_decimals(8.25) == 1
    assert formatting.percent_decimals(99.98) == 2 and formatting.percent_decimals(100.0) == 0
    assert formatting.points(-1.08, 0) == "1 point"
    assert formatting.points(1.08, 1) == "1.1 points"
    assert formatting.points(0.7, 2) == "0.7 points"
    assert formatting.points(2.0, 2) == "2 points"
    assert formatting.points(0.3, 0) == "0 points"


def test_an_earlier_month_measured_in_part_is_not_summed_beaten_or_compared_with():
    from newsletter.compose.context import build_context
    from newsletter.model import SourceResult
    from newsletter.period import Month

    def mail(blocked: int, days: int | None = None) -> SourceResult:
        metrics = {"blocked_total": blocked, "spam": blocked}
        if days is not None:
            metrics |= {"partial": True, "warnings": ["late start"], "covered_days": days}
        return SourceResult.ok("mail", "rspamd", "mail_security", metrics).lifted()

    history = {"2026-01": [mail(20000)], "2026-02": [mail(3000, days=4)], "2026-03": [mail(21000)]}
    [section] = build_context(Month(2026, 4), [mail(20500)], history, {})["mail_security"]
    assert "since January" not in section.year_notes.get("blocked_total", "")
    march = build_context(Month(2026, 3), [mail(21000)], history, {})["mail_security"][0].figures["blocked_total"]
    assert march.previous is None and march.comparison in ("", None)


def test_two_services_of_one_name_each_show_their_own_figures_and_no_borrowed_comparison():
    """Two monitors both called "Email" cannot be told apart in an earlier month: neither borrows the
    first one's history, and the second shows its own uptime, not the first one's."""
    def services(*rows: tuple[str, float]) -> SourceResult:
        listed = [{"name": n, "uptime_pct": pct, "downtime_s": 0, "incidents": 0, "longest_outage_s": 0}
                  for n, pct in rows]
        return SourceResult.ok("monitoring", "demo_uptime", "uptime", {"services": listed, "overall_uptime_pct": 99.0})

    ctx = context([services(("Email", 99.5), ("Email", 98.0), ("VPN", 99.9))],
                  [services(("Email", 99.0), ("Email", 100.0), ("VPN", 99.8))])
    figures = [s["figures"]["uptime_pct"] for s in ctx["uptime"][0].items]
    shown = {(s["name"], f.display): f for s, f in zip(ctx["uptime"][0].items, figures, strict=True)}
    assert set(shown) == {("Email", "99.50%"), ("Email", "98%"), ("VPN", "99.90%")}
    assert shown["Email", "99.50%"].comparison == shown["Email", "98%"].comparison == ""
    assert shown["VPN", "99.90%"].comparison == "up 0.1 points from September"


def custom(**values: float | None) -> SourceResult:
    return SourceResult.ok("team-numbers", "metrics_file", "custom", {"values": {
        name: {"value": value, "label": name, "unit": "count", "better": ""} for name, value in values.items()}})


def test_a_custom_count_with_decimals_shows_them_and_its_change_as_shown():
    """6.2 hand-counted days is not '6'; a count that is whole stays whole; the change is the shown one's."""
    ctx = context([custom(days=6.2, laptops=42, ratio=6.0)], [custom(days=5.0, laptops=40, ratio=5.2)])
    days, laptops, ratio = (ctx["metrics"][k] for k in ("days", "laptops", "ratio"))
    assert (days.display, days.previous_display, days.comparison) == ("6.2", "5", "1.2 more than September")
    assert (laptops.display, laptops.comparison) == ("42", "2 more than September")
    assert (ratio.display, ratio.previous_display, ratio.comparison) == ("6", "5.2", "0.8 more than September")
    with i18n.speaking("de"):
        german = context([custom(days=6.2)], [custom(days=5.0)])["metrics"]["days"]
        assert (german.display, german.comparison) == ("6,2", "1,2 mehr als im September")
