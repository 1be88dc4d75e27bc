"""Pingdom API 3.1: the checks list, then each check's `summary.outage` states for the month.

`from`/`to` are the unix seconds of the month's edges in the configured zone. "down" states are
outages and go through `aggregate.service_uptime`; "unknown" states (no probe results) are not
downtime. A check paused with no up or down state in the month reads "paused", one paused during
it is measured until its last result; one created mid-month is measured from its creation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from newsletter.binding import Secret
from newsletter.collectors.aggregate import Outage, service_uptime
from newsletter.collectors.common import HttpSource, HttpSourceSettings, uptime_not_found_hint
from newsletter.collectors.services import ServiceSelection, number, unmonitored
from newsletter.errors import SourceError
from newsletter.http import HttpClient, PageGuard
from newsletter.period import Month
from newsletter.results import ServiceUptime, UptimeStats

PAGE = 1000


@dataclass(frozen=True, kw_only=True)
class PingdomSettings(HttpSourceSettings, ServiceSelection):
    token: Secret  # an API token (read access): token_env = "PINGDOM_TOKEN"
    base_url: str = "https://api.pingdom.com/api/3.1"  # or the bare address: /api/3.1 is added


class Pingdom(HttpSource):
    """Checks of one Pingdom account; include/exclude/rename by name, id or hostname."""

    type = "pingdom"
    kind = "uptime"
    vendor = "Pingdom"
    Settings = PingdomSettings
    api_root = "/api/3.1"
    not_found_hint = uptime_not_found_hint("https://api.pingdom.com/api/3.1")

    def collect(self, month: Month) -> UptimeStats:
        client = self.bearer_client(self.settings.token)
        services = []
        for check in self.checks(client):
            name = self.settings.display_name([check.get("name"), check.get("id"), check.get("hostname")])
            if name is not None:
                services.append(self.service(client, name, check, month))
        return UptimeStats(tuple(services))

    def checks(self, client: HttpClient) -> list[dict[str, Any]]:
        guard, offset, checks = PageGuard("Pingdom"), 0, []
        while True:
            guard.next_page(offset)
            answer = client.get_json("/checks", params={"limit": PAGE, "offset": offset})
            page = answer.get("checks") if isinstance(answer, dict) else None
            if not isinstance(page, list):
                raise SourceError("Pingdom answered without a checks list; check base_url")
            checks.extend(c for c in page if isinstance(c, dict))
            if len(page) < PAGE:
                return checks
            offset += len(page)

    def service(self, client: HttpClient, name: str, check: dict[str, Any], month: Month) -> ServiceUptime:
        start, end = int(month.start.timestamp()), int(month.end.timestamp())
        created = number(check.get("created"), int)
        if created is not None and created >= end:
            return unmonitored(name, "not_monitored")
        answer = client.get_json(f"/summary.outage/{check.get('id')}", params={"from": start, "to": end})
        summary = answer.get("summary") if isinstance(answer, dict) else None
        states = summary.get("states") if isinstance(summary, dict) else None
        if not isinstance(states, list):
            raise SourceError(f"Pingdom answered no outage summary for check {check.get('id')}; check base_url")
        spans = [(s.get("status"), number(s.get("timefrom"), int), number(s.get("timeto"), int)) for s in states
                 if isinstance(s, dict)]
        spans = [(status, lo, hi) for status, lo, hi in spans if lo is not None and hi is not None]
        if check.get("status") == "paused" and not any(status in ("up", "down") for status, _, _ in spans):
            return unmonitored(name, "paused")
        outages = [Outage(_utc(lo), _utc(hi)) for status, lo, hi in spans if status == "down"]
        # paused now: from the end of its last result on, it was not monitored (not up either)
        paused = check.get("status") == "paused"
        until = max(hi for status, _, hi in spans if status in ("up", "down")) if paused else None
        return service_uptime(name, outages, month, monitored_from=_utc(created) if created else None,
                              monitored_until=_utc(until) if until is not None else None)


def _utc(at: int) -> datetime:
    return datetime.fromtimestamp(at, UTC)
