"""Zabbix 6.4 and later through its JSON-RPC API: one SLA's SLI per service, and problem events as incidents.

Every call is a JSON-RPC 2.0 request POSTed to the front end's `api_jsonrpc.php`, with the API token
in `Authorization: Bearer` (never in the body). Zabbix answers its errors with HTTP 200 and an
`error` object; "Not authorised", "Session terminated" and an expired token mean the token.

1. `sla.getsli` for the SLA (`slaid`) from the month's start (inclusive) to its end (exclusive).
   Zabbix slices that range into the SLA's own reporting periods (daily, weekly, monthly...) in the
   SLA's time zone, and answers `periods`, `serviceids` and `sli`, a matrix (one row per period,
   one column per service) of `uptime` and `downtime` (seconds of the SLA's schedule, excluded
   downtimes already taken out), `sli`, `error_budget` and `excluded_downtimes`. The periods that
   lie inside the month count: a service's downtime is the sum of theirs, its uptime percentage
   Zabbix's own `sli` when one period covers the month, else 100 * uptime / (uptime + downtime)
   over the periods. When the periods cover only part of the month (an SLA in another time zone,
   weekly periods, an SLA effective since mid-month) the result is `partial`, saying why.
2. `service.get` names the SLA's services and gives their problem tags.
3. `event.get`: the problem events (trigger events going to "problem") created in the month that
   match the service's problem tags (`incidents = "problem_tags"`, the default), or that come from
   the host groups configured for it (`incidents = "host_groups"`), and their recovery events:
   problems at the same time count as one incident (`distinct_problems`). A service without
   problem tags, or not in `[host_groups]`, has unknown incidents, not 0. Zabbix does not say how
   long the longest outage was: it is unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from newsletter.binding import Secret
from newsletter.collectors.common import HttpSource, HttpSourceSettings, check_range
from newsletter.collectors.services import ServiceSelection, number
from newsletter.errors import ConfigError, SourceError
from newsletter.http import ERROR_CHARS, HttpClient
from newsletter.period import Month
from newsletter.redaction import redact
from newsletter.results import ServiceUptime, UptimeStats, uptime_pct

INCIDENT_MODES = ("problem_tags", "host_groups", "none")
# Zabbix's words for a token it refuses: 6.x "Not authorised.", 7.x "Not authorized.", a logged-out
# or revoked session "Session terminated, re-login, please.", and "API token expired."
_REFUSED = re.compile(r"not authori[sz]ed|session terminated|token expired|invalid token", re.IGNORECASE)
# A service's problem tag operator (0 equals, 2 like) as event.get's (1 equals, 0 like).
_TAG_OPERATORS = {0: 1, 2: 0}
TRIGGER, PROBLEM = 0, 1  # event source/object "trigger", event value "problem"


@dataclass(frozen=True, kw_only=True)
class ZabbixSettings(HttpSourceSettings, ServiceSelection):
    token: Secret  # an API token (Users > API tokens): token_env = "ZABBIX_TOKEN"
    slaid: int  # the SLA whose services are reported (Services > SLA: the id in its link)
    incidents: str = "problem_tags"  # or "host_groups" (see host_groups) or "none"
    host_groups: dict[str, list[int]] = field(default_factory=dict)  # service -> host group ids


class Zabbix(HttpSource):
    """The services of one Zabbix SLA; include/exclude/rename by service name or id."""

    type = "zabbix"
    kind = "uptime"
    vendor = "Zabbix"
    Settings = ZabbixSettings
    example_url = "https://zabbix.example.com"
    api_root = "/api_jsonrpc.php"
    not_found_hint = ("check base_url (the address of the Zabbix front end, such as https://zabbix.example.com "
                      "or https://example.com/zabbix, or its api_jsonrpc.php)")

    def validate(self) -> None:
        """Every key before any request: the SLA id, the incident mode and its host groups."""
        super().validate()
        settings = self.settings
        check_range(self.name, "slaid", settings.slaid, 1)
        if settings.incidents not in INCIDENT_MODES:
            raise ConfigError(f"source {self.name}: incidents: expected one of "
                              f"{', '.join(repr(m) for m in INCIDENT_MODES)}, got {settings.incidents!r}")
        if settings.incidents == "host_groups" and not settings.host_groups:
            raise ConfigError(f"source {self.name}: host_groups: incidents = \"host_groups\" needs a [host_groups] "
                              'table: service name = [host group ids], such as "Email" = [12]')
        if settings.host_groups and settings.incidents != "host_groups":
            raise ConfigError(f"source {self.name}: host_groups: only read with incidents = \"host_groups\"; "
                              "set it, or remove [host_groups]")
        for service, groups in settings.host_groups.items():
            if not groups or any(group < 1 for group in groups):
                raise ConfigError(f"source {self.name}: host_groups: {service!r}: expected a list of host group "
                                  f"ids (whole numbers of at least 1), got {groups!r}")

    def collect(self, month: Month) -> UptimeStats:
        rpc = JsonRpc(self.bearer_client(self.settings.token), self.settings.token, self.name)
        answer = rpc.call("sla.getsli", {"slaid": str(self.settings.slaid),
                                         "period_from": int(month.start.timestamp()),
                                         "period_to": int(month.end.timestamp())})
        sli = SliMatrix.read(answer)
        inside, covered = sli.periods_inside(month)
        if not inside:
            raise SourceError(f"Zabbix SLA {self.settings.slaid} has no reporting period inside {month} "
                              f"({month.tz}); set the SLA's time zone to {month.tz} and its period to daily "
                              "or monthly")
        if not sli.serviceids:
            raise SourceError(f"Zabbix SLA {self.settings.slaid} has no services: check slaid and the SLA's "
                              "service tags")
        names = self.services(rpc, sli.serviceids)
        services = []
        for column, serviceid in enumerate(sli.serviceids):
            known = names.get(serviceid, {})
            name = self.settings.display_name([known.get("name"), serviceid])
            if name is not None:
                figures = sli.service(name, column, inside)
                services.append(self.with_incidents(rpc, figures, known, serviceid, month))
        whole = covered == month.seconds
        spans = [sli.periods[row] for row in inside]
        return UptimeStats(tuple(sorted(services, key=lambda s: (s.name.casefold(), s.name))), partial=not whole,
                           warnings=() if whole else (coverage_warning(self.settings.slaid, month, covered),),
                           covered_days=month.days if whole else covered_days(month, spans))

    def services(self, rpc: JsonRpc, serviceids: list[str]) -> dict[str, dict[str, Any]]:
        """serviceid -> the service (name, problem_tags), for the SLA's services."""
        found = rpc.call("service.get", {"output": ["serviceid", "name"], "serviceids": serviceids,
                                         "selectProblemTags": ["tag", "operator", "value"]})
        if not isinstance(found, list):
            raise SourceError("Zabbix answered service.get without a list of services; check base_url")
        return {str(s.get("serviceid")): s for s in found if isinstance(s, dict)}

    def with_incidents(self, rpc: JsonRpc, figures: ServiceUptime, service: dict[str, Any], serviceid: str,
                       month: Month) -> ServiceUptime:
        """The figures with the month's problem events as incidents, when the config says where they are."""
        if figures.status != "monitored":
            return figures
        scope = self.event_scope(figures.name, service, serviceid)
        if scope is None:
            return figures
        events = rpc.call("event.get", {"output": ["eventid", "clock", "r_eventid"], "source": TRIGGER,
                                        "object": TRIGGER, "value": PROBLEM, "time_from": int(month.start.timestamp()),
                                        "time_till": int(month.end.timestamp()) - 1, **scope})
        incidents = distinct_problems(rpc, events, int(month.end.timestamp()))
        return ServiceUptime(figures.name, figures.uptime_pct, figures.downtime_s, incidents,
                             figures.longest_outage_s, status=figures.status)

    def event_scope(self, shown: str, service: dict[str, Any], serviceid: str) -> dict[str, Any] | None:
        """event.get's filter for a service's problems, or None when the config gives none for it."""
        if self.settings.incidents == "host_groups":
            groups = next((self.settings.host_groups[key] for key in (shown, service.get("name"), serviceid)
                           if key in self.settings.host_groups), None)
            return {"groupids": [str(g) for g in groups]} if groups else None
        if self.settings.incidents == "problem_tags":
            tags = [_event_tag(t) for t in service.get("problem_tags") or [] if isinstance(t, dict)]
            return {"evaltype": 0, "tags": tags} if tags and None not in tags else None
        return None


def distinct_problems(rpc: JsonRpc, events: Any, end: int) -> int:
    """The interruptions the problem events make: problems at the same time (an outage fires several
    triggers with the service's tags) or one right after another count once. A problem not recovered
    lasts to the month's end; one whose recovery Zabbix no longer holds, only its moment."""
    bad = f"Zabbix answered event.get with {str(events)[:40]!r}, not a list of problem events with their clock"
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise SourceError(bad)
    recovered = sorted({str(e["r_eventid"]) for e in events if str(e.get("r_eventid") or "0") != "0"})
    found = rpc.call("event.get", {"output": ["eventid", "clock"], "eventids": recovered}) if recovered else []
    ends = {str(e.get("eventid")): number(e.get("clock"), int) for e in found if isinstance(e, dict)} \
        if isinstance(found, list) else {}
    spans = []
    for event in events:
        began, recovery = number(event.get("clock"), int), str(event.get("r_eventid") or "0")
        if began is None:
            raise SourceError(bad)
        ended = end if recovery == "0" else ends.get(recovery) or began
        spans.append((began, max(began, ended)))
    count, reach = 0, None
    for began, ended in sorted(spans):
        if reach is None or began > reach:
            count, reach = count + 1, ended
        else:
            reach = max(reach, ended)
    return count


def _event_tag(tag: dict[str, Any]) -> dict[str, Any] | None:
    operator = _TAG_OPERATORS.get(number(tag.get("operator", 0), int))  # type: ignore[arg-type]
    if not isinstance(tag.get("tag"), str) or operator is None:
        return None
    return {"tag": tag["tag"], "value": str(tag.get("value") or ""), "operator": operator}


class JsonRpc:
    """JSON-RPC 2.0 over one HttpClient: numbered requests, `result` or a readable error."""

    def __init__(self, client: HttpClient, token: Secret, source: str) -> None:
        self.client, self.token, self.source, self.sent = client, token, source, 0

    def call(self, method: str, params: dict[str, Any]) -> Any:
        self.sent += 1
        answer = self.client.request_json("POST", self.client.base_url,
                                          json={"jsonrpc": "2.0", "method": method, "params": params, "id": self.sent})
        if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            raise self.error(method, answer["error"])
        if not isinstance(answer, dict) or "result" not in answer:
            raise SourceError(f"Zabbix answered {method} without a JSON-RPC result; check base_url "
                              "(the front end's api_jsonrpc.php, Zabbix 6.4 or later)")
        return answer["result"]

    def error(self, method: str, error: dict[str, Any]) -> SourceError:
        said = " ".join(str(error.get(key) or "") for key in ("message", "data")).strip()
        said = " ".join(redact(said, self.client.secrets).split())[:ERROR_CHARS]
        if _REFUSED.search(said):
            key = "token_env" if self.token.env else "token_file"
            return SourceError(f"source {self.source}: Zabbix refused the API token ({said}): check "
                               f"{self.token.hint} ({key}): a token that is enabled, not expired, of a user who "
                               "may read the SLA and its services")
        hint = "; check slaid and the token user's access to the SLA" if method == "sla.getsli" else ""
        return SourceError(f"Zabbix answered {method} with an error: {said or error.get('code')}{hint}")


@dataclass(frozen=True)
class SliMatrix:
    """sla.getsli's answer, its shape checked: `sli[period][service]` for `periods` and `serviceids`."""

    periods: list[tuple[int, int]]
    serviceids: list[str]
    sli: list[list[dict[str, Any]]]

    @classmethod
    def read(cls, answer: Any) -> SliMatrix:
        bad = "Zabbix answered sla.getsli with {}; check base_url (Zabbix 6.4 or later)"
        if not isinstance(answer, dict) or not all(isinstance(answer.get(k), list)
                                                   for k in ("periods", "serviceids", "sli")):
            raise SourceError(bad.format("no periods, serviceids and sli"))
        periods = [(number(p.get("period_from"), int), number(p.get("period_to"), int))
                   for p in answer["periods"] if isinstance(p, dict)]
        if len(periods) != len(answer["periods"]) or any(lo is None or hi is None for lo, hi in periods):
            raise SourceError(bad.format("a period without period_from and period_to"))
        serviceids = [str(s) for s in answer["serviceids"]]
        rows = answer["sli"]
        if len(rows) != len(periods) or any(not isinstance(row, list) or len(row) != len(serviceids)
                                            or not all(isinstance(cell, dict) for cell in row) for row in rows):
            raise SourceError(bad.format(f"an sli matrix that is not {len(periods)} periods by {len(serviceids)} "
                                         "services"))
        return cls(periods, serviceids, rows)  # type: ignore[arg-type]

    def periods_inside(self, month: Month) -> tuple[list[int], int]:
        """The rows of the periods inside the month, and how many of its seconds they cover."""
        start, end = int(month.start.timestamp()), int(month.end.timestamp())
        inside = [row for row, (lo, hi) in enumerate(self.periods) if start <= lo < hi <= end]
        return inside, sum(self.periods[row][1] - self.periods[row][0] for row in inside)

    def service(self, name: str, column: int, rows: list[int]) -> ServiceUptime:
        """One service over the given periods; unknown when a period lacks its uptime or downtime."""
        cells = [self.sli[row][column] for row in rows]
        up = [number(cell.get("uptime"), int) for cell in cells]
        down = [number(cell.get("downtime"), int) for cell in cells]
        if any(v is None or v < 0 for v in (*up, *down)):
            return ServiceUptime(name, None, None, None, None, status="unknown")
        uptime, downtime = sum(up), sum(down)  # type: ignore[arg-type]
        if uptime + downtime == 0:  # nothing of the SLA's schedule was measured
            return ServiceUptime(name, None, None, None, None, status="not_monitored")
        own = number(cells[0].get("sli")) if len(cells) == 1 else None
        pct = own if own is not None and 0 <= own <= 100 else 100 * uptime / (uptime + downtime)
        return ServiceUptime(name, uptime_pct(pct), downtime, None, None)


def covered_days(month: Month, spans: list[tuple[int, int]]) -> int:
    """How many of the month's days (in its zone) lie wholly inside the covered spans."""
    def midnight(day: date) -> int:
        return int(datetime(day.year, day.month, day.day, tzinfo=month.tz).timestamp())

    return sum(any(lo <= midnight(day) and midnight(day + timedelta(days=1)) <= hi for lo, hi in spans)
               for day in month.days_iter())


def coverage_warning(slaid: int, month: Month, covered_s: int) -> str:
    return (f"Zabbix SLA {slaid}'s reporting periods cover {covered_s / 86400:.1f} of the month's "
            f"{month.seconds / 86400:.1f} days in {month.tz} (an SLA in another time zone, with weekly "
            "periods, or effective since the month began); set its time zone to the newsletter's and its period "
            "to daily or monthly")
