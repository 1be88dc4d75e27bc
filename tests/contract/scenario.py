"""One help desk's October 2026 in Europe/Berlin, worked out by hand; every vendor test serves it
in its own API's shape and must arrive at the same numbers.

Berlin is UTC+2 until 25 October 03:00, then UTC+1, so the month is
[2026-09-30T22:00Z, 2026-10-31T23:00Z). All times below are UTC.

| ticket | created (UTC)      | Berlin        | first response | resolved (UTC)     | counts as                    |
|--------|--------------------|---------------|----------------|--------------------|------------------------------|
| A      | 09-30 21:30        | 30 Sep 23:30  | +15 min        | 10-02 09:30        | resolved (36 h), not opened  |
| B      | 09-30 22:30        | 1 Oct 00:30   | +10 min        | 10-01 00:30        | opened, resolved (2 h)       |
| C      | 10-10 08:00        |               | +30 min        | open               | opened, backlog              |
| D      | 10-20 12:00        |               | none           | 10-31 23:30 (Nov)  | opened, backlog              |
| E      | 10-31 22:30        | 31 Oct 23:30  | +5 min         | 10-31 22:50        | opened, resolved (20 min)    |
| G      | 08-15 10:00        |               | +60 min        | open               | backlog (old)                |
| H      | 09-01 10:00        |               | +20 min        | 09-20 10:00        | nothing (before the month)   |
| I      | 10-31 23:30        | 1 Nov 00:30   | none           | open               | nothing (next month)         |
| X      | 10-05 10:00        |               | +5 min         | 10-05 11:00        | deleted: must not count      |

opened = B C D E = 4; resolved = A B E = 3; backlog_end = C D G = 3.
First responses of tickets opened in the month: B 600, C 1800, E 300 -> sorted 300, 600, 1800:
median (the middle of three values; of an even count it would be the mean of the two middle
values) 600 s, p90 (nearest rank, ceil(2.7) = 3) 1800 s.
Resolutions in the month: E 1200, B 7200, A 129600: median 7200 s, p90 129600 s.
A source that cannot see one of these (say C's first response) has two values left, and its
median is then their mean: 300 and 600 give 450 s.
Counted in UTC instead, B would fall in September and I in October: opened would still be 4 but
first responses and resolution times would differ, so the numbers check the time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from newsletter.period import Month

BERLIN = ZoneInfo("Europe/Berlin")
MONTH = Month(2026, 10, BERLIN)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    key: str
    number: int
    created: datetime
    first_response: datetime | None
    resolved: datetime | None
    deleted: bool = False

    @property
    def open(self) -> bool:
        return self.resolved is None


def _row(key: str, number: int, created: str, response_min: int | None, resolved: str | None,
         deleted: bool = False) -> Row:
    start = utc(created)
    first = start + timedelta(minutes=response_min) if response_min is not None else None
    return Row(key, number, start, first, utc(resolved) if resolved else None, deleted)


ROWS = [
    _row("A", 1, "2026-09-30 21:30", 15, "2026-10-02 09:30"),
    _row("B", 2, "2026-09-30 22:30", 10, "2026-10-01 00:30"),
    _row("C", 3, "2026-10-10 08:00", 30, None),
    _row("D", 4, "2026-10-20 12:00", None, "2026-10-31 23:30"),
    _row("E", 5, "2026-10-31 22:30", 5, "2026-10-31 22:50"),
    _row("G", 6, "2026-08-15 10:00", 60, None),
    _row("H", 7, "2026-09-01 10:00", 20, "2026-09-20 10:00"),
    _row("I", 8, "2026-10-31 23:30", None, None),
    _row("X", 9, "2026-10-05 10:00", 5, "2026-10-05 11:00", deleted=True),
]
LIVE = [r for r in ROWS if not r.deleted]

EXPECTED = {
    "opened": 4,
    "resolved": 3,
    "backlog_end": 3,
    "first_response_median_s": 600,
    "first_response_p90_s": 1800,
    "resolution_median_s": 7200,
    "resolution_p90_s": 129600,
}
