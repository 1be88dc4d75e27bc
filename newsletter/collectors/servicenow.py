"""ServiceNow: the Table API on `incident` (or another task table), offset paging, UTC datetimes.

One query lists every ticket open at some moment of the month: opened before its end and not
resolved before its start. A canceled incident (state 8) does not count, as deleted and spam
tickets do not elsewhere: it has no resolution, and would otherwise stay in the backlog for ever.
`sysparm_query` dates are UTC, so the month's bounds are converted from the configured time zone.
Offset paging needs a stable order: ORDERBY opened_at, then sys_id. A page may hold fewer rows
than asked (ACLs remove rows), so paging follows the `Link: rel="next"` header or `X-Total-Count`,
never the size of a page.

SLA met comes from the incident's own `made_sla` by default. With `sla = "task_sla"` (or `true`,
as it was first spelled), task_sla gives breaches and the stop time of the response SLA, one extra
request per 100 tickets (more when they have over 1,000 SLA records: paged as the tickets are);
when task_sla cannot be read (403, 404) the collector falls back to `made_sla` and says so in a
warning rather than failing the source. `sla = false` reads no SLA.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC
from typing import Any, Literal

from newsletter.binding import Secret
from newsletter.collectors.common import HttpSourceSettings, check_range
from newsletter.collectors.ticketing import TicketingCollector, expect, label, parse_time, utc_text
from newsletter.errors import ConfigError, SourceError
from newsletter.http import HttpClient, PageGuard
from newsletter.model import Ticket
from newsletter.period import Month
from newsletter.results import TicketStats

RESOLVED_STATES = ("6", "7")  # incident's 6 Resolved, 7 Closed; any task table's closed ones are inactive
CANCELED = "8"  # an incident closed as a mistake or a duplicate: neither resolved nor open
SLA_CHUNK = 100
SLA_PAGE = 1000  # task_sla rows a page
TASK_SLA = "/api/now/table/task_sla"
SlaSource = Literal["made_sla", "task_sla", "none"]


@dataclass(frozen=True, kw_only=True)
class ServiceNowSettings(HttpSourceSettings):
    username: str | None = None  # Basic auth with password; or token alone for OAuth bearer
    password: Secret | None = None
    token: Secret | None = None
    table: str = "incident"
    query: str = ""  # more encoded query, e.g. "assignment_group.name=Service Desk"
    category_field: str | None = "category"
    first_response_field: str | None = None  # a datetime field your instance keeps, if any
    sla: SlaSource | bool = "made_sla"  # true: "task_sla" (its first meaning), false: "none"
    page_size: int = 1000


class ServiceNow(TicketingCollector):
    """ServiceNow Table API (Basic auth or an OAuth bearer token)."""

    type = "servicenow"
    vendor = "ServiceNow"
    example_url = "https://yourcompany.service-now.com"
    Settings = ServiceNowSettings

    def validate(self) -> None:
        super().validate()
        s = self.settings
        if (s.token is None) == (s.password is None) or (s.password is not None and not s.username):
            raise ConfigError(f"source {self.name}: set username with password_env (Basic auth) "
                              "or token_env alone (OAuth bearer)")
        if not s.table.replace("_", "").isalnum():
            raise ConfigError(f"source {self.name}: table: expected a table name such as \"incident\"")
        if "ORDERBY" in s.query.upper():
            raise ConfigError(f"source {self.name}: query: leave ORDERBY out; the collector orders for paging")
        check_range(self.name, "page_size", s.page_size, 1, 10_000)

    def sla_source(self) -> SlaSource:
        """Where SLA met is read from; `sla = true` / `false` keep the meaning they always had."""
        sla = self.settings.sla
        if isinstance(sla, bool):
            return "task_sla" if sla else "none"
        return sla

    def collect(self, month: Month) -> TicketStats:
        self._task_sla_readable = True
        self._notes: list[str] = []
        stats = super().collect(month)
        return replace(stats, warnings=(*stats.warnings, *self._notes)) if self._notes else stats

    def client(self) -> HttpClient:
        s = self.settings
        if s.token is not None:
            token = s.token.reveal()
            return self.http_client(credential_hint=f"{s.token.hint} (OAuth token)", secrets=(token,),
                                    headers={"Authorization": f"Bearer {token}"})
        password = s.password.reveal()
        return self.http_client(credential_hint=f"{s.password.hint} (password of {s.username})",
                                secrets=(password,), auth=(s.username, password))

    def encoded_query(self, month: Month) -> str:
        """By resolved_at on incident (a resolved incident may never be closed); by closed_at on any
        other task table, which has no resolved_at: ServiceNow would drop a condition on a field the
        table lacks, and list every record."""
        start, end = utc_text(month.start), utc_text(month.end)
        scope = f"{self.settings.query.strip()}^" if self.settings.query.strip() else ""
        done = "resolved_at" if self.settings.table == "incident" else "closed_at"
        return (f"{scope}opened_at<{end}^{done}>={start}^OR{done}ISEMPTY^state!={CANCELED}"
                "^ORDERBYopened_at^ORDERBYsys_id")

    def tickets(self, client: HttpClient, month: Month) -> Iterator[Ticket]:
        s = self.settings
        path = f"/api/now/table/{s.table}"
        sla = self.sla_source()
        fields = ["sys_id", "number", "opened_at", "resolved_at", "closed_at", "state", "active",
                  *(["made_sla"] if sla != "none" else []),
                  *[f for f in (s.category_field, s.first_response_field) if f]]
        params = {"sysparm_query": self.encoded_query(month), "sysparm_fields": ",".join(fields),
                  "sysparm_limit": s.page_size, "sysparm_exclude_reference_link": "true"}
        guard = PageGuard(self.vendor)
        offset = 0
        while True:
            guard.next_page(offset)
            answer = client.fetch_json("GET", path, params={**params, "sysparm_offset": offset})
            rows = expect(answer.data, "result", list, self.vendor, path)
            slas = self.slas(client, [r.get("sys_id") for r in rows]) if sla == "task_sla" else None
            for row in rows:
                if str(row.get("state")) != CANCELED:  # kept out by the query too; be sure
                    yield self.ticket(row, self.sla_of(row, slas, sla))
            offset += s.page_size
            if not _more(answer.headers, answer.next_link(), offset, rows):
                return
            guard.rows(len(rows))

    def ticket(self, row: dict, sla: tuple[bool | None, Any]) -> Ticket:
        """`sla`: (breached, the response SLA's stop time), each None when unknown."""
        s = self.settings
        key = str(row.get("number") or row.get("sys_id"))
        created = parse_time(row.get("opened_at"), self.vendor, f"{key} opened_at")
        if created is None:
            raise SourceError(f"{self.vendor} sent {key} without opened_at")
        done = parse_time(row.get("resolved_at") or row.get("closed_at"), self.vendor, f"{key} resolved_at")
        first = parse_time(row.get(s.first_response_field), self.vendor, key) if s.first_response_field else None
        breached, response_end = sla
        return Ticket(
            id=key, created=created,
            resolved=done if str(row.get("state")) in RESOLVED_STATES or _inactive(row.get("active")) else None,
            first_response=first or response_end,
            category=label(row.get(s.category_field)) if s.category_field else None,
            sla_breached=breached,
        )

    @staticmethod
    def sla_of(row: dict, slas: dict[str, tuple[bool | None, Any]] | None, sla: SlaSource) -> tuple[bool | None, Any]:
        """(breached, response stop) of one incident: from task_sla when read, else its made_sla."""
        if sla == "none":
            return None, None
        if slas is not None:
            return slas.get(row.get("sys_id"), (None, None))
        return _made_sla(row.get("made_sla")), None

    def slas(self, client: HttpClient, ids: list[Any]) -> dict[str, tuple[bool | None, Any]] | None:
        """task sys_id -> (breached by any SLA, stop time of a completed response SLA); None once
        task_sla has proved unreadable, so the tickets fall back to their own made_sla."""
        found: dict[str, tuple[bool | None, Any]] = {}
        ids = [i for i in ids if isinstance(i, str) and i]
        for at in range(0, len(ids), SLA_CHUNK):
            if not self._task_sla_readable:
                return None
            chunk = ids[at:at + SLA_CHUNK]
            params = {"sysparm_query": f"taskIN{','.join(chunk)}^ORDERBYsys_id",
                      "sysparm_fields": "task,has_breached,stage,end_time,sla.target",
                      "sysparm_limit": SLA_PAGE, "sysparm_exclude_reference_link": "true"}
            # Paged as the tickets are: a task re-attached to its SLAs many times has many rows,
            # and one left unread would be a breach or a first response missed.
            guard, offset = PageGuard(self.vendor), 0
            while True:
                guard.next_page(offset)
                answer = client.request("GET", TASK_SLA, params={**params, "sysparm_offset": offset},
                                        accept=(403, 404))
                if answer.status_code in (403, 404):
                    self._task_sla_unreadable(answer.status_code)
                    return None
                page = client.decode(answer)
                rows = expect(page.data, "result", list, self.vendor, TASK_SLA)
                for row in rows:
                    self._add_sla(found, row)
                offset += SLA_PAGE
                if not _more(page.headers, page.next_link(), offset, rows):
                    break
                guard.rows(len(rows))
        return found

    def _add_sla(self, found: dict[str, tuple[bool | None, Any]], row: dict) -> None:
        task = row.get("task")
        breached, response = found.get(task, (None, None))
        breached = bool(breached) or str(row.get("has_breached")) == "true"
        if row.get("sla.target") == "response" and row.get("stage") == "completed":
            stop = parse_time(row.get("end_time"), self.vendor, f"task_sla of {task} end_time", UTC)
            response = min(filter(None, (response, stop)), default=None)
        found[task] = (breached, response)

    def _task_sla_unreadable(self, code: int) -> None:
        self._task_sla_readable = False
        self._notes.append(f"task_sla answered {code}: SLA met read from the tickets' own made_sla instead, "
                           "first response unknown; give the user read access to task_sla "
                           '(or set sla = "made_sla")')


def _inactive(value: Any) -> bool:
    """A task no longer active is closed, whatever its table calls the state (sc_req_item's 3, 4, 7)."""
    return str(value).strip().lower() == "false"


def _made_sla(value: Any) -> bool | None:
    """Breached, from the incident's made_sla ("true" / "false", or a JSON boolean); None if unset."""
    text = str(value).strip().lower() if value is not None else ""
    return {"true": False, "false": True}.get(text)


def _more(headers: Any, next_link: str | None, offset: int, rows: list) -> bool:
    """Another page? Link rel=next when sent, else X-Total-Count, else a full page."""
    if "Link" in headers:
        return next_link is not None
    total = headers.get("X-Total-Count")
    if total is not None and str(total).isdigit():
        return offset < int(total)
    return bool(rows)
