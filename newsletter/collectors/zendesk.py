"""Zendesk Support: the cursor-based incremental ticket export with metric sets.

The export lists tickets *changed* since `start_time`, so this collector keeps the ones created or
solved in the month itself. Tickets open since before the month and untouched since are not in
the export, so the backlog at the month's end is reported as unknown rather than too small.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from newsletter.binding import Secret
from newsletter.collectors.common import HttpSourceSettings
from newsletter.collectors.ticketing import TicketingCollector, expect, label, parse_time
from newsletter.errors import ConfigError
from newsletter.http import HttpClient, PageGuard
from newsletter.model import Ticket
from newsletter.period import Month

EXPORT = "/api/v2/incremental/tickets/cursor.json"
SOLVED = ("solved", "closed")
PAGE_SIZE = 1000  # the export's maximum


@dataclass(frozen=True, kw_only=True)
class ZendeskSettings(HttpSourceSettings):
    email: str
    token: Secret
    business_hours: bool = False  # business minutes from the metric sets instead of calendar minutes
    group_ids: list[int] | None = None  # only tickets of these groups; empty: all
    category_field: str | None = None  # a ticket attribute such as "type", "priority" or "group_id"


class Zendesk(TicketingCollector):
    """Zendesk Support (Basic auth `{email}/token:{api token}`)."""

    type = "zendesk"
    vendor = "Zendesk"
    example_url = "https://yourcompany.zendesk.com"
    backlog_known = False
    csat_known = True
    Settings = ZendeskSettings

    def validate(self) -> None:
        super().validate()
        if "@" not in self.settings.email:
            raise ConfigError(f"source {self.name}: email: expected the agent's e-mail address")

    def client(self) -> HttpClient:
        token = self.settings.token.reveal()
        return self.http_client(credential_hint=f"{self.settings.token.hint} (API token of {self.settings.email})",
                                secrets=(token,), auth=(f"{self.settings.email}/token", token))

    def tickets(self, client: HttpClient, month: Month) -> Iterator[Ticket]:
        guard = PageGuard(self.vendor)
        common: dict[str, Any] = {"include": "metric_sets", "exclude_deleted": "true", "per_page": PAGE_SIZE}
        start = {"start_time": int(month.start.timestamp())}  # UTC seconds of the month's first instant
        cursor = None
        while True:
            guard.next_page(cursor)
            data = client.get_json(EXPORT, params={**common, **({"cursor": cursor} if cursor else start)})
            rows = expect(data, "tickets", list, self.vendor, EXPORT)
            metrics = {m.get("ticket_id"): m for m in data.get("metric_sets") or [] if isinstance(m, dict)}
            for row in rows:
                ticket = self.ticket(row, metrics.get(row.get("id")) or row.get("metric_set") or {})
                if ticket is not None:
                    yield ticket
            if data.get("end_of_stream", True):
                return
            cursor = data.get("after_cursor")
            if not cursor:
                return
            guard.rows(len(rows))

    def ticket(self, row: dict, metric: dict) -> Ticket | None:
        if row.get("status") == "deleted":
            return None
        groups = self.settings.group_ids
        if groups and row.get("group_id") not in groups:
            return None
        key = str(row.get("id"))
        created = parse_time(row.get("created_at"), self.vendor, f"ticket {key} created_at")
        if created is None:
            return None
        solved = parse_time(metric.get("solved_at"), self.vendor, f"ticket {key} solved_at")
        resolved = solved if row.get("status") in SOLVED else None
        clock = "business" if self.settings.business_hours else "calendar"
        reply = _minutes(metric.get("reply_time_in_minutes"), clock)
        full = _minutes(metric.get("full_resolution_time_in_minutes"), clock)
        field = self.settings.category_field
        return Ticket(
            id=key, created=created, resolved=resolved,
            first_response=created + timedelta(minutes=reply) if reply is not None else None,
            first_response_s=reply * 60 if reply is not None else None,
            resolution_s=full * 60 if full is not None and resolved is not None else None,
            category=label(row.get(field)) if field else None,
            csat_positive=_csat(row.get("satisfaction_rating")),
        )


def _minutes(value: Any, clock: str) -> float | None:
    number = value.get(clock) if isinstance(value, dict) else None
    return float(number) if isinstance(number, int | float) and not isinstance(number, bool) else None


def _csat(rating: Any) -> bool | None:
    score = rating.get("score") if isinstance(rating, dict) else None
    return {"good": True, "bad": False}.get(score) if isinstance(score, str) else None
