from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from newsletter.period import Month, load_timezone

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def test_parse_explicit_month():
    month = Month.parse("2026-10", BERLIN)
    assert (month.year, month.month, month.label, month.name) == (2026, 10, "2026-10", "October 2026")


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-10", "October", "2026-1", ""])
def test_parse_rejects_bad_months(text):
    with pytest.raises(ValueError, match="YYYY-MM"):
        Month.parse(text, BERLIN)


def test_last_is_the_previous_month_in_the_configured_zone():
    # 23:30 UTC on 31 October is already 1 November in Berlin: "last" is October there, September in UTC.
    now = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
    assert Month.parse("last", BERLIN, now=now).label == "2026-10"
    assert Month.parse("last", UTC, now=now).label == "2026-09"


def test_last_in_january_is_december_of_the_year_before():
    assert Month.parse("last", BERLIN, now=datetime(2027, 1, 15, tzinfo=UTC)).label == "2026-12"


def test_window_is_local_midnight_to_local_midnight():
    month = Month(2026, 10, BERLIN)
    assert month.start == datetime(2026, 10, 1, tzinfo=BERLIN)
    assert month.start.astimezone(UTC) == datetime(2026, 9, 30, 22, 0, tzinfo=UTC)  # CEST, UTC+2
    assert month.end.astimezone(UTC) == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)  # CET, UTC+1


def test_dst_months_have_an_hour_more_or_less():
    assert Month(2026, 10, BERLIN).seconds == (31 * 24 + 1) * 3600  # clocks go back on 25 October
    assert Month(2026, 3, BERLIN).seconds == (31 * 24 - 1) * 3600  # clocks go forward on 29 March
    assert Month(2026, 11, NEW_YORK).seconds == (30 * 24 + 1) * 3600  # back on 1 November
    assert Month(2026, 10, UTC).seconds == 31 * 24 * 3600


@pytest.mark.parametrize(("year", "days"), [(2024, 29), (2028, 29), (2026, 28), (2100, 28), (2000, 29)])
def test_february_lengths_including_leap_years(year, days):
    month = Month(year, 2, BERLIN)
    assert month.days == days
    assert month.end == datetime(year, 3, 1, tzinfo=BERLIN)


def test_contains_is_half_open_and_zone_aware():
    month = Month(2026, 10, BERLIN)
    assert month.contains(month.start)
    assert not month.contains(month.end)
    assert month.contains(month.end - timedelta(microseconds=1))
    # 30 September 22:30 UTC is 1 October 00:30 in Berlin: inside October.
    assert month.contains(datetime(2026, 9, 30, 22, 30, tzinfo=UTC))
    assert not month.contains(datetime(2026, 9, 30, 21, 59, tzinfo=UTC))
    assert not month.contains(None)


def test_navigation_across_year_ends():
    month = Month(2026, 12, BERLIN)
    assert month.next().label == "2027-01"
    assert Month(2027, 1, BERLIN).previous().label == "2026-12"
    assert month.shift(-12).label == "2025-12"
    assert [m.label for m in Month(2026, 2, BERLIN).history(3)] == ["2025-11", "2025-12", "2026-01"]


def test_months_compare_by_calendar_only():
    assert Month(2026, 10, BERLIN) == Month(2026, 10, UTC)
    assert Month(2026, 9, BERLIN) < Month(2026, 10, BERLIN)


def test_unknown_timezone_is_explained():
    with pytest.raises(ValueError, match="IANA name"):
        load_timezone("Mars/Olympus")
