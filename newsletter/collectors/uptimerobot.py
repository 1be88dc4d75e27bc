"""UptimeRobot API v2: `getMonitors` with the month as a custom uptime range, plus its down logs.

The uptime ratio is UptimeRobot's own for the exact month (`custom_uptime_ranges`, unix seconds of
the month's edges in the configured zone); downtime, incidents and the longest outage come from the
down logs (type 1) through `aggregate.service_uptime`. The logs reach back LOOKBACK before the month:
an outage older than that shows as the up log that ended it (down from the month's start until
then), or, still going on, as no log at all (its downtime and incidents unknown, never 0). A monitor
paused all month reads "paused", one created mid-month is measured from its creation, one created
later is left without figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from newsletter.binding import Secret
from newsletter.collectors.aggregate import Outage, service_uptime
from newsletter.collectors.common import HttpSource, HttpSourceSettings, uptime_not_found_hint
from newsletter.collectors.services import ServiceSelection, number, unmonitored
from newsletter.errors import SourceError
from newsletter.http import PageGuard
from newsletter.period import Month
from newsletter.results import ServiceUptime, UptimeStats, uptime_pct

PAUSED, NOT_CHECKED_YET = 0, 1
LOG_DOWN, LOG_UP, LOG_STARTED, LOG_PAUSED = 1, 2, 98, 99
PAGE = 50  # the API's maximum
LOOKBACK = timedelta(days=7)  # an outage that began before the month still counts inside it
UNROUNDED_100 = 99.9995  # a ratio below it (of its three decimals) was down for a while


@dataclass(frozen=True, kw_only=True)
class UptimeRobotSettings(HttpSourceSettings, ServiceSelection):
    api_key: Secret  # a read-only API key: api_key_env = "UPTIMEROBOT_API_KEY"
    base_url: str = "https://api.uptimerobot.com/v2"  # or the bare address: /v2 is added


class UptimeRobot(HttpSource):
    """Monitors of one UptimeRobot account; include/exclude/rename pick and name them."""

    type = "uptimerobot"
    kind = "uptime"
    vendor = "UptimeRobot"
    Settings = UptimeRobotSettings
    api_root = "/v2"
    not_found_hint = uptime_not_found_hint("https://api.uptimerobot.com/v2")

    def collect(self, month: Month) -> UptimeStats:
        services = []
        for monitor in self.monitors(month):
            name = self.settings.display_name([monitor.get("friendly_name"), monitor.get("id"), monitor.get("url")])
            if name is not None:
                services.append(self.service(name, monitor, month))
        return UptimeStats(tuple(services))

    def monitors(self, month: Month) -> list[dict[str, Any]]:
        key = self.settings.api_key.reveal()
        client = self.http_client(credential_hint=self.settings.api_key.hint, secrets=(key,))
        start, end = int(month.start.timestamp()), int(month.end.timestamp())
        form = {"api_key": key, "format": "json", "custom_uptime_ranges": f"{start}_{end}", "logs": "1",
                "log_types": "1-2-98-99", "logs_start_date": str(start - int(LOOKBACK.total_seconds())),
                "logs_end_date": str(end), "limit": str(PAGE)}
        guard, offset, monitors = PageGuard("UptimeRobot"), 0, []
        while True:
            guard.next_page(offset)
            answer = client.request_json("POST", "/getMonitors", data={**form, "offset": str(offset)})
            page = self._page(answer)
            if page and all(m.get("id") in {seen.get("id") for seen in monitors} for m in page):
                raise SourceError("UptimeRobot returned the same monitors for a later offset; stopped paging")
            monitors.extend(page)
            total = _int((answer.get("pagination") or {}).get("total"), len(monitors))
            offset += len(page)
            if not page or offset >= total:
                return monitors

    def _page(self, answer: Any) -> list[dict[str, Any]]:
        if not isinstance(answer, dict) or answer.get("stat") != "ok":
            error = answer.get("error") if isinstance(answer, dict) else None
            message = (error or {}).get("message") if isinstance(error, dict) else None
            about_key = isinstance(error, dict) and "api_key" in str(error.get("parameter_name", "")) + str(message)
            hint = f"; check {self.settings.api_key.hint}" if about_key else ""
            raise SourceError(f"UptimeRobot refused the request: {message or error}{hint}")
        monitors = answer.get("monitors")
        if not isinstance(monitors, list) or not all(isinstance(m, dict) for m in monitors):
            raise SourceError("UptimeRobot answered without a monitors list; check base_url")
        if not isinstance(answer.get("pagination") or {}, dict):
            raise SourceError("UptimeRobot answered a pagination that is not an object; check base_url")
        return monitors

    def service(self, name: str, monitor: dict[str, Any], month: Month) -> ServiceUptime:
        created = _int(monitor.get("create_datetime"), 0)
        if created >= month.end.timestamp() or _int(monitor.get("status"), -1) == NOT_CHECKED_YET:
            return unmonitored(name, "not_monitored")
        logs = [log for log in monitor.get("logs") or [] if isinstance(log, dict)]
        start, end = month.start.timestamp(), month.end.timestamp()
        active = any(_int(log.get("type"), 0) in (LOG_DOWN, LOG_UP, LOG_STARTED)
                     and _int(log.get("datetime"), 0) < end
                     and _int(log.get("datetime"), 0) + _int(log.get("duration"), 0) > start for log in logs)
        # a pause in the month: it ran until then, though its last change may be older than LOOKBACK
        active = active or any(_int(log.get("type"), 0) == LOG_PAUSED and start < _int(log.get("datetime"), 0) < end
                               for log in logs)
        if _int(monitor.get("status"), -1) == PAUSED and not active:
            return unmonitored(name, "paused")
        outages = [_outage(log) for log in logs if _int(log.get("type"), 0) == LOG_DOWN]
        changes = sorted((log for log in logs if _int(log.get("type"), 0) in (LOG_DOWN, LOG_UP, LOG_STARTED)),
                         key=lambda log: _int(log.get("datetime"), 0))
        ratio = _ratio(monitor.get("custom_uptime_ranges"))
        if (changes and _int(changes[0].get("type"), 0) == LOG_UP  # the down log before it is older than LOOKBACK
                and (ratio is None or ratio < UNROUNDED_100)):
            outages.append(Outage(month.start, datetime.fromtimestamp(_int(changes[0].get("datetime"), 0), UTC)))
        figures = service_uptime(name, outages, month,
                                 monitored_from=datetime.fromtimestamp(created, UTC) if created else None)
        if not changes and ratio is not None and ratio < UNROUNDED_100:  # down since before LOOKBACK, still down
            return ServiceUptime(name, ratio, None, None, None)
        return ServiceUptime(name, ratio if ratio is not None else figures.uptime_pct, figures.downtime_s,
                             figures.incidents, figures.longest_outage_s)


def _outage(log: dict[str, Any]) -> Outage:
    begin = _int(log.get("datetime"), 0)
    return Outage(datetime.fromtimestamp(begin, UTC), datetime.fromtimestamp(begin + _int(log.get("duration"), 0), UTC))


def _int(value: Any, default: int) -> int:
    """UptimeRobot sends numbers as numbers or strings, depending on the field and the format."""
    result = number(value, int)
    return default if result is None else result


def _ratio(value: Any) -> float | None:
    """custom_uptime_ranges: "99.980", or "99.980-100.000" when several ranges were asked for."""
    ratio = number(str(value).split("-")[0])
    return None if ratio is None else uptime_pct(ratio)
