"""What every help-desk collector shares: time parsing, record reading, and the collect step that
streams normalized Tickets into `aggregate_tickets`. The HTTP side (base_url, ca_bundle, the client)
is every HTTP source's, in common.py.

A vendor module only says how to ask its API for the month's tickets and how to read one record;
the numbers are computed here, the same way for every system (DESIGN.md, "Metric definitions").
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, ClassVar

from newsletter.binding import secret_values
from newsletter.collectors.aggregate import aggregate_tickets
from newsletter.collectors.common import HttpSource
from newsletter.errors import SourceError
from newsletter.http import HttpClient
from newsletter.period import Month
from newsletter.redaction import redacted_traceback
from newsletter.results import TicketStats

log = logging.getLogger(__name__)
# Some APIs read dates in the account's own time zone; asking for a day more on each side and
# letting the aggregator keep exactly the month is right whatever that zone is.
QUERY_SLACK = timedelta(days=1)


class TicketingCollector(HttpSource):
    """A help desk reached over HTTP (Settings: an `HttpSourceSettings`). Subclasses set `vendor`,
    `example_url` and implement `client()` and `tickets()`, a generator, so memory stays flat however
    many tickets there are."""

    kind = "ticketing"
    backlog_known: ClassVar[bool] = True  # False when the API cannot list old tickets still open
    csat_known: ClassVar[bool] = False  # True when the collector reads satisfaction ratings

    def collect(self, month: Month) -> TicketStats:
        client = self.client()
        try:
            stats = aggregate_tickets(self.tickets(client, month), month, backlog_known=self.backlog_known,
                                      now=self.clock())
        # A record not shaped as documented, or with a number no date can hold (minutes beyond the
        # year 9999, NaN): the vendor's, said so, never an "unexpected" error of the collector.
        except (AttributeError, TypeError, KeyError, ValueError, OverflowError) as exc:
            log.debug("%s: unexpected record shape:\n%s", self.name,
                      redacted_traceback(exc, secret_values(self.settings)))
            raise SourceError(f"{self.vendor} sent a ticket record in an unexpected shape "
                              f"({type(exc).__name__}); check base_url and the API version") from None
        if not self.reads_csat():  # no ratings read: their count is unknown, not zero
            stats = replace(stats, csat_responses=None)
        return stats

    def reads_csat(self) -> bool:
        return self.csat_known

    def client(self) -> HttpClient:
        raise NotImplementedError

    def tickets(self, client: HttpClient, month: Month) -> Iterator:
        raise NotImplementedError


def parse_time(value: Any, vendor: str, what: str, naive_tz: tzinfo = UTC) -> datetime | None:
    """A tz-aware datetime from ISO 8601 text, 'YYYY-MM-DD HH:MM:SS' (read in `naive_tz`) or epoch
    seconds; None for null, '' and the 1970 'empty date' some systems (RT) send for never."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            moment = datetime.fromtimestamp(value, UTC)
        else:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except (TypeError, ValueError, OverflowError):
        raise SourceError(f"{vendor} sent an unreadable date {str(value)[:40]!r} in {what}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=naive_tz)
    return None if moment.timestamp() <= 86400 else moment


def label(value: Any) -> str | None:
    """A category name from a plain value, an option ({name}/{value}) or a list of them (the first)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        for key in ("name", "value", "display_value", "Name"):
            if value.get(key):
                return str(value[key])
        nested = value.get("requestType")
        return label(nested) if nested else None
    if value is None or value == "":
        return None
    return str(value)


def utc_text(moment: datetime, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return moment.astimezone(UTC).strftime(fmt)


def expect(data: Any, key: str, kind: type, vendor: str, endpoint: str) -> Any:
    """data[key] of the expected type, or a SourceError naming the endpoint (a changed API or a proxy page)."""
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, kind):
        raise SourceError(f"{vendor} answered {endpoint} without a {key!r} {kind.__name__}; "
                          "check base_url and the API version")
    return value
