"""The one place where metrics are defined (DESIGN.md, "Metric definitions").

Every ticketing collector streams normalized Tickets into `aggregate_tickets`; every uptime
collector that sees outages (rather than a ready ratio) goes through `service_uptime`.
A median is the middle value (of an even count, the mean of the two middle values); p90 is
nearest-rank, so it is always the value of a real ticket. Each ticket
id counts once, and a ticket whose dates cannot be true is left out with a warning.
"""

from __future__ import annotations

import logging
import math
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from newsletter.model import Ticket
from newsletter.period import Month
from newsletter.results import ServiceUptime, TicketStats, uptime_pct

log = logging.getLogger(__name__)
CLOCK_SLACK_S = 300  # a help desk's clock a few minutes ahead of ours does not make a date "future"


def nearest_rank(sorted_values: Sequence[float], pct: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least pct% of values at or below it."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def median(sorted_values: Sequence[float]) -> float | None:
    """The middle value; of an even count, the mean of the two middle values (the usual definition,
    so 1 h and 3 h have a median of 2 h, not 1 h)."""
    if not sorted_values:
        return None
    middle, odd = divmod(len(sorted_values), 2)
    if odd:
        return sorted_values[middle]
    return (sorted_values[middle - 1] + sorted_values[middle]) / 2


def _top(counts: Counter[str], top: int) -> tuple[tuple[str, int], ...]:
    """The `top` most common, ties by name (case-insensitively, then exactly): the same month ranks
    the same way on every run, whatever order the help desk sent its tickets in."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0].casefold(), item[0]))
    return tuple(ranked[:top])


def _seconds(value: float | None) -> int | None:
    return None if value is None else round(value)


def _pct(part: int, whole: int) -> float | None:
    """A share to 2 decimals, never rounded up onto 100 when one of the whole is missing from it."""
    if not whole:
        return None
    return min(round(100 * part / whole, 2), 99.99) if part < whole else 100.0


class _SeenIds:
    """The ticket ids seen so far, compactly: a month of 100,000 tickets would otherwise hold
    100,000 id strings and a hash table for them (about 10 MB, most of what the aggregator keeps).

    Ids written as plain decimal numbers (what RT, Zendesk and GLPI send) are kept as 8-byte
    integers in one sorted array, searched by bisection; the newest ones wait in a small set that
    is merged into the array once it holds an eighth of it.
    Any other id ("IT-42", "0042", a number too long for 8 bytes) is kept as it is in a set, so
    two ids are the same ticket exactly when their strings are equal, as before.
    """

    MIN_PENDING = 4096

    def __init__(self) -> None:
        self._sorted = array("q")
        self._pending: set[int] = set()
        self._other: set[str] = set()

    def add(self, ticket_id: str) -> bool:
        """Remember `ticket_id`; False when it was already seen."""
        if not (ticket_id.isascii() and ticket_id.isdigit() and len(ticket_id) <= 18
                and (ticket_id[0] != "0" or ticket_id == "0")):
            if ticket_id in self._other:
                return False
            self._other.add(ticket_id)
            return True
        number = int(ticket_id)
        if number in self._pending:
            return False
        if self._sorted and number <= self._sorted[-1]:  # ids mostly grow: most need no search
            at = bisect_left(self._sorted, number)
            if self._sorted[at] == number:
                return False
        self._pending.add(number)
        if len(self._pending) >= max(self.MIN_PENDING, len(self._sorted) // 8):
            self._merge()
        return True

    def _merge(self) -> None:
        """The pending ids into the sorted array: the runs of the array between them are copied
        whole (ids mostly grow, so usually there is one run: the whole array)."""
        merged, old, at = array("q"), self._sorted, 0
        for number in sorted(self._pending):
            to = bisect_left(old, number, at)
            merged.extend(old[at:to])
            merged.append(number)
            at = to
        merged.extend(old[at:])
        self._sorted, self._pending = merged, set()


@dataclass
class _Screen:
    """Lets each ticket id through once (the first time: a repeated page or a shifted offset serves
    one again) and keeps out tickets dated after the collection or resolved before they were
    created, counting them for the warning."""

    latest: float  # no date may be later than this (the collection, plus CLOCK_SLACK_S)
    seen: _SeenIds = field(default_factory=_SeenIds)
    repeated: int = 0
    future: int = 0
    backwards: int = 0

    def admit(self, ticket: Ticket, created: float, done: float | None) -> bool:
        if not self.seen.add(ticket.id):
            self.repeated += 1
            return False
        if created > self.latest or (done is not None and done > self.latest):
            self.future += 1
            return False
        if done is not None and done < created:
            self.backwards += 1
            return False
        return True

    def warnings(self) -> tuple[str, ...]:
        if self.repeated:
            log.debug("%d tickets were served more than once and counted once", self.repeated)
        left_out = self.future + self.backwards
        if not left_out:
            return ()
        why = [f"{self.future} dated after the collection" if self.future else "",
               f"{self.backwards} resolved before it was created" if self.backwards else ""]
        return (f"{left_out} ticket{'s' if left_out != 1 else ''} left out of the figures: "
                f"{', '.join(w for w in why if w)}; check the help desk's dates (and its clock)",)


def aggregate_tickets(
    tickets: Iterable[Ticket], month: Month, *, backlog_known: bool = True, top: int = 5,
    now: datetime | None = None,
) -> TicketStats:
    """Stats for `month` from tickets that include every ticket created or resolved in it.

    `backlog_known=False` when the collector could not fetch tickets created before the month
    that are still open: backlog_end is then unknown (None), not a wrong small number. `now` is when
    the tickets were collected: a ticket dated after it is left out (without `now`, none is).
    """
    start, end = month.start.timestamp(), month.end.timestamp()
    screen = _Screen(now.timestamp() + CLOCK_SLACK_S if now else math.inf)
    opened = resolved = backlog = sla_total = sla_met = rated = positive = 0
    # Durations as 8-byte floats in arrays, not lists of number objects (a quarter of the size);
    # seconds, whole or not, are held exactly, so every median and percentile is what it was.
    first_responses = array("d")
    resolutions = array("d")
    categories: Counter[str] = Counter()
    for ticket in tickets:
        created = ticket.created.timestamp()
        done = ticket.resolved.timestamp() if ticket.resolved else None
        if not screen.admit(ticket, created, done):
            continue
        if created < end and (done is None or done >= end):
            backlog += 1
        if start <= created < end:
            opened += 1
            if ticket.category:
                categories[ticket.category] += 1
            wait = ticket.first_response_s
            if wait is None and ticket.first_response is not None:
                wait = ticket.first_response.timestamp() - created
            if wait is not None and wait >= 0:
                first_responses.append(wait)
        if done is not None and start <= done < end:
            resolved += 1
            took = ticket.resolution_s if ticket.resolution_s is not None else done - created
            if took >= 0:
                resolutions.append(took)
            if ticket.sla_breached is not None:
                sla_total += 1
                sla_met += not ticket.sla_breached
            if ticket.csat_positive is not None:
                rated += 1
                positive += ticket.csat_positive
    first_responses = array("d", sorted(first_responses))
    resolutions = array("d", sorted(resolutions))
    warnings = screen.warnings()
    return TicketStats(
        opened=opened,
        resolved=resolved,
        backlog_end=backlog if backlog_known else None,
        first_response_median_s=_seconds(median(first_responses)),
        first_response_p90_s=_seconds(nearest_rank(first_responses, 90)),
        resolution_median_s=_seconds(median(resolutions)),
        resolution_p90_s=_seconds(nearest_rank(resolutions, 90)),
        sla_met_pct=_pct(sla_met, sla_total),
        csat_pct=_pct(positive, rated),
        csat_responses=rated,
        top_categories=_top(categories, top),
        # The month is still wholly covered: tickets that cannot be true are left out and said so,
        # but that is no reason to hold the edition back as `partial` (which is about coverage).
        partial=False,
        warnings=warnings,
    )


@dataclass(frozen=True)
class Outage:
    """A period when a service was down; `end=None` means still down."""

    start: datetime
    end: datetime | None


def service_uptime(
    name: str, outages: Iterable[Outage], month: Month, *, monitored_from: datetime | None = None,
    monitored_until: datetime | None = None,
) -> ServiceUptime:
    """Uptime over the part of the month the service was monitored (from its creation, until its
    pause); overlapping outages merge."""
    start, end = month.start.timestamp(), month.end.timestamp()
    if monitored_from is not None:
        start = max(start, monitored_from.timestamp())
    if monitored_until is not None:
        end = min(end, monitored_until.timestamp())
    if start >= end:
        return ServiceUptime(name, None, None, None, None, status="not_monitored")
    spans = sorted(
        (max(o.start.timestamp(), start), min(o.end.timestamp() if o.end else end, end)) for o in outages
    )
    merged: list[list[float]] = []
    for lo, hi in spans:
        if hi <= lo:
            continue
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    downtime = sum(hi - lo for lo, hi in merged)
    return ServiceUptime(
        name=name,
        uptime_pct=uptime_pct(100 * (1 - downtime / (end - start))),
        downtime_s=round(downtime),
        incidents=len(merged),
        longest_outage_s=round(max((hi - lo for lo, hi in merged), default=0)),
    )
