"""What the backup collectors share: the span of the month they measure and the longest gap.

A month that is not over yet is measured up to the moment of collection, and says so (partial),
so a gap does not grow into a future nobody has seen.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from itertools import pairwise

from newsletter.period import Month


def measured_until(month: Month, now: datetime) -> tuple[datetime, tuple[str, ...]]:
    """The end of what can be measured (the month's end, or now when earlier) and the warning
    that the month is not over yet, if it is not."""
    if now >= month.end:
        return month.end, ()
    return now, (f"{month} is not over yet: the figures cover it up to {now.astimezone(month.tz):%Y-%m-%d %H:%M}",)


def longest_gap(good: Iterable[datetime], start: datetime, until: datetime) -> int:
    """The longest stretch in [start, until] without a good run, in seconds (rounded): between the
    start and the first good run, between two good runs, and between the last one and `until`.
    Without any good run it is the whole span."""
    moments = sorted(m for m in good if start <= m <= until)
    edges = [start, *moments, until]
    return round(max((later - earlier).total_seconds() for earlier, later in pairwise(edges)))
