"""What the backup collectors share: the span of the month they measure and the longest gap.

A month that is not over yet is measured up to the moment of collection, and says so (partial),
so a gap does not grow into a future nobody has seen. Spans are in UTC: Python subtracts two times
of the same zone by their wall clocks, so a Berlin October would lose the hour summer time gives
back on its last Sunday.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import pairwise

from newsletter.period import Month


def measured_span(month: Month, now: datetime) -> tuple[datetime, datetime, tuple[str, ...]]:
    """The month's start and the end of what can be measured (the month's end, or now when
    earlier), in UTC, and the warning that the month is not over yet, if it is not."""
    start = month.start.astimezone(UTC)
    if now >= month.end:
        return start, month.end.astimezone(UTC), ()
    so_far = f"{now.astimezone(month.tz):%Y-%m-%d %H:%M}"
    return start, now.astimezone(UTC), (f"{month} is not over yet: the figures cover it up to {so_far}",)


def longest_gap(good: Iterable[datetime], start: datetime, until: datetime) -> int:
    """The longest stretch in [start, until] without a good run, in seconds (rounded): between the
    start and the first good run, between two good runs, and between the last one and `until`.
    Without any good run it is the whole span."""
    moments = sorted(m.astimezone(UTC) for m in good if start <= m <= until)
    edges = [start.astimezone(UTC), *moments, until.astimezone(UTC)]
    return round(max((later - earlier).total_seconds() for earlier, later in pairwise(edges)))
