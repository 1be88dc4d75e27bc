"""A month from daily snapshots: one reading per day of the month, in the workspace's time zone.

Some systems cannot answer "what happened in October" after October: Uptime Kuma's /metrics holds
ratios over fixed rolling windows, Gatus and StatusCake keep 30 days, Proofpoint TAP 7 days, and
rspamd counts since its last restart. Their collectors set `Collector.needs_snapshots` and
implement `take_snapshot()`; `newsletter snapshot` and the daily `run` store a reading every day
(collect.take_snapshots), and `collect()` reads the month back through `month_snapshots`:

    days = month_snapshots(self.state, self.name, month, self.clock(), window=timedelta(days=1))
    ...  # days.readings(): one per covered day; days.first / days.last for a state (devices)
    return UptimeStats(..., partial=days.partial or None, warnings=days.warnings(),
                       covered_days=days.covered_days)

A day is a calendar day of `month.tz` (23 or 25 hours on a DST change). A reading over a rolling
window stands for the day in which the middle of its window falls: a 1-day ratio read at 06:00 on
2 October is mostly 1 October's. Of several readings for one day, the last one is kept. A day of
the month that has begun by `now` without a reading is missing: the month is then partial, and
the warning names the days ("no snapshot on 3 and 17–19 October: ...").
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from newsletter.binding import secret_values
from newsletter.collectors.base import Collector, Snapshot, SnapshotState
from newsletter.errors import SourceError
from newsletter.period import Month
from newsletter.redaction import redact

SCHEDULE_HINT = ("'newsletter run' (daily from cron) or 'newsletter snapshot' stores one every day "
                 "(docs/running.md, daily snapshots)")


@dataclass(frozen=True)
class DailySnapshots:
    """One reading per covered day of `month`, and the days of it that have none."""

    month: Month
    days: dict[date, Snapshot]  # day -> its reading, in day order
    missing: tuple[date, ...]  # days that have begun by `now` without a reading
    expected: int  # days of the month that have begun by `now` (all of them once it is over)

    @property
    def covered_days(self) -> int:
        return len(self.days)

    @property
    def partial(self) -> bool:
        """True when a day the month has had so far has no reading."""
        return bool(self.missing)

    @property
    def first(self) -> Snapshot | None:
        """The earliest day's reading (the state at the month's start, for a state such as devices)."""
        return next(iter(self.days.values()), None)

    @property
    def last(self) -> Snapshot | None:
        """The latest day's reading (the state at the month's end)."""
        return next(reversed(self.days.values()), None)

    def readings(self) -> list[dict[str, Any]]:
        """The covered days' readings, oldest first."""
        return [snapshot.reading for snapshot in self.days.values()]

    def coverage(self) -> str:
        """'October 2026: 27 of 31 days (no snapshot on 3 and 17–19 October)', as `history` lists it."""
        so_far = " so far" if self.expected < self.month.days else ""
        gaps = f" (no snapshot on {describe_days(self.missing)})" if self.missing else ""
        return f"{self.month.name}: {self.covered_days} of {self.expected} days{so_far}{gaps}"

    def warnings(self) -> tuple[str, ...]:
        """The standard warning naming the missing days, or nothing when every day has a reading."""
        if not self.missing:
            return ()
        so_far = " so far" if self.expected < self.month.days else ""
        return (f"no snapshot on {describe_days(self.missing)}: these numbers cover {self.covered_days} of the "
                f"{self.expected} days of {self.month.name}{so_far}; {SCHEDULE_HINT}",)


def month_snapshots(state: SnapshotState | None, source: str, month: Month, now: datetime, *,
                    window: timedelta = timedelta(0)) -> DailySnapshots:
    """The stored readings of `source` for `month`, one per day (see the module's docstring).

    `window`: the rolling window a reading covers (the collector's `snapshot_window`: a 1-day ratio,
    timedelta(days=1)); zero for a reading of the state at the moment it is taken. SourceError when
    there is no store, or when no day of the month has a reading: the month cannot be told, not
    even in part."""
    if state is None:
        raise SourceError(f"source {source} needs the workspace store to keep its daily snapshots")
    found = stored_days(state, source, month, now, window=window)
    if not found.days:
        raise SourceError(f"no snapshot of source {source} in {month.name}, so the month cannot be told: its "
                          f"system keeps no history of its own; {SCHEDULE_HINT}")
    return found


def save_reading(collector: Collector, state: SnapshotState, taken_at: datetime, reading: Mapping[str, Any]) -> None:
    """Store `reading` of `collector`'s source at `taken_at` as the store will keep it (JSON), after
    checking it: SourceError, and nothing stored, when it holds a secret of the source's settings in
    any wire form; TypeError or ValueError when it is not JSON. Every stored reading comes through here
    (`newsletter snapshot`, the daily run and a collection alike)."""
    text = json.dumps(dict(reading), sort_keys=True)
    if redact(text, secret_values(collector.settings)) != text:
        raise SourceError(f"collector {collector.type!r} put a secret of the source into its snapshot; not stored "
                          "(the collector needs fixing)")
    state.save_snapshot(collector.name, taken_at, json.loads(text))


def month_after_reading_now(collector: Collector, month: Month, system: str) -> tuple[DailySnapshots, list[str]]:
    """`month_snapshots` of `collector`'s source after storing its reading of now (`take_snapshot`),
    so a collection counts today too; with the month's warnings. When `system` (its name in the
    warning: "Uptime Kuma") cannot be read now, the days stored still tell the month, with a
    warning while that reading would have been one of the month's; with none stored, that failure
    is the error."""
    state, now, window = collector.state, collector.clock(), collector.snapshot_window
    if state is None:
        raise SourceError(f"source {collector.name} needs the workspace store to keep its daily snapshots")
    try:
        save_reading(collector, state, now, collector.take_snapshot())
        unread = None
    except SourceError as exc:
        unread = exc
    try:
        days = month_snapshots(state, collector.name, month, now, window=window)
    except SourceError:
        if unread is not None:
            raise unread from None
        raise
    warnings = list(days.warnings())
    if unread is not None and month.contains(now - window / 2):
        warnings.append(f"{system} could not be read now ({unread}): counted from the days stored")
    return days, warnings


def stored_days(state: SnapshotState, source: str, month: Month, now: datetime, *,
                window: timedelta = timedelta(0)) -> DailySnapshots:
    """month_snapshots without its refusal: also for a month with no reading at all (`history`)."""
    shift = window / 2  # in elapsed time (UTC): a month's first day may be the 23 or 25 hours of a DST change
    start, end = month.start.astimezone(UTC) + shift, month.end.astimezone(UTC) + shift
    return daily(state.snapshots(source, start, end), month, now, shift=shift)


def daily(snapshots: Iterable[Snapshot], month: Month, now: datetime, *,
          shift: timedelta = timedelta(0)) -> DailySnapshots:
    """One reading per day of `month` from `snapshots` (oldest first): each stands for the day of
    `taken_at - shift` in the month's zone; of one day's, the last is kept."""
    days: dict[date, Snapshot] = {}
    for snapshot in snapshots:
        day = (snapshot.taken_at.astimezone(UTC) - shift).astimezone(month.tz).date()
        if month.first_day <= day < month.next().first_day:
            days[day] = snapshot
    begun = [day for day in month.days_iter() if _day_start(day, month) <= now]
    ordered = {day: days[day] for day in sorted(days)}
    return DailySnapshots(month, ordered, tuple(day for day in begun if day not in days), len(begun))


def describe_days(days: Iterable[date]) -> str:
    """Days as people write them: '3 and 17–19 October', '30 September–1 October and 4 October'."""
    runs: list[list[date]] = []
    for day in sorted(days):
        if runs and day - runs[-1][-1] == timedelta(days=1):
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for index, run in enumerate(runs):
        last_of_month = index == len(runs) - 1 or runs[index + 1][0].month != run[-1].month
        if run[0].month != run[-1].month:  # across months: both named
            parts.append(f"{run[0].day} {run[0]:%B}–{run[-1].day} {run[-1]:%B}")
            continue
        span = f"{run[0].day}" if len(run) == 1 else f"{run[0].day}–{run[-1].day}"
        parts.append(f"{span} {run[-1]:%B}" if last_of_month else span)
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _day_start(day: date, month: Month) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=month.tz)
