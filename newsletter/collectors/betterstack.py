"""Better Stack Uptime: the monitor list (paged by `pagination.next`) and each monitor's `/sla`.

Better Stack computes availability, downtime and incidents itself for a range of whole days,
which it reads in the team's time zone: set that to the newsletter's `timezone`. A monitor created
mid-month is asked from its creation day; one paused since before the month reads "paused".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from newsletter.binding import Secret
from newsletter.collectors.common import HttpSource, HttpSourceSettings, uptime_not_found_hint
from newsletter.collectors.services import (
    ServiceSelection,
    number,
    unmonitored,
)
from newsletter.errors import SourceError
from newsletter.hosts import same_origin
from newsletter.http import HttpClient, PageGuard
from newsletter.period import Month
from newsletter.results import ServiceUptime, UptimeStats, uptime_pct


@dataclass(frozen=True, kw_only=True)
class BetterStackSettings(HttpSourceSettings, ServiceSelection):
    token: Secret  # an Uptime API token: token_env = "BETTERSTACK_TOKEN"
    base_url: str = "https://uptime.betterstack.com/api/v2"  # or the bare address: /api/v2 is added


class BetterStack(HttpSource):
    """Monitors of one Better Stack team; include/exclude/rename by name, id or URL."""

    type = "betterstack"
    kind = "uptime"
    vendor = "Better Stack"
    Settings = BetterStackSettings
    api_root = "/api/v2"
    not_found_hint = uptime_not_found_hint("https://uptime.betterstack.com/api/v2")

    def collect(self, month: Month) -> UptimeStats:
        client = self.bearer_client(self.settings.token)
        services = []
        for monitor in self.monitors(client):
            attributes = monitor.get("attributes") or {}
            name = self.settings.display_name([attributes.get("pronounceable_name"), monitor.get("id"),
                                               attributes.get("url")])
            if name is not None:
                services.append(self.service(client, name, monitor, month))
        return UptimeStats(tuple(services))

    def monitors(self, client: HttpClient) -> list[dict[str, Any]]:
        guard, url, monitors = PageGuard("Better Stack"), "/monitors", []
        while url:
            guard.next_page(url)
            page = client.get_json(url)
            if not isinstance(page, dict) or not isinstance(page.get("data"), list):
                raise SourceError("Better Stack answered without a monitor list; check base_url")
            found = [m for m in page["data"] if isinstance(m, dict)]
            pagination = page.get("pagination") or {}
            following = pagination.get("next") if isinstance(pagination, dict) else None
            if (not isinstance(pagination, dict) or not isinstance(following, str | None)
                    or not all(isinstance(m.get("attributes") or {}, dict) for m in found)):
                raise SourceError("Better Stack answered a monitor list of another shape (pagination.next, "
                                  "attributes); check base_url")
            monitors.extend(found)
            url = same_origin(following, client.base_url, "Better Stack") if following else None
        return monitors

    def service(self, client: HttpClient, name: str, monitor: dict[str, Any], month: Month) -> ServiceUptime:
        attributes = monitor.get("attributes") or {}
        created, paused = _day(attributes.get("created_at"), month), _moment(attributes.get("paused_at"))
        last = month.end.astimezone(month.tz).date() - timedelta(days=1)
        if created is not None and created > last:
            return unmonitored(name, "not_monitored")
        is_paused = bool(attributes.get("paused")) or attributes.get("status") == "paused"
        if is_paused and (paused is None or paused <= month.start):  # paused since before the month
            return unmonitored(name, "paused")
        first = max(month.first_day, created) if created else month.first_day
        answer = client.get_json(f"/monitors/{monitor.get('id')}/sla", params={"from": first.isoformat(),
                                                                               "to": last.isoformat()})
        sla = ((answer or {}).get("data") or {}).get("attributes") if isinstance(answer, dict) else None
        if not isinstance(sla, dict):
            raise SourceError(f"Better Stack answered no SLA for monitor {monitor.get('id')}; check base_url")
        return ServiceUptime(
            name, _pct(sla.get("availability")),
            number(_first(sla, "total_downtime", "downtime_duration"), int),
            number(sla.get("number_of_incidents"), int),
            number(_first(sla, "longest_incident", "longest_incident_duration"), int),
        )


def _pct(value: Any) -> float | None:
    pct = number(value)
    return None if pct is None else uptime_pct(pct)


def _first(mapping: dict[str, Any], *keys: str) -> Any:
    return next((mapping[k] for k in keys if mapping.get(k) is not None), None)


def _day(value: Any, month: Month) -> date | None:
    """An ISO time of Better Stack as a calendar day in the newsletter's zone."""
    moment = _moment(value)
    return None if moment is None else moment.astimezone(month.tz).date()


def _moment(value: Any) -> datetime | None:
    """An ISO time of Better Stack ("2026-10-01T16:00:00Z"); None when absent or not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
