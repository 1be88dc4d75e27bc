"""Freshservice v2: `GET /api/v2/tickets?updated_since=...&include=stats`, page by page.

`updated_since` returns tickets changed since the month began (without it, only the last 30
days). The collector keeps those created or resolved in the month; old tickets still open but
untouched are not listed, so the backlog at the month's end is reported as unknown.
Paging follows the `Link: rel="next"` header, which the last page does not carry. A ticket in
the trash (`deleted`) or marked as spam (`spam`) does not count, as in Freshdesk.

With `quotes = true`, the CSAT response of each listed ticket resolved in the month or the one
before (`GET /api/v2/tickets/{id}/csat_response`, one request per ticket, at most
quotes.MAX_FEEDBACK_REQUESTS a month) gives the month's good ratings' comments: a response counts
when it was given in the month and its `score` (`acquired_score` of `total_score`) lies above the
middle of the survey's scale; its comment is the answer to the survey's free-text question, found
by `quote_questions`, the words of that question's text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from newsletter.binding import Secret
from newsletter.collectors.common import HttpSourceSettings, check_range
from newsletter.collectors.quotes import FeedbackReader, above_middle
from newsletter.collectors.ticketing import TicketingCollector, expect, label, parse_time, utc_text
from newsletter.errors import ConfigError, SourceError
from newsletter.http import HttpClient, PageGuard
from newsletter.model import Ticket
from newsletter.period import Month
from newsletter.results import TicketStats

log = logging.getLogger(__name__)
TICKETS = "/api/v2/tickets"
RESOLVED_STATUSES = (4, 5)  # 4 resolved, 5 closed
CSAT_RESPONSE = "/api/v2/tickets/{id}/csat_response"
SURVEY_LAG = timedelta(days=31)  # a response to a ticket resolved longer before the month is not looked for


@dataclass(frozen=True, kw_only=True)
class FreshserviceSettings(HttpSourceSettings):
    api_key: Secret
    workspace_ids: list[int] | None = None  # None: the primary workspace; [0]: all workspaces
    category_field: str | None = "category"
    page_size: int = 100
    quotes: bool = False  # the good CSAT responses' comments as candidates for "What colleagues said"
    # Words of the survey's free-text question ("Any other comments?"), in the survey's language.
    quote_questions: list[str] = field(default_factory=lambda: ["comment", "feedback", "anything else"])


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
        if not any(word.strip() for word in self.settings.quote_questions):
            raise ConfigError(f"source {self.name}: quote_questions: give words of the survey's comment question, "
                              'such as ["comment"]')

    def client(self) -> HttpClient:
        key = self.settings.api_key.reveal()
        return self.http_client(credential_hint=f"{self.settings.api_key.hint} (API key)", secrets=(key,),
                                auth=(key, "X"))

    def collect(self, month: Month) -> TicketStats:
        self._feedback = FeedbackReader(self.vendor)
        stats = super().collect(month)
        return self._feedback.added_to(stats, month.tz) if self.settings.quotes else stats

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
                if row.get("deleted") is not True and row.get("spam") is not True:  # not IT's work
                    ticket = self.ticket(row)
                    if self.settings.quotes and _may_hold_a_response(ticket.resolved, month):
                        self.read_survey(client, row.get("id"), month)
                    yield ticket
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

    def read_survey(self, client: HttpClient, ticket_id: Any, month: Month) -> None:
        """Keep the comment of the ticket's CSAT response when it is good and of the month. No
        response (404, or an answer without one) is nothing to keep; a 403 loses this ticket's
        comment only (counted for a warning). Nothing of the requester is read."""
        reader = self._feedback
        if not isinstance(ticket_id, int) or isinstance(ticket_id, bool) or not reader.may_ask():
            return
        answer = client.request("GET", CSAT_RESPONSE.format(id=ticket_id), accept=(403, 404))
        if answer.status_code == 403:
            reader.refuse(403)
        if answer.status_code in (403, 404):
            return
        data = client.decode(answer).data
        response = data.get("csat_response") if isinstance(data, dict) else None
        if not isinstance(response, dict):
            return
        score = response.get("score") if isinstance(response.get("score"), dict) else {}
        try:
            when = parse_time(response.get("created_at"), self.vendor, "a CSAT response's created_at")
        except SourceError as exc:  # one response's bad date loses its quote, not the month's numbers
            log.debug("%s: %s", self.name, exc)
            return
        if above_middle(score.get("acquired_score"), score.get("total_score")) and month.contains(when):
            for comment in self.comments(response):
                reader.keep(comment, when)

    def comments(self, response: dict) -> list[str]:
        """The answers to the survey's free-text question (its text holds one of `quote_questions`),
        leaving out an answer that is only the rating's own label ("Extremely satisfied")."""
        words = [w.strip().lower() for w in self.settings.quote_questions if w.strip()]
        rating = str(response.get("overall_rating_text") or "").strip().lower()
        found = []
        for entry in _list(response.get("questionnaire_responses")):
            question = entry.get("question") if isinstance(entry, dict) else None
            text = question.get("question_text") if isinstance(question, dict) else None
            if not isinstance(text, str) or not any(w in text.lower() for w in words):
                continue
            for answer in _list(entry.get("answers")):
                said = answer.get("answer_text") if isinstance(answer, dict) else None
                if isinstance(said, str) and said.strip().lower() != rating:
                    found.append(said)
        return found


def _may_hold_a_response(resolved: datetime | None, month: Month) -> bool:
    """Resolved before the month's end, and not more than SURVEY_LAG before its start."""
    return resolved is not None and month.start - SURVEY_LAG <= resolved < month.end


def _list(value: Any) -> list:
    """A list as sent, or none: a survey answer of another shape gives no comment, not a failure."""
    return value if isinstance(value, list) else []
