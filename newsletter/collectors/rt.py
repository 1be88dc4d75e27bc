"""Request Tracker 5 through REST2: `GET /REST/2.0/tickets` with TicketSQL, page by page.

RT records no "first reply" time. It does record `Started`: the moment a ticket first left the
`new` status, which RT does on the first correspondence from staff or when someone opens or takes
the ticket. That is what this collector reports as first response. RT writes never-set dates as
1970-01-01 ("empty date"); they are read as unknown. RT has no SLA or CSAT.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from newsletter.binding import Secret
from newsletter.collectors.common import HttpSourceSettings, check_range
from newsletter.collectors.ticketing import QUERY_SLACK, TicketingCollector, expect, label, parse_time, utc_text
from newsletter.errors import ConfigError, SourceError
from newsletter.http import HttpClient, PageGuard
from newsletter.model import Ticket
from newsletter.period import Month

SEARCH = "/REST/2.0/tickets"


@dataclass(frozen=True, kw_only=True)
class RequestTrackerSettings(HttpSourceSettings):
    token: Secret  # an auth token (Logged in as the user: Settings > Auth Tokens)
    queues: list[str] | None = None  # only these queues; None: every queue the token's user sees
    query: str = ""  # more TicketSQL, ANDed with the dates
    active_statuses: list[str] | None = None  # statuses that mean "still open"; default new, open, stalled
    category: Literal["queue", "none"] = "queue"
    page_size: int = 100


class RequestTracker(TicketingCollector):
    """Request Tracker 5 REST2 (header `Authorization: token ...`)."""

    type = "rt"
    vendor = "Request Tracker"
    example_url = "https://rt.example.com"
    Settings = RequestTrackerSettings

    def validate(self) -> None:
        super().validate()
        check_range(self.name, "page_size", self.settings.page_size, 1, 100)
        for queue in self.settings.queues or []:
            if not queue or "'" in queue:
                raise ConfigError(f"source {self.name}: queues: {queue!r} is not a queue name")

    def client(self) -> HttpClient:
        token = self.settings.token.reveal()
        return self.http_client(credential_hint=f"{self.settings.token.hint} (RT auth token)", secrets=(token,),
                                headers={"Authorization": f"token {token}"})

    def ticket_sql(self, month: Month) -> str:
        """Tickets created before the month's end and resolved after its start or still active,
        a day wider each side because RT reads query dates in the token user's time zone."""
        start = utc_text(month.start - QUERY_SLACK)
        end = utc_text(month.end + QUERY_SLACK)
        parts = [f"Created < '{end}'", f"(Resolved >= '{start}' OR Status = '__Active__')"]
        if self.settings.queues:
            parts.append("(" + " OR ".join(f"Queue = '{q}'" for q in self.settings.queues) + ")")
        if self.settings.query.strip():
            parts.append(f"({self.settings.query.strip()})")
        return " AND ".join(parts)

    def tickets(self, client: HttpClient, month: Month) -> Iterator[Ticket]:
        guard = PageGuard(self.vendor)
        params = {"query": self.ticket_sql(month), "fields": "Created,Started,Resolved,Status,Queue",
                  "fields[Queue]": "Name", "orderby": "id", "order": "ASC", "per_page": self.settings.page_size}
        page = 1
        while True:
            guard.next_page(page)
            data = client.get_json(SEARCH, params={**params, "page": page})
            items = expect(data, "items", list, self.vendor, SEARCH)
            for item in items:
                if item.get("Status") != "deleted":  # RT hides them from searches; be sure
                    yield self.ticket(item)
            # An empty page ends a listing RT counted (`pages`), not one it filters by rights in code.
            if not _has_next(data, page) or (not items and data.get("pages") is not None):
                return
            guard.rows(len(items))
            page = _next_page_number(data, page)

    def ticket(self, item: dict) -> Ticket:
        key = str(item.get("id"))
        created = parse_time(item.get("Created"), self.vendor, f"ticket {key} Created")
        if created is None:
            raise SourceError(f"{self.vendor} sent ticket {key} without Created; check the token's rights")
        active = self.settings.active_statuses or ["new", "open", "stalled"]
        resolved = parse_time(item.get("Resolved"), self.vendor, f"ticket {key} Resolved")
        return Ticket(
            id=key, created=created,
            first_response=parse_time(item.get("Started"), self.vendor, f"ticket {key} Started"),
            resolved=None if item.get("Status") in active else resolved,
            category=label(item.get("Queue")) if self.settings.category == "queue" else None,
        )


def _next_page_number(data: dict, page: int) -> int:
    """The page `next_page` names. Checking rights in code (the token's user may not see every
    queue), RT sends no total, may show none of a page's rows and names the next page that holds
    one the user sees, several pages on: an empty page there is not the end."""
    link: Any = data.get("next_page")
    if isinstance(link, str):
        named = parse_qs(urlsplit(link).query).get("page", [""])[-1]
        if named.isdigit() and int(named) > page:
            return int(named)
    return page + 1


def _has_next(data: dict, page: int) -> bool:
    """RT 5 sends `next_page` except on the last page; older 5.0 releases only `pages`."""
    if data.get("next_page"):
        return True
    pages = data.get("pages")
    return isinstance(pages, int) and page < pages and "next_page" not in data
