"""Freshservice v2: `GET /api/v2/tickets?updated_since=...&include=stats`, page by page.

`updated_since` returns tickets changed since the month began (without it, only the last 30
days). The collector keeps those created or resolved in the month; old tickets still open but
untouched are not listed, so the backlog at the month's end is reported as unknown.
Paging follows the `Link: rel="next"` header, which the last page does not carry.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from newsletter.binding import Secret
from newsletter.collectors.common import HttpSourceSettings, check_range
from newsletter.collectors.ticketing import TicketingCollector, expect, label, parse_time, utc_text
from newsletter.errors import ConfigError, SourceError
from newsletter.http import HttpClient, PageGuard
from newsletter.model import Ticket
from newsletter.period import Month

TICKETS = "/api/v2/tickets"
RESOLVED_STATUSES = (4, 5)  # 4 resolved, 5 closed


@dataclass(frozen=True, kw_only=True)
class FreshserviceSettings(HttpSourceSettings):
    api_key: Secret
    workspace_ids: list[int] | None = None  # None: the primary workspace; [0]: all workspaces
    category_field: str | None = "category"
    page_size: int = 100


class Freshservice(TicketingCollector):
    """Freshservice (Basic auth: the API key as user name, `X` as password)."""

    type = "freshservice"
    vendor = "Freshservice"
    example_url = "https://yourcompany.freshservice.com"
    backlog_known = False
    Settings = FreshserviceSettings

    def validate(self) -> None:
        super().validate()
        check_range(self.name, "page_size", self.settings.page_size, 1, 100)
        ids = self.settings.workspace_ids
        if ids is not None and (not ids or any(i < 0 for i in ids) or (0 in ids and len(ids) > 1)):
            raise ConfigError(f"source {self.name}: workspace_ids: list workspace ids, or [0] alone for all")

    def client(self) -> HttpClient:
        key = self.settings.api_key.reveal()
        return self.http_client(credential_hint=f"{self.settings.api_key.hint} (API key)", secrets=(key,),
                                auth=(key, "X"))

    def tickets(self, client: HttpClient, month: Month) -> Iterator[Ticket]:
        for workspace in self.settings.workspace_ids or [None]:
            yield from self._workspace(client, month, workspace)

    def _workspace(self, client: HttpClient, month: Month, workspace: int | None) -> Iterator[Ticket]:
        guard = PageGuard(self.vendor)
        params: dict[str, Any] = {"updated_since": utc_text(month.start, "%Y-%m-%dT%H:%M:%SZ"),
                                  "include": "stats", "per_page": self.settings.page_size, "order_type": "asc"}
        if workspace is not None:
            params["workspace_id"] = workspace
        page = 1
        while True:
            guard.next_page(page)
            answer = client.fetch_json("GET", TICKETS, params={**params, "page": page})
            rows = expect(answer.data, "tickets", list, self.vendor, TICKETS)
            for row in rows:
                if row.get("deleted") is not True:  # trashed tickets are not IT's work
                    yield self.ticket(row)
            if not answer.next_link() or not rows:
                return
            page += 1

    def ticket(self, row: dict) -> Ticket:
        key = str(row.get("id"))
        stats = row.get("stats") or {}
        created = parse_time(row.get("created_at"), self.vendor, f"ticket {key} created_at")
        if created is None:
            raise SourceError(f"{self.vendor} sent ticket {key} without created_at ({TICKETS})")
        done = stats.get("resolved_at") or stats.get("closed_at")
        resolved = parse_time(done, self.vendor, f"ticket {key} resolved_at")
        field = self.settings.category_field
        escalations = [row.get(k) for k in ("fr_escalated", "is_escalated") if isinstance(row.get(k), bool)]
        return Ticket(
            id=key, created=created,
            resolved=resolved if row.get("status") in RESOLVED_STATUSES else None,
            first_response=parse_time(stats.get("first_responded_at"), self.vendor, f"ticket {key} first response"),
            category=label(row.get(field)) if field else None,
            sla_breached=any(escalations) if escalations else None,
        )
