"""A month from daily snapshots (newsletter/snapshots.py): one reading per day of the workspace's zone,
the missing days named, on DST months too, from the store itself."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from newsletter.collectors.base import Snapshot
from newsletter.errors import SourceError
from newsletter.period import Month
from newsletter.snapshots import daily, describe_days, month_snapshots
from newsletter.store import Store

BERLIN = ZoneInfo("Europe/Berlin")
OCTOBER = Month(2026, 10, BERLIN)  # 25 October 2026: clocks go back, a day of 25 hours
AFTER = datetime(2026, 11, 2, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN)


@pytest.mark.parametrize(("days", "words"), [
    ([3], "3 October"),
    ([3, 17, 18, 19], "3 and 17–19 October"),
    ([1, 2, 5, 9, 10], "1–2, 5 and 9–10 October"),
])
def test_missing_days_are_written_as_people_write_them(days, words):
    assert describe_days(date(2026, 10, day) for day in days) == words


def test_days_across_two_months_name_each_month():
    across = [date(2026, 9, 30), date(2026, 10, 1), date(2026, 10, 4)]
    assert describe_days(across) == "30 September–1 October and 4 October"
    assert describe_days([date(2026, 9, 29), date(2026, 10, 4)]) == "29 September and 4 October"


def test_one_reading_per_day_of_the_zone_the_last_of_each_day_and_the_missing_days_named():
    snapshots = [Snapshot(at(day, 6), {"day": day}) for day in range(1, 32) if day not in (3, 17, 18, 19)]
    snapshots.append(Snapshot(at(5, 23, 30), {"day": "5 late"}))  # 21:30 UTC: still the 5th in Berlin
    snapshots.append(Snapshot(at(1, 0, 10, month=11), {"day": "November"}))  # another month: left out
    found = daily(sorted(snapshots, key=lambda s: s.taken_at), OCTOBER, AFTER)
    assert found.covered_days == 27 and found.expected == 31 and found.partial
    assert found.missing == (date(2026, 10, 3), date(2026, 10, 17), date(2026, 10, 18), date(2026, 10, 19))
    assert found.days[date(2026, 10, 5)].reading == {"day": "5 late"}
    assert found.first.reading == {"day": 1} and found.last.reading == {"day": 31}
    assert found.warnings() == (
        "no snapshot on 3 and 17–19 October: these numbers cover 27 of the 31 days of October 2026; "
        "'newsletter run' (daily from cron) or 'newsletter snapshot' stores one every day "
        "(docs/running.md, daily snapshots)",)


def test_a_reading_just_after_midnight_in_the_zone_belongs_to_that_day_not_to_the_utc_one():
    # 00:30 on 26 October in Berlin (after the clocks went back) is 23:30 UTC on the 25th
    found = daily([Snapshot(at(26, 0, 30).astimezone(UTC), {"n": 1})], OCTOBER, AFTER)
    assert list(found.days) == [date(2026, 10, 26)]


def test_a_rolling_window_reading_stands_for_the_day_its_window_mostly_covers():
    # a 1-day ratio read at 06:00 on 1 November is mostly 31 October's; one read at 06:00 on 1 October
    # is mostly September's
    snapshots = [Snapshot(at(1, 6), {"n": "sep"}), Snapshot(at(1, 6, month=11), {"n": "oct 31"})]
    found = daily(snapshots, OCTOBER, AFTER, shift=timedelta(hours=12))
    assert {day.day: s.reading["n"] for day, s in found.days.items()} == {31: "oct 31"}


def test_a_month_still_running_misses_only_the_days_it_has_had():
    now = at(10, 12)
    found = daily([Snapshot(at(day, 6), {}) for day in range(1, 11) if day != 4], OCTOBER, now)
    assert found.expected == 10 and found.missing == (date(2026, 10, 4),)
    assert "cover 9 of the 10 days of October 2026 so far" in found.warnings()[0]


def test_every_day_covered_is_whole_and_says_nothing():
    found = daily([Snapshot(at(day, 23), {}) for day in range(1, 32)], OCTOBER, AFTER)
    assert not found.partial and found.warnings() == () and found.covered_days == 31


def test_the_month_is_read_from_the_store_in_the_zone_and_refused_without_any_snapshot(tmp_path):
    with Store(tmp_path / "newsletter.db") as store:
        for day in (24, 25, 26):  # the 25 hours of 25 October: its first and last minute are the 25th
            store.save_snapshot("uptime", at(day, 0, 1), {"day": day})
        store.save_snapshot("uptime", at(25, 23, 59), {"day": "25 late"})
        store.save_snapshot("other", at(20, 12), {"day": 20})
        found = month_snapshots(store, "uptime", OCTOBER, AFTER)
        assert [(d.day, s.reading["day"]) for d, s in found.days.items()] == [(24, 24), (25, "25 late"), (26, 26)]
        with pytest.raises(SourceError, match=r"no snapshot of source uptime in November 2026.*'newsletter snapshot'"):
            month_snapshots(store, "uptime", OCTOBER.next(), datetime(2026, 12, 2, tzinfo=UTC))
    with pytest.raises(SourceError, match="needs the workspace store"):
        month_snapshots(None, "uptime", OCTOBER, AFTER)


def test_a_reading_on_a_months_first_day_is_found_when_that_day_changes_the_clocks(tmp_path):
    """1 November 2026 ends daylight saving time in Chicago: the month's window is shifted in elapsed
    time, not on the wall clock, or that day's reading falls outside it."""
    chicago = ZoneInfo("America/Chicago")
    november = Month(2026, 11, chicago)
    with Store(tmp_path / "s.db") as store:
        store.save_snapshot("kuma", datetime(2026, 11, 1, 11, 30, tzinfo=chicago), {"monitors": []})
        days = month_snapshots(store, "kuma", november, datetime(2026, 12, 3, tzinfo=UTC), window=timedelta(days=1))
    assert date(2026, 11, 1) in days.days
