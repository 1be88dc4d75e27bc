"""Freshdesk API v2: the tickets list with `updated_since` and `include=stats`, oldest change first,
and the satisfaction ratings given since the month began.

`GET /api/v2/tickets` lists only the last 30 days unless `updated_since` is given, so it always is:
the month's first instant, in UTC. The listing returns tickets *changed* since then; the collector
keeps those created or resolved in the month, and old tickets still open but untouched are not
listed, so the backlog at the month's end is reported as unknown. The search API is not used: it
stops at 300 results. Sorted by `updated_at` ascending, the list is read again after each page
from the last change seen (a ticket served twice counts once), never by page number: a ticket
changed meanwhile moves to the end, and paging by number would skip the one that moved up past a
page's edge. (The list also stops after 300 pages, which this never reaches but within one moment.)

CSAT comes from `GET /api/v2/surveys/satisfaction_ratings?created_since=...`: a ticket's latest
rating of the default question counts. Freshdesk's scale runs from -103 (extremely unhappy) through
100 (neutral) to 103 (extremely happy): 101, 102 and 103 are positive, the rest are not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from newsletter.binding import Secret
from newsletter.collectors.common import HttpSourceSettings, check_range
from newsletter.collectors.ticketing import QUERY_SLACK, TicketingCollector, expect, label, parse_time, utc_text
from newsletter.errors import SourceError
from newsletter.http import HttpClient, PageGuard
from newsletter.model import Ticket
from newsletter.period import Month
from newsletter.results import TicketStats

TICKETS = "/api/v2/tickets"
RATINGS = "/api/v2/surveys/satisfaction_ratings"
RESOLVED_STATUSES = (4, 5)  # 4 resolved, 5 closed
WINDOW_PAGES = 300  # the list answers no page past this one (only tickets of one moment are paged by number)
POSITIVE = 100  # ratings above neutral (101 happy, 102 very happy, 103 extremely happy)
ZULU = "%Y-%m-%dT%H:%M:%SZ"
EARLIEST = datetime.min.replace(tzinfo=UTC)  # a rating without a date: older than any dated one
REFUSED = ("Freshdesk refused the satisfaction ratings (403): CSAT unknown; set csat = false if the plan has no "
           "Surveys, or let the API key's agent see them")


@dataclass(frozen=True, kw_only=True)
class FreshdeskSettings(HttpSourceSettings):
    api_key: Secret
    category_field: str | None = "type"  # a ticket attribute: "type", "group_id", "product_id", ...
    csat: bool = True  # read the satisfaction ratings (needs the Surveys feature of the plan)
    page_size: int = 100


class Freshdesk(TicketingCollector):
    """Freshdesk (Basic auth: the API key as user name, `X` as password)."""

    type = "freshdesk"
    vendor = "Freshdesk"
    example_url = "https://yourcompany.freshdesk.com"
    backlog_known = False
    Settings = FreshdeskSettings

    def validate(self) -> None:
        super().validate()
        check_range(self.name, "page_size", self.settings.page_size, 1, 100)

    def reads_csat(self) -> bool:
        return self.settings.csat and not self._ratings_refused

    def collect(self, month: Month) -> TicketStats:
        """A 403 for the ratings (a plan without Surveys, csat being on by default) loses CSAT only;
        a rating with an unreadable date loses its ticket's rating only."""
        self._ratings_refused = False
        self._undated: dict[int, str] = {}  # ticket id -> why its rating is left out
        stats = super().collect(month)
        notes = [REFUSED] if self._ratings_refused else []
        if self._undated:
            (ticket, why), more = next(iter(self._undated.items())), len(self._undated) - 1
            notes.append(f"{why}: the rating of ticket {ticket} is left out of CSAT"
                         + (f" (and those of {more} more tickets, for the same reason)" if more else ""))
        return replace(stats, warnings=(*stats.warnings, *notes)) if notes else stats

    def client(self) -> HttpClient:
        key = self.settings.api_key.reveal()
        return self.http_client(credential_hint=f"{self.settings.api_key.hint} (API key)", secrets=(key,),
                                auth=(key, "X"))

    def tickets(self, client: HttpClient, month: Month) -> Iterator[Ticket]:
        guard = PageGuard(self.vendor)
        ratings = self.ratings(client, month, guard) if self.settings.csat else {}
        since, page = utc_text(month.start, ZULU), 1
        while True:
            guard.next_page((since, page))
            answer = client.fetch_json("GET", TICKETS, params=self._list_params(since, page))
            rows = expect({"tickets": answer.data}, "tickets", list, self.vendor, TICKETS)
            last_change = None
            for row in rows:
                if row.get("deleted") is not True and row.get("spam") is not True:
                    yield self.ticket(row, ratings)
                last_change = row.get("updated_at") or last_change
            if not answer.next_link() or not rows:
                return
            guard.rows(len(rows))
            since, page = self._next_page(since, page, last_change)

    def _next_page(self, since: str, page: int, last_change: Any) -> tuple[str, int]:
        """The list again from the last change seen (page 1), not the next page number: a ticket
        changed while the list is read moves to its end, and every ticket behind it one place up,
        so paging by number would never see the one that crossed a page's edge. The tickets of that
        last moment come again (the aggregation counts each id once). A page whose tickets all
        changed at one moment is followed by the next page of that moment."""
        moment = parse_time(last_change, self.vendor, "a ticket's updated_at")
        start = parse_time(since, self.vendor, "updated_since")
        if moment is not None and start is not None and moment > start:
            return utc_text(moment, ZULU), 1
        if page >= WINDOW_PAGES:
            raise SourceError(f"{self.vendor} listed {WINDOW_PAGES} pages of tickets changed at one moment "
                              f"({since}); cannot page further ({TICKETS})")
        return since, page + 1

    def _list_params(self, since: str, page: int) -> dict[str, Any]:
        return {"updated_since": since, "include": "stats", "per_page": self.settings.page_size, "page": page,
                "order_by": "updated_at", "order_type": "asc"}

    def ratings(self, client: HttpClient, month: Month, guard: PageGuard) -> dict[int, bool]:
        """ticket id -> whether its latest rating (of the default question) is positive."""
        latest: dict[int, tuple[datetime, bool]] = {}
        params = {"created_since": utc_text(month.start - QUERY_SLACK, ZULU), "per_page": 100}
        page = 1
        while True:
            guard.next_page(("ratings", page))
            response = client.request("GET", RATINGS, params={**params, "page": page}, accept=(403,))
            if response.status_code == 403:
                self._ratings_refused = True
                return {}
            answer = client.decode(response)
            rows = expect({"ratings": answer.data}, "ratings", list, self.vendor, RATINGS)
            for row in rows:
                try:
                    rated = self._rating(row)
                except SourceError as exc:  # which of its ratings is the latest is unknown: none counts
                    self._undated.setdefault(row["ticket_id"], str(exc))
                    continue
                if rated is not None:
                    ticket, at, positive = rated
                    if ticket not in latest or latest[ticket][0] <= at:
                        latest[ticket] = (at, positive)
            if not answer.next_link() or not rows:
                return {ticket: positive for ticket, (_, positive) in latest.items() if ticket not in self._undated}
            page += 1

    def _rating(self, row: dict) -> tuple[int, datetime, bool] | None:
        value = (row.get("ratings") or {}).get("default_question")
        ticket = row.get("ticket_id")
        if not isinstance(value, int) or isinstance(value, bool) or not isinstance(ticket, int):
            return None  # a rating of a custom question only, or no ticket: nothing to count
        at = parse_time(row.get("created_at"), self.vendor, f"rating {row.get('id')} created_at")
        return ticket, at or EARLIEST, value > POSITIVE

    def ticket(self, row: dict, ratings: dict[int, bool]) -> Ticket:
        key = row.get("id")
        stats = row.get("stats") or {}
        created = parse_time(row.get("created_at"), self.vendor, f"ticket {key} created_at")
        if created is None:
            raise SourceError(f"{self.vendor} sent ticket {key} without created_at ({TICKETS})")
        done = stats.get("resolved_at") or stats.get("closed_at")
        resolved = parse_time(done, self.vendor, f"ticket {key} resolved_at")
        field = self.settings.category_field
        escalations = [row.get(k) for k in ("fr_escalated", "is_escalated") if isinstance(row.get(k), bool)]
        return Ticket(
            id=str(key), created=created,
            resolved=resolved if row.get("status") in RESOLVED_STATUSES else None,
            first_response=parse_time(stats.get("first_responded_at"), self.vendor, f"ticket {key} first response"),
            category=label(row.get(field)) if field else None,
            sla_breached=any(escalations) if escalations else None,
            csat_positive=ratings.get(key) if isinstance(key, int) else None,
        )
