"""Zendesk Support: the cursor-based incremental ticket export with metric sets.

The export lists tickets *changed* since `start_time`, so this collector keeps the ones created or
solved in the month itself. Tickets open since before the month and untouched since are not in
the export, so the backlog at the month's end is reported as unknown rather than too small.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from newsletter.binding import Secret
from newsletter.collectors.common import HttpSourceSettings
from newsletter.collectors.quotes import quote_candidates
from newsletter.collectors.ticketing import TicketingCollector, expect, label, parse_time
from newsletter.errors import ConfigError, SourceError
from newsletter.hosts import same_origin
from newsletter.http import HttpClient, PageGuard
from newsletter.model import Ticket
from newsletter.period import Month
from newsletter.results import TicketStats

EXPORT = "/api/v2/incremental/tickets/cursor.json"
RATINGS = "/api/v2/satisfaction_ratings"
SOLVED = ("solved", "closed")
PAGE_SIZE = 1000  # the export's maximum


@dataclass(frozen=True, kw_only=True)
class ZendeskSettings(HttpSourceSettings):
    email: str
    token: Secret
    business_hours: bool = False  # business minutes from the metric sets instead of calendar minutes
    group_ids: list[int] | None = None  # only tickets of these groups; empty: all
    category_field: str | None = None  # a ticket attribute such as "type", "priority" or "group_id"
    category_field_id: int | None = None  # a custom field (a drop-down, say) by its id
    category_tag_prefix: str | None = None  # "category_": the tag with this prefix, the prefix removed
    quotes: bool = False  # read the month's good ratings' comments as candidates for "What colleagues said"


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
        settings = self.settings
        if settings.category_field and settings.category_field_id is not None:
            raise ConfigError(f"source {self.name}: category_field and category_field_id both set: "
                              "keep one (an attribute such as type, or a custom field's id)")
        if settings.category_tag_prefix is not None and not settings.category_tag_prefix.strip():
            raise ConfigError(f"source {self.name}: category_tag_prefix: expected the tags' prefix, "
                              'such as "category_"')

    def client(self) -> HttpClient:
        token = self.settings.token.reveal()
        return self.http_client(credential_hint=f"{self.settings.token.hint} (API token of {self.settings.email})",
                                secrets=(token,), auth=(f"{self.settings.email}/token", token))

    def collect(self, month: Month) -> TicketStats:
        stats = super().collect(month)
        if not self.settings.quotes:
            return stats
        return replace(stats, quotes=quote_candidates(self.comments(self.client(), month), month.tz))

    def comments(self, client: HttpClient, month: Month) -> Iterator[tuple[str, datetime]]:
        """The comments of the month's good ratings, with when they were given; only `comment` and
        `created_at` are read of each rating (never its requester or ticket)."""
        guard = PageGuard(self.vendor)
        params: dict[str, Any] | None = {"score": "good", "start_time": int(month.start.timestamp()),
                                         "end_time": int(month.end.timestamp()) - 1}
        url: str | None = RATINGS
        while url:
            guard.next_page(url)
            data = client.get_json(url, **({"params": params} if params else {}))
            rows = expect(data, "satisfaction_ratings", list, self.vendor, RATINGS)
            for row in rows:
                comment = row.get("comment") if isinstance(row, dict) else None
                when = parse_time(row.get("created_at"), self.vendor, "satisfaction rating created_at") \
                    if isinstance(comment, str) and row.get("score") == "good" else None
                if when is not None and month.start <= when < month.end:
                    yield comment, when
            following = data.get("next_page")
            url = same_origin(following, client.base_url, self.vendor) if isinstance(following, str) else None
            params = None  # the next page's URL carries them
            guard.rows(len(rows))

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
            if not cursor:  # stopping here would give part of the month as the whole of it
                raise SourceError(f"{self.vendor} said more tickets follow but sent no after_cursor ({EXPORT})")
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
        return Ticket(
            id=key, created=created, resolved=resolved,
            first_response=created + timedelta(minutes=reply) if reply is not None else None,
            first_response_s=reply * 60 if reply is not None else None,
            resolution_s=full * 60 if full is not None and resolved is not None else None,
            category=self.category(row),
            csat_positive=_csat(row.get("satisfaction_rating")),
        )

    def category(self, row: dict) -> str | None:
        """The ticket's category: a top-level attribute (`category_field`), a custom field's value
        (`category_field_id`; a drop-down's value is its tag) or, with only `category_tag_prefix`,
        the ticket's tag with that prefix (the first by name if it has several). The prefix, when
        set, is removed from whichever value is read."""
        settings = self.settings
        prefix = settings.category_tag_prefix
        if settings.category_field:
            value = label(row.get(settings.category_field))
        elif settings.category_field_id is not None:
            value = _custom_field(row.get("custom_fields"), settings.category_field_id)
        elif prefix:
            value = _first_tag(row.get("tags"), prefix)
        else:
            return None
        if value and prefix and value.startswith(prefix):
            value = value[len(prefix):]
        return value or None


def _custom_field(fields: Any, field_id: int) -> str | None:
    """The value of the custom field `field_id` in Zendesk's `custom_fields` [{id, value}] list."""
    for entry in fields if isinstance(fields, list) else ():
        if isinstance(entry, dict) and entry.get("id") == field_id:
            return label(entry.get("value"))
    return None


def _first_tag(tags: Any, prefix: str) -> str | None:
    """The first (by name) of the tags that start with `prefix`, so a ticket's category does not
    depend on the order Zendesk lists its tags in."""
    matching = sorted(t for t in tags if isinstance(t, str) and t.startswith(prefix)) if isinstance(tags, list) else []
    return matching[0] if matching else None


def _minutes(value: Any, clock: str) -> float | None:
    number = value.get(clock) if isinstance(value, dict) else None
    return float(number) if isinstance(number, int | float) and not isinstance(number, bool) else None


def _csat(rating: Any) -> bool | None:
    score = rating.get("score") if isinstance(rating, dict) else None
    return {"good": True, "bad": False}.get(score) if isinstance(score, str) else None
