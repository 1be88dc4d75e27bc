"""The helpers every ticketing collector shares: dates, labels, and durations a
system measures itself (business minutes) going through the one aggregator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from newsletter.collectors.aggregate import aggregate_tickets
from newsletter.collectors.ticketing import label, parse_time
from newsletter.errors import SourceError
from newsletter.model import Ticket
from newsletter.period import Month

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-10-01T10:00:00Z", datetime(2026, 10, 1, 10, tzinfo=UTC)),
    ("2026-10-01T12:00:00.000+0200", datetime(2026, 10, 1, 10, tzinfo=UTC)),  # Jira
    ("2026-10-01 10:00:00", datetime(2026, 10, 1, 10, tzinfo=UTC)),  # ServiceNow, UTC
    (1790848800, datetime(2026, 10, 1, 10, tzinfo=UTC)),
    ("1970-01-01T00:00:00Z", None),  # RT's empty date
    ("1970-01-01 00:00:00", None),
    ("", None),
    (None, None),
])
def test_parse_time(value, expected):
    assert parse_time(value, "Acme", "created") == expected


def test_naive_times_take_the_given_zone():
    assert parse_time("2026-10-01 12:00:00", "Acme", "x", BERLIN) == datetime(2026, 10, 1, 10, tzinfo=UTC)


def test_unreadable_date_names_vendor_and_field():
    with pytest.raises(SourceError, match=r"Acme sent an unreadable date 'yesterday' in ticket 7 created"):
        parse_time("yesterday", "Acme", "ticket 7 created")


@pytest.mark.parametrize(("value", "expected"), [
    ("Hardware", "Hardware"), ({"name": "Incident"}, "Incident"), ({"value": "VPN"}, "VPN"),
    ([{"name": "Mail"}, {"name": "VPN"}], "Mail"), ([], None), (None, None), ("", None), (42, "42"),
    ({"requestType": {"name": "Get IT help"}}, "Get IT help"),
])
def test_label(value, expected):
    assert label(value) == expected


def test_system_durations_override_timestamps():
    """Business minutes: 1 h on the clock may be 20 business minutes; the month still comes from
    the timestamps."""
    month = Month(2026, 10, BERLIN)
    created = datetime(2026, 10, 5, 8, tzinfo=UTC)
    tickets = [
        Ticket("1", created, created + timedelta(hours=1), created + timedelta(hours=5),
               first_response_s=1200, resolution_s=3600),
        Ticket("2", created, created + timedelta(hours=1), created + timedelta(hours=5)),
        Ticket("3", created, resolved=datetime(2026, 11, 2, tzinfo=UTC), resolution_s=60),  # resolved in Nov
    ]
    stats = aggregate_tickets(tickets, month)
    assert (stats.opened, stats.resolved, stats.backlog_end) == (3, 2, 1)
    # first responses 1200 s (the system's) and 3600 s: median their mean, 2400 s; p90 rank 2
    assert stats.first_response_median_s == 2400 and stats.first_response_p90_s == 3600
    # resolutions 3600 s (the system's) and 18000 s: median 10800 s; p90 rank 2
    assert stats.resolution_median_s == 10800 and stats.resolution_p90_s == 18000
