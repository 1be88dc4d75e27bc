"""Jira Service Management Cloud: issues through `GET /rest/api/3/search/jql`.

Paging follows `nextPageToken` until `isLast` (the token may be missing on the last page, and a
page may hold fewer rows than asked). First response and SLA come from the JSM SLA fields named
in the config. CSAT and quotes are opt-in because they cost one request per ticket resolved in the
month (`/rest/servicedeskapi/request/{key}/feedback`, one request serving both): the feedback holds
a `rating` of 1-5 and the requester's `comment.body`, and no date, so a quote is dated by the day
its ticket was resolved.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from newsletter.binding import Secret
from newsletter.collectors.common import HttpSourceSettings, check_range
from newsletter.collectors.quotes import FeedbackReader, above_middle
from newsletter.collectors.ticketing import QUERY_SLACK, TicketingCollector, expect, label, parse_time, utc_text
from newsletter.errors import ConfigError, SourceError
from newsletter.http import HttpClient, PageGuard
from newsletter.model import Ticket
from newsletter.period import Month
from newsletter.results import TicketStats

SEARCH = "/rest/api/3/search/jql"
PROJECT_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,254}")
ORDER_BY = re.compile(r"(?i)\border\s+by\b")
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')  # JQL strings, where "order by" is only text
REFUSED = ("Jira refused the satisfaction feedback of a request (403): CSAT unknown; set csat = false, or let the "
           "API token's account view every request of the service desk (an agent of it)")


@dataclass(frozen=True, kw_only=True)
class JiraSettings(HttpSourceSettings):
    email: str
    token: Secret
    project: str | None = None  # a project key such as "IT"
    jql: str = ""  # more JQL, ANDed with the project and the dates
    first_response_sla_field: str | None = None  # e.g. "customfield_10030" ("Time to first response")
    resolution_sla_field: str | None = None  # e.g. "customfield_10031" ("Time to resolution")
    category_field: str | None = None  # e.g. "issuetype", "components" or the request type field
    csat: bool = False
    quotes: bool = False  # the good ratings' comments as candidates for "What colleagues said"
    page_size: int = 100


class Jira(TicketingCollector):
    """Jira Service Management Cloud (Basic auth with an Atlassian account e-mail and API token)."""

    type = "jira"
    vendor = "Jira"
    example_url = "https://yourcompany.atlassian.net"
    Settings = JiraSettings

    def validate(self) -> None:
        super().validate()
        s = self.settings
        if not s.project and not s.jql.strip():
            raise ConfigError(f"source {self.name}: set project (a key such as \"IT\") or jql to scope the tickets")
        if s.project and not PROJECT_KEY.fullmatch(s.project):
            raise ConfigError(f"source {self.name}: project: expected a project key such as \"IT\", "
                              f"got {s.project!r}")
        if ORDER_BY.search(QUOTED.sub("", s.jql)):  # as copied from Jira's issue search
            raise ConfigError(f"source {self.name}: jql: leave ORDER BY out; the collector orders for paging")
        if "@" not in s.email:
            raise ConfigError(f"source {self.name}: email: expected the Atlassian account's e-mail address")
        check_range(self.name, "page_size", s.page_size, 1, 100)

    def reads_csat(self) -> bool:
        return self.settings.csat and not self._csat_refused

    def client(self) -> HttpClient:
        token = self.settings.token.reveal()
        return self.http_client(credential_hint=f"{self.settings.token.hint} (API token of {self.settings.email})",
                                secrets=(token,), auth=(self.settings.email, token))

    def collect(self, month: Month) -> TicketStats:
        """A 403 for one request's feedback loses CSAT only: the share of the others would be partial."""
        self._feedback = FeedbackReader(self.vendor)
        self._csat_refused = False
        stats = super().collect(month)
        if self._csat_refused:
            stats = replace(stats, csat_pct=None, warnings=(*stats.warnings, REFUSED))
        return self._feedback.added_to(stats, month.tz) if self.settings.quotes else stats

    def jql(self, month: Month) -> str:
        """Tickets created before the month's end and not resolved before its start (plus a day of
        slack each side: JQL dates are read in the API user's own time zone)."""
        s = self.settings
        start = utc_text(month.start - QUERY_SLACK, "%Y-%m-%d %H:%M")
        end = utc_text(month.end + QUERY_SLACK, "%Y-%m-%d %H:%M")
        parts = [f'project = "{s.project}"'] if s.project else []
        if s.jql.strip():
            parts.append(f"({s.jql.strip()})")
        parts.append(f'created < "{end}" AND (resolutiondate >= "{start}" OR resolution IS EMPTY)')
        return " AND ".join(parts) + " ORDER BY created ASC"

    def fields(self) -> list[str]:
        s = self.settings
        extra = [s.first_response_sla_field, s.resolution_sla_field, s.category_field]
        return ["created", "resolutiondate", *[f for f in extra if f]]

    def tickets(self, client: HttpClient, month: Month) -> Iterator[Ticket]:
        guard = PageGuard(self.vendor)
        params: dict[str, Any] = {"jql": self.jql(month), "fields": ",".join(self.fields()),
                                  "maxResults": self.settings.page_size}
        token = None
        while True:
            guard.next_page(token)
            data = client.get_json(SEARCH, params={**params, **({"nextPageToken": token} if token else {})})
            issues = expect(data, "issues", list, self.vendor, SEARCH)
            for issue in issues:
                yield self.ticket(client, issue, month)
            token = data.get("nextPageToken")
            if data.get("isLast", not token):
                return
            if not token:
                raise SourceError(f"{self.vendor} said more pages follow but sent no nextPageToken ({SEARCH})")
            guard.rows(len(issues))

    def ticket(self, client: HttpClient, issue: dict, month: Month) -> Ticket:
        s = self.settings
        fields = issue.get("fields") or {}
        key = str(issue.get("key") or issue.get("id"))
        created = parse_time(fields.get("created"), self.vendor, f"{key} created")
        if created is None:
            raise SourceError(f"{self.vendor} sent {key} without a created date ({SEARCH})")
        resolved = parse_time(fields.get("resolutiondate"), self.vendor, f"{key} resolutiondate")
        first_sla = fields.get(s.first_response_sla_field) if s.first_response_sla_field else None
        slas = [fields.get(f) for f in (s.first_response_sla_field, s.resolution_sla_field) if f]
        feedback = self.feedback(client, key) if (s.csat or s.quotes) and month.contains(resolved) else None
        rating = feedback.get("rating") if feedback else None
        positive = above_middle(rating, 5)
        if s.quotes and positive and feedback and resolved is not None:  # dated by its resolution
            self._feedback.keep(_comment_body(feedback), resolved)
        return Ticket(
            id=key, created=created, resolved=resolved,
            first_response=sla_stop(first_sla, self.vendor, key),
            category=label(fields.get(s.category_field)) if s.category_field else None,
            sla_breached=sla_breached(slas), csat_positive=positive if s.csat else None,
        )

    def feedback(self, client: HttpClient, key: str) -> dict | None:
        """The request's CSAT feedback ({type, rating, comment: {body}}), or None: no feedback (404,
        an empty answer), refused (403: CSAT is then unknown, and for quotes that ticket's comment
        only is lost; both said in a warning), or, for quotes alone, past the month's cap of requests.
        A rating of 4 or 5 of 5 is positive."""
        reader = self._feedback
        csat = self.settings.csat and not self._csat_refused
        if not csat and not (self.settings.quotes and reader.may_ask()):
            return None
        path = f"/rest/servicedeskapi/request/{key}/feedback"
        answer = client.request("GET", path, accept=(403, 404))
        if answer.status_code == 403:
            self._csat_refused = self._csat_refused or self.settings.csat
            if self.settings.quotes:
                reader.refuse(403)
        if answer.status_code in (403, 404):
            return None
        data = client.decode(answer).data
        return data if isinstance(data, dict) else None


def _comment_body(feedback: dict) -> Any:
    """The feedback's `comment.body`: the requester's words, without the requester."""
    comment = feedback.get("comment")
    return comment.get("body") if isinstance(comment, dict) else None


def _cycles(sla: Any) -> list[dict]:
    if not isinstance(sla, dict):
        return []
    cycles = [c for c in sla.get("completedCycles") or [] if isinstance(c, dict)]
    ongoing = sla.get("ongoingCycle")
    return cycles + ([ongoing] if isinstance(ongoing, dict) else [])


def _breached(cycle: dict) -> bool | None:
    if isinstance(cycle.get("breached"), bool):
        return cycle["breached"]
    goal = (cycle.get("goalDuration") or {}).get("millis")
    elapsed = (cycle.get("elapsedTime") or {}).get("millis")
    return elapsed > goal if isinstance(goal, int) and isinstance(elapsed, int) else None


def sla_breached(slas: list[Any]) -> bool | None:
    """Breached if any cycle of any configured SLA breached; None when no SLA has a cycle."""
    verdicts = [v for sla in slas for v in map(_breached, _cycles(sla)) if v is not None]
    return any(verdicts) if verdicts else None


def sla_stop(sla: Any, vendor: str, key: str) -> datetime | None:
    """When the first completed cycle of the first-response SLA stopped: the first response."""
    completed = sla.get("completedCycles") if isinstance(sla, dict) else None
    if not completed or not isinstance(completed[0], dict):
        return None
    stop = completed[0].get("stopTime") or {}
    if isinstance(stop.get("epochMillis"), int):
        return datetime.fromtimestamp(stop["epochMillis"] / 1000, UTC)
    return parse_time(stop.get("iso8601"), vendor, f"{key} first response SLA stopTime")
