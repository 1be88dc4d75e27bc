"""GLPI through its REST API (`apirest.php`): a session, the ticket search by dates, page by page.

`GET /apirest.php/initSession` with the user's API token (`Authorization: user_token ...`) and, when
the API client has one, the `App-Token` gives a session token; `GET /apirest.php/search/Ticket`
then lists every ticket created before the month's end that is still open (status "not solved nor
closed") or was solved or closed after the month began, so the backlog at the month's end is known.
Results are paged with `range=start-end`; the `Content-Range` header (`0-99/250`) gives the total.
The session is closed with `killSession` at the end, whatever happened.

Columns are GLPI's search options, asked for with `forcedisplay`: 2 id, 15 opening date, 17 solve
date, 16 close date, 12 status (5 solved, 6 closed), 7 category, 150 take-into-account time
(seconds, as GLPI computes it with the entity's calendar: the first response here; 0 means not yet
taken into account), 18 time to resolve (the SLA's due date) and 82 "time to resolve exceeded".
GLPI writes dates without a zone, in its own (or the API user's) time zone: `timezone`, by default
the newsletter's. Tickets in the trash are not searched. GLPI has no CSAT through this search.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from newsletter.binding import Secret
from newsletter.collectors.common import HttpSourceSettings, check_range
from newsletter.collectors.ticketing import QUERY_SLACK, TicketingCollector, expect, label, parse_time
from newsletter.errors import ConfigError, SourceError
from newsletter.http import HttpClient, PageGuard
from newsletter.model import Ticket
from newsletter.period import Month, load_timezone

log = logging.getLogger(__name__)
INIT = "/apirest.php/initSession"
SEARCH = "/apirest.php/search/Ticket"
KILL = "/apirest.php/killSession"
ID, OPENED, SOLVED, CLOSED, STATUS, CATEGORY, TAKEN_S, DUE, LATE = "2", "15", "17", "16", "12", "7", "150", "18", "82"
RESOLVED_STATUSES = (5, 6)  # solved, closed
CONTENT_RANGE = re.compile(r"(\d+)\s*-\s*(-?\d+)\s*/\s*(\d+)")


@dataclass(frozen=True, kw_only=True)
class GlpiSettings(HttpSourceSettings):
    user_token: Secret  # the API token of a user (My settings > Remote access keys > API token)
    app_token: Secret | None = None  # the API client's App-Token (Setup > General > API), if it has one
    timezone: str | None = None  # the zone of GLPI's dates; None: the newsletter's
    category_field: int | None = 7  # a search option id: 7 is the category's full name
    page_size: int = 100


class Glpi(TicketingCollector):
    """GLPI 9.5 and later (REST API: a session from a user token, then the search engine)."""

    type = "glpi"
    vendor = "GLPI"
    example_url = "https://glpi.example.com"
    Settings = GlpiSettings

    def validate(self) -> None:
        super().validate()
        check_range(self.name, "page_size", self.settings.page_size, 1, 1000)
        if self.settings.timezone is not None:
            try:
                load_timezone(self.settings.timezone)
            except ValueError as exc:
                raise ConfigError(f"source {self.name}: timezone: {exc}") from None
        if self.settings.category_field is not None:
            check_range(self.name, "category_field", self.settings.category_field, 1)

    def _tokens(self) -> tuple[dict[str, str], tuple[str, ...], str]:
        """The App-Token header (when set), the secrets, and what to check on a refusal."""
        app = self.settings.app_token
        value = app.reveal() if app is not None else None
        hint = self.settings.user_token.hint + (f" and {app.hint}" if app is not None else "")
        headers = {"Content-Type": "application/json", **({"App-Token": value} if value else {})}
        return headers, (self.settings.user_token.reveal(), *((value,) if value else ())), hint

    def client(self) -> HttpClient:
        """The client that opens the session (the user token in Authorization)."""
        headers, secrets, hint = self._tokens()
        return self.http_client(credential_hint=f"{hint} (GLPI API tokens)", secrets=secrets,
                                headers={**headers, "Authorization": f"user_token {secrets[0]}"})

    def tickets(self, client: HttpClient, month: Month) -> Iterator[Ticket]:
        session = self._open(client)
        headers, secrets, hint = self._tokens()
        searching = self.http_client(credential_hint=f"{hint} (GLPI API tokens) and the user's rights on tickets",
                                     secrets=(*secrets, session), headers={**headers, "Session-Token": session})
        try:
            yield from self._search(searching, month)
        finally:
            self._close(searching)

    def _open(self, client: HttpClient) -> str:
        answer = client.fetch_json("GET", INIT, accept=(400,))
        if answer.status == 400:  # GLPI refuses a wrong App-Token (and a missing one it requires) with 400
            code = _error_code(answer.data)
            raise SourceError(f"GLPI refused the session ({code or '400 Bad Request'}): check "
                              f"{client.credential_hint}, and that the API is enabled for this address")
        token = expect(answer.data, "session_token", str, self.vendor, INIT)
        if not token:
            raise SourceError(f"GLPI answered {INIT} with an empty session_token; check base_url")
        return token

    def _close(self, client: HttpClient) -> None:
        try:
            client.request("GET", KILL)
        except SourceError as exc:  # the figures are collected; an unclosed session expires by itself
            log.warning("%s: could not close the GLPI session (%s)", self.name, exc)

    def _search(self, client: HttpClient, month: Month) -> Iterator[Ticket]:
        guard = PageGuard(self.vendor)
        zone = self.zone(month)
        params = self.search_params(month, zone)
        size, start = self.settings.page_size, 0
        while True:
            guard.next_page(start)
            answer = client.fetch_json("GET", SEARCH, params={**params, "range": f"{start}-{start + size - 1}"},
                                       accept=(400,))
            if answer.status == 400:
                raise SourceError(f"GLPI refused the ticket search ({_error_code(answer.data) or '400'}); "
                                  "check the version (9.5 or later) and category_field")
            rows = answer.data.get("data") if isinstance(answer.data, dict) else None
            if answer.data == [] or (isinstance(answer.data, dict) and answer.data.get("totalcount") == 0):
                return  # no ticket matches: GLPI may say so without a data list
            if isinstance(rows, dict):  # withindexes-style answers: {id: row}
                rows = list(rows.values())
            rows = expect({"data": rows}, "data", list, self.vendor, SEARCH)
            total = self._total(answer)
            if not rows and start < total:  # tickets counted but not sent: never a month cut short
                raise SourceError(f"GLPI sent no tickets for {start}-{start + size - 1} of the {total} it counted "
                                  f"({SEARCH}); the tickets changed while being read, or GLPI miscounted: run again")
            for row in rows:
                yield self.ticket(row, zone)
            start += size
            if start >= total:
                return
            guard.rows(len(rows))

    def zone(self, month: Month) -> tzinfo:
        return load_timezone(self.settings.timezone) if self.settings.timezone else month.tz

    def search_params(self, month: Month, zone: tzinfo) -> dict[str, Any]:
        """Created before the month's end, and still open or solved or closed after its start (a day
        wider each side: the aggregator keeps exactly the month); sorted by id for stable paging."""
        start = (month.start - QUERY_SLACK).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        end = (month.end + QUERY_SLACK).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        params: dict[str, Any] = {
            "criteria[0][field]": OPENED, "criteria[0][searchtype]": "lessthan", "criteria[0][value]": end,
            "criteria[1][link]": "AND",
            "criteria[1][criteria][0][field]": STATUS, "criteria[1][criteria][0][searchtype]": "equals",
            "criteria[1][criteria][0][value]": "notold",
        }
        for n, field in ((1, SOLVED), (2, CLOSED)):
            params.update({f"criteria[1][criteria][{n}][link]": "OR", f"criteria[1][criteria][{n}][field]": field,
                           f"criteria[1][criteria][{n}][searchtype]": "morethan",
                           f"criteria[1][criteria][{n}][value]": start})
        columns = [ID, OPENED, SOLVED, CLOSED, STATUS, TAKEN_S, DUE, LATE]
        if self.settings.category_field is not None:
            columns.append(str(self.settings.category_field))
        params.update({f"forcedisplay[{i}]": column for i, column in enumerate(columns)})
        return {**params, "sort": ID, "order": "ASC"}

    def _total(self, answer: Any) -> int:
        match = CONTENT_RANGE.search(answer.headers.get("Content-Range") or "")
        if match:
            return int(match[3])
        total = answer.data.get("totalcount") if isinstance(answer.data, dict) else None
        if isinstance(total, int) and not isinstance(total, bool):
            return total
        raise SourceError(f"GLPI answered {SEARCH} without a Content-Range or totalcount; check base_url")

    def ticket(self, row: dict, zone: tzinfo) -> Ticket:
        key = row.get(ID)
        if key is None or isinstance(key, bool):
            raise SourceError(f"GLPI sent a ticket without its id (search option {ID}) from {SEARCH}")
        created = parse_time(row.get(OPENED), self.vendor, f"ticket {key} opening date", zone)
        if created is None:
            raise SourceError(f"GLPI sent ticket {key} without its opening date ({SEARCH})")
        done = row.get(SOLVED) or row.get(CLOSED)
        resolved = parse_time(done, self.vendor, f"ticket {key} solve date", zone)
        taken = _number(row.get(TAKEN_S))
        field = self.settings.category_field
        category = label(row.get(str(field))) if field is not None else None
        late = _number(row.get(LATE))
        return Ticket(
            id=str(key), created=created,
            resolved=resolved if _number(row.get(STATUS)) in RESOLVED_STATUSES else None,
            first_response_s=taken if taken else None,
            category=html.unescape(category) if category else None,  # GLPI stores `>` as `&#62;`
            sla_breached=bool(late) if row.get(DUE) and late is not None else None,
        )


def _number(value: Any) -> int | None:
    """GLPI's numbers come as numbers or as their text; anything else is unknown."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _error_code(data: Any) -> str | None:
    """GLPI's errors are `["ERROR_CODE", "message"]`: the code alone (the message may quote input)."""
    if isinstance(data, list) and data and isinstance(data[0], str) and data[0].startswith("ERROR_"):
        return data[0][:60]
    return None

