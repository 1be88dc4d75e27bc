"""The reporting month: a tz-aware half-open window [first day 00:00, next first day 00:00)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_skeleton

from newsletter.i18n import locale

FIRST_YEAR, LAST_YEAR = 1970, 9998  # a month's history and a year's end stay within datetime's years
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


def load_timezone(name: str) -> ZoneInfo:
    """Return the zone, or raise ValueError with a hint (callers add the file and key)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r}: use an IANA name such as 'Europe/Berlin'") from exc


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in a time zone. Months compare and hash by (year, month) only."""

    year: int
    month: int
    tz: ZoneInfo = field(compare=False, hash=False, default=ZoneInfo("UTC"))

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month must be 1..12, got {self.month}")

    @classmethod
    def parse(cls, text: str, tz: ZoneInfo, now: datetime | None = None) -> Month:
        """Parse 'YYYY-MM' or 'last' (the month before the current one, in `tz`)."""
        text = text.strip()
        if text == "last":
            current = (now or datetime.now(UTC)).astimezone(tz)
            return cls(current.year, current.month, tz).previous()
        match = _MONTH_RE.match(text)
        if not match or not 1 <= int(match[2]) <= 12:
            raise ValueError(f"expected a month as YYYY-MM or 'last', got {text!r}")
        if not FIRST_YEAR <= int(match[1]) <= LAST_YEAR:
            raise ValueError(f"expected a month of the years {FIRST_YEAR} to {LAST_YEAR}, got {text!r}")
        return cls(int(match[1]), int(match[2]), tz)

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def name(self) -> str:
        """'October 2026' ('Oktober 2026', 'octubre de 2026'): the current language's way (newsletter.i18n)."""
        return format_skeleton("yMMMM", self.first_day, locale=locale())

    @property
    def short_name(self) -> str:
        """'October' ('Oktober', 'octobre'), standing alone."""
        return format_date(self.first_day, "LLLL", locale=locale())

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def start(self) -> datetime:
        """First instant of the month in its zone."""
        return datetime(self.year, self.month, 1, tzinfo=self.tz)

    @property
    def end(self) -> datetime:
        """First instant of the next month (exclusive end)."""
        return self.next().start

    @property
    def seconds(self) -> int:
        """Real elapsed seconds, so DST months have an hour more or less."""
        return int(self.end.timestamp() - self.start.timestamp())

    @property
    def days(self) -> int:
        return (self.next().first_day - self.first_day).days

    def contains(self, moment: datetime | None) -> bool:
        """True when the tz-aware moment falls in [start, end)."""
        if moment is None:
            return False
        return self.start.timestamp() <= moment.timestamp() < self.end.timestamp()

    def next(self) -> Month:
        year, month = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return Month(year, month, self.tz)

    def previous(self) -> Month:
        year, month = (self.year - 1, 12) if self.month == 1 else (self.year, self.month - 1)
        return Month(year, month, self.tz)

    def shift(self, months: int) -> Month:
        index = self.year * 12 + (self.month - 1) + months
        return Month(index // 12, index % 12 + 1, self.tz)

    def history(self, count: int) -> list[Month]:
        """The `count` months before this one, oldest first."""
        return [self.shift(-n) for n in range(count, 0, -1)]

    def days_iter(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range(self.days)]

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True)
class Year:
    """A calendar year, for the year-in-review edition; its label ('2026') keys the edition."""

    year: int
    tz: ZoneInfo = field(compare=False, hash=False, default=ZoneInfo("UTC"))

    @classmethod
    def parse(cls, text: str, tz: ZoneInfo) -> Year:
        if not re.fullmatch(r"\d{4}", text.strip()) or not FIRST_YEAR <= int(text) <= LAST_YEAR:
            raise ValueError(f"expected a year as YYYY, from {FIRST_YEAR} to {LAST_YEAR}, got {text!r}")
        return cls(int(text), tz)

    @property
    def label(self) -> str:
        return f"{self.year:04d}"

    name = label

    @property
    def months(self) -> list[Month]:
        return [Month(self.year, number, self.tz) for number in range(1, 13)]

    def __str__(self) -> str:
        return self.label
