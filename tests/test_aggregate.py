"""The metric definitions, worked out by hand on small ticket sets."""

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from newsletter.collectors.aggregate import Outage, aggregate_tickets, median, nearest_rank, service_uptime
from newsletter.model import Ticket
from newsletter.period import Month

BERLIN = ZoneInfo("Europe/Berlin")
OCT = Month(2026, 10, BERLIN)


def at(day: int, hour: int = 12, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=BERLIN)


def ticket(created, first=None, resolved=None, **kw) -> Ticket:
    return Ticket(id=str(id(created)), created=created, first_response=first, resolved=resolved, **kw)


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        ([], 50, None),
        ([7], 50, 7),
        ([7], 90, 7),
        ([1, 2], 50, 1),  # nearest rank: ceil(0.5 * 2) = 1st value
        ([1, 2, 3], 50, 2),
        ([1, 2, 3, 4], 50, 2),
        (list(range(1, 11)), 90, 9),  # ceil(0.9 * 10) = 9th
        (list(range(1, 12)), 90, 10),  # ceil(0.9 * 11) = 10th
        (list(range(1, 101)), 90, 90),
    ],
)
def test_nearest_rank(values, pct, expected):
    assert nearest_rank(values, pct) == expected


def test_counts_durations_and_shares():
    tickets = [
        # created in October, first answer after 10 min, resolved after 2 h, SLA met, rated good
        ticket(at(5), at(5).replace(minute=10), at(5, 14), category="Printing", sla_breached=False,
               csat_positive=True),
        # created in October, answered after 30 min, resolved after 26 h, SLA breached, rated bad
        ticket(at(6), at(6).replace(minute=30), at(7, 14), category="Printing", sla_breached=True,
               csat_positive=False),
        # created in October, never answered, still open: counts in backlog
        ticket(at(20), category="VPN"),
        # created in September, resolved in October after 5 days: resolved, not opened
        ticket(at(28, 12, month=9), at(28, 13, month=9), at(3), category="VPN", sla_breached=False),
        # created in September and resolved in September: neither
        ticket(at(1, 12, month=9), None, at(2, 12, month=9)),
        # created in October, resolved in November: opened, and open at month's end
        ticket(at(31), at(31, 13), at(2, 12, month=11), category="VPN"),
    ]
    stats = aggregate_tickets(tickets, OCT)
    assert stats.opened == 4
    assert stats.resolved == 3
    assert stats.backlog_end == 2
    # first responses of October tickets: 600 s, 1800 s, 3600 s -> median 1800, p90 3600
    assert (stats.first_response_median_s, stats.first_response_p90_s) == (1800, 3600)
    # resolutions in October: 2 h, 26 h, 5 days -> median 26 h, p90 5 days
    assert stats.resolution_median_s == 26 * 3600
    assert stats.resolution_p90_s == 5 * 86400
    assert stats.sla_met_pct == pytest.approx(66.67)
    assert (stats.csat_pct, stats.csat_responses) == (50.0, 2)
    assert stats.top_categories == (("Printing", 2), ("VPN", 2))  # equal counts: by name


@pytest.mark.parametrize("order", [["VPN", "Printing", "Email", "VPN", "Printing"],
                                   ["Printing", "VPN", "Email", "Printing", "VPN"]])
def test_top_categories_with_equal_counts_rank_by_name_whatever_the_vendor_order(order):
    tickets = [Ticket(f"IT-{n}", at(5 + n), category=name) for n, name in enumerate(order)]
    tickets += [Ticket("IT-9", at(20), category="Accounts")]
    stats = aggregate_tickets(tickets, OCT, top=3)
    assert stats.top_categories == (("Printing", 2), ("VPN", 2), ("Accounts", 1))


@pytest.mark.parametrize(
    ("values", "expected"),
    [([], None), ([7], 7), ([1, 2], 1.5), ([1, 2, 3], 2), ([1, 2, 3, 4], 2.5), ([1, 1, 5, 9], 3)],
)
def test_median_of_an_even_count_is_the_mean_of_the_two_middle_values(values, expected):
    assert median(values) == expected


def test_even_count_median_in_the_stats_and_p90_stays_nearest_rank():
    # resolutions 1 h, 2 h, 4 h, 8 h: median (2 h + 4 h) / 2 = 3 h; p90 rank ceil(3.6) = 4 -> 8 h
    tickets = [Ticket(f"IT-{hours}", at(5), None, at(5, 12 + hours)) for hours in (1, 2, 4, 8)]
    stats = aggregate_tickets(tickets, OCT)
    assert (stats.resolution_median_s, stats.resolution_p90_s) == (3 * 3600, 8 * 3600)
    # 15 s and 16 s: the mean 15.5 s rounds to whole seconds like every duration
    halves = [Ticket("IT-a", at(6), at(6).replace(second=15)), Ticket("IT-b", at(7), at(7).replace(second=16))]
    assert aggregate_tickets(halves, OCT).first_response_median_s == 16


def test_unknown_stays_unknown_never_zero():
    stats = aggregate_tickets([ticket(at(5))], OCT, backlog_known=False)
    assert stats.opened == 1 and stats.resolved == 0
    assert stats.backlog_end is None
    assert stats.first_response_median_s is None and stats.resolution_median_s is None
    assert stats.sla_met_pct is None and stats.csat_pct is None
    assert stats.csat_responses == 0


def test_month_boundaries_follow_the_configured_zone():
    # 30 September 22:30 UTC is October in Berlin; 31 October 23:30 UTC is November there.
    early = ticket(datetime(2026, 9, 30, 22, 30, tzinfo=UTC))
    late = ticket(datetime(2026, 10, 31, 23, 30, tzinfo=UTC))
    assert aggregate_tickets([early, late], OCT).opened == 1
    assert aggregate_tickets([early, late], Month(2026, 10, UTC)).opened == 1
    assert aggregate_tickets([late], Month(2026, 10, UTC)).opened == 1
    assert aggregate_tickets([late], OCT).opened == 0


def test_uptime_merges_overlaps_and_clips_to_the_month():
    start = OCT.start
    outages = [
        Outage(start - timedelta(minutes=30), start + timedelta(minutes=30)),  # 30 min inside October
        Outage(start + timedelta(days=2), start + timedelta(days=2, minutes=20)),
        Outage(start + timedelta(days=2, minutes=10), start + timedelta(days=2, minutes=50)),  # overlaps
        Outage(OCT.end - timedelta(minutes=5), None),  # still down at the end
    ]
    service = service_uptime("Email", outages, OCT)
    assert service.downtime_s == (30 + 50 + 5) * 60
    assert service.incidents == 3
    assert service.longest_outage_s == 50 * 60
    assert service.uptime_pct == pytest.approx(100 * (1 - 85 * 60 / OCT.seconds), abs=1e-4)


def test_uptime_of_a_service_monitored_from_mid_month():
    halfway = OCT.start + timedelta(days=15)
    service = service_uptime("VPN", [Outage(halfway, halfway + timedelta(hours=1))], OCT, monitored_from=halfway)
    window = OCT.end.timestamp() - halfway.timestamp()
    assert service.uptime_pct == pytest.approx(100 * (1 - 3600 / window), abs=1e-4)


def test_uptime_unknown_before_monitoring_started():
    service = service_uptime("New", [], OCT, monitored_from=OCT.end + timedelta(days=1))
    assert service.uptime_pct is None and service.downtime_s is None


NOW = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)  # collected after the month


def test_a_ticket_served_twice_counts_once():
    first = Ticket("IT-1", at(5), at(5, 13), at(6), category="VPN", sla_breached=True, csat_positive=False)
    other = Ticket("IT-2", at(7), at(7, 14), None, category="VPN")
    again = first._replace(resolved=None)  # a later page showing it again: the first one read is kept
    stats = aggregate_tickets([first, other, again, other], OCT, now=NOW)
    assert (stats.opened, stats.resolved, stats.backlog_end) == (2, 1, 1)
    # first responses 1 h (IT-1, as first read) and 2 h (IT-2): median 1.5 h
    assert stats.first_response_median_s == 5400 and stats.resolution_median_s == 86400
    assert stats.top_categories == (("VPN", 2),) and stats.sla_met_pct == 0.0 and stats.csat_responses == 1
    assert stats.warnings == () and stats.partial is False


def test_impossible_dates_are_left_out_with_a_warning_that_says_how_many():
    good = Ticket("IT-1", at(5), at(5, 13), at(6))
    tickets = [
        good,
        Ticket("IT-2", NOW + timedelta(days=3)),  # created after the collection
        Ticket("IT-3", at(10), None, NOW + timedelta(hours=2)),  # resolved after it
        Ticket("IT-4", at(12), None, at(11)),  # resolved before it was created
        Ticket("IT-5", at(20), None, at(20)),  # resolved the moment it was created: possible
    ]
    stats = aggregate_tickets(tickets, OCT, now=NOW)
    assert (stats.opened, stats.resolved, stats.backlog_end) == (2, 2, 0)
    # resolutions 0 s (IT-5) and 1 day (IT-1): median half a day; p90 rank 2
    assert stats.resolution_median_s == 43200 and stats.resolution_p90_s == 86400
    assert stats.partial is False  # the month is covered whole; the warning says what was left out
    assert stats.warnings == ("3 tickets left out of the figures: 2 dated after the collection, 1 resolved "
                              "before it was created; check the help desk's dates (and its clock)",)


def test_a_vendor_clock_a_little_ahead_is_not_the_future():
    ahead = Ticket("IT-1", at(5), None, NOW + timedelta(minutes=2))
    late = aggregate_tickets([ahead], OCT, now=NOW)
    assert late.warnings == () and late.backlog_end == 1  # kept: open at the month's end
    assert aggregate_tickets([Ticket("IT-2", NOW + timedelta(days=1))], OCT).warnings == ()  # no now, no check


def test_metrics_carry_the_warnings_without_calling_the_month_partial():
    metrics = aggregate_tickets([Ticket("IT-1", at(12), None, at(11))], OCT, now=NOW).metrics()
    assert metrics["partial"] is False and metrics["warnings"][0].startswith("1 ticket left out of the figures: 1 ")


def test_numeric_ids_count_once_however_many_tickets_come_between():
    """Ids are kept compactly (numbers as 8-byte integers, merged into a sorted array as they grow): a
    ticket served again long after it was first read, or every ticket served again at the end, still
    counts once; ids that only look alike ("0042", "42 ", "٤٢") are other tickets."""
    count = 50_000
    tickets = [Ticket(str(n), at(1 + n % 28), at(1 + n % 28, 13)) for n in range(count)]
    random.Random(13).shuffle(tickets)  # ids in no order, as an export sorted by update time sends them
    again = [tickets[0], tickets[count // 2], tickets[-1], tickets[7_000]]
    lookalikes = [Ticket(i, at(3)) for i in ("0042", "42 ", "٤٢", "-42", "+42", "99999999999999999999")]
    stats = aggregate_tickets([*tickets[:30_000], *again, *tickets[30_000:], *again, *lookalikes, *tickets,
                               *lookalikes], OCT, now=NOW)
    assert stats.opened == count + len(lookalikes)
    assert stats.backlog_end == count + len(lookalikes)
    assert stats.first_response_median_s == 3600


def test_a_share_just_below_100_is_not_rounded_up_to_it():
    """One breach among 30,000 resolved tickets is 99.997% met: not "100%" beside the breach."""
    tickets = [Ticket(id=str(n), created=at(2), resolved=at(3), sla_breached=n == 0, csat_positive=n != 0)
               for n in range(30_000)]
    stats = aggregate_tickets(tickets, OCT)
    assert stats.sla_met_pct == 99.99 and stats.csat_pct == 99.99
    assert aggregate_tickets(tickets[1:], OCT).sla_met_pct == 100
