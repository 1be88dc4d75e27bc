"""Uptime Kuma: its Prometheus `/metrics` endpoint, turned into a month by daily snapshots.

Uptime Kuma has no date-range API: `/metrics` holds, per monitor, `monitor_status` (1 up, 0 down,
2 pending, 3 maintenance) and `monitor_uptime_ratio` over rolling windows (`window="1d"`, "30d",
"365d"; Uptime Kuma 2.0 and later), labelled `monitor_id`, `monitor_name`, `monitor_type`,
`monitor_url`, `monitor_hostname`, `monitor_port` and one label per tag. It is read with an API key
(HTTP Basic: no user name, the key as the password).

So the daily `run` and `newsletter snapshot` store each monitor's status and 1-day ratio every
day (take_snapshot), and a month is the mean of its days' ratios (newsletter/snapshots.py: a
1-day reading counts for the day its window mostly covers). `collect` reads /metrics as well and
stores that reading; when Uptime Kuma cannot be read then, the month is told from the stored days
with a warning. A paused monitor leaves /metrics: one known from the month's readings (or the last
one before it) but in none of them reads as "paused"; one in maintenance at every reading as
"maintenance" (docs/sources/uptime.md, "uptime_kuma").
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from prometheus_client.parser import text_string_to_metric_families

from newsletter.binding import Secret
from newsletter.collectors.common import HttpSource, HttpSourceSettings
from newsletter.collectors.services import ServiceSelection, unmonitored
from newsletter.errors import SourceError
from newsletter.period import Month
from newsletter.results import ServiceUptime, UptimeStats, uptime_pct
from newsletter.snapshots import DailySnapshots, describe_days, month_after_reading_now

STATUS = {0: "down", 1: "up", 2: "pending", 3: "maintenance"}
MAINTENANCE = 3
DAY_S = 86400
LOOKBACK = timedelta(days=31)  # how far before a month its last reading may tell which monitors exist
MAX_MONITORS = 5000  # more series than any Uptime Kuma has: an answer past it is not Uptime Kuma's


@dataclass(frozen=True, kw_only=True)
class UptimeKumaSettings(HttpSourceSettings, ServiceSelection):
    base_url: str = "http://127.0.0.1:3001"  # the address of Uptime Kuma, as in the browser
    api_key: Secret  # Settings > API Keys; sent as the password of HTTP Basic, with no user name


class UptimeKuma(HttpSource):
    """Per-monitor uptime from Uptime Kuma's /metrics, one reading a day."""

    type = "uptime_kuma"
    kind = "uptime"
    vendor = "Uptime Kuma"
    Settings = UptimeKumaSettings
    needs_snapshots = True
    snapshot_window = timedelta(days=1)  # monitor_uptime_ratio{window="1d"}
    not_found_hint = "check base_url (the address of Uptime Kuma, such as https://status.example.com)"

    def take_snapshot(self) -> dict[str, Any]:
        key = self.settings.api_key.reveal()
        client = self.http_client(credential_hint=self.settings.api_key.hint, auth=("", key), secrets=(key,))
        client.base_url = server_root(self.settings.base_url)
        response = client.request("GET", "/metrics", headers={"Accept": "text/plain"})
        return {"monitors": parse_metrics(response.text)}

    def collect(self, month: Month) -> UptimeStats:
        days, warnings = month_after_reading_now(self, month, "Uptime Kuma")
        before = self.state.snapshots(self.name, month.start - LOOKBACK, month.start)
        services = self.services(days, [s.reading for s in before[-1:]], warnings)
        return UptimeStats(tuple(services), partial=days.partial or None, warnings=tuple(warnings),
                           covered_days=days.covered_days)

    def services(self, days: DailySnapshots, before: list[dict[str, Any]], warnings: list[str]) -> list[ServiceUptime]:
        """One service per monitor seen in the month's readings or in the last one before it."""
        seen: dict[str, dict[date, dict[str, Any]]] = {}
        names: dict[str, list[object]] = {}
        for reading in before:
            for monitor in _monitors(reading):
                names[monitor_key(monitor)] = [monitor.get("name"), monitor.get("id"), monitor.get("url")]
                seen.setdefault(monitor_key(monitor), {})
        existed = set(seen)  # known before the month began: a day without it was a pause, not its creation
        for day, snapshot in days.days.items():
            for monitor in _monitors(snapshot.reading):
                key = monitor_key(monitor)
                names[key] = [monitor.get("name"), monitor.get("id"), monitor.get("url")]
                seen.setdefault(key, {})[day] = monitor
        services: list[ServiceUptime] = []
        shown: dict[str, str] = {}  # a name shown -> the first monitor shown under it
        for key in sorted(seen, key=lambda k: str(names[k][0] or k).lower()):
            name = self.settings.display_name(names[key])
            if name is None:
                continue
            if name in shown:  # listed twice, as other uptime sources do, and said why
                warnings.append(f"Uptime Kuma monitors {shown[name]} and {key} are both shown as {name!r}: rename "
                                "one of them (rename in the source's settings) to tell them apart")
            shown.setdefault(name, key)
            covered = [day for day in days.days if key in existed or day >= min(seen[key], default=day)]
            services.append(service(name, seen[key], covered, warnings))
        return services


def service(name: str, daily: dict[date, dict[str, Any]], covered: list[date], warnings: list[str]) -> ServiceUptime:
    """A monitor's month from its days: the mean of the 1-day ratios of the days it was monitored.
    `covered`: the days with a reading since it existed (a monitor created in the month: from then)."""
    if not daily:
        return unmonitored(name, "paused")
    maintenance = [day for day, monitor in daily.items() if monitor.get("status") == MAINTENANCE]
    ratios = {day: monitor["ratio_1d"] for day, monitor in daily.items()
              if day not in maintenance and monitor.get("ratio_1d") is not None}
    if not ratios:
        return unmonitored(name, "maintenance" if maintenance else "unknown")
    absent = [day for day in covered if day not in daily]
    if absent:
        warnings.append(f"{name} was not in Uptime Kuma's metrics on {describe_days(absent)} (paused or deleted): "
                        "those days are left out of its uptime")
    if maintenance:
        warnings.append(f"{name} was in maintenance at the reading of {describe_days(maintenance)}: those days are "
                        "left out of its uptime")
    mean = sum(ratios.values()) / len(ratios)
    downtime = round(sum((1 - ratio) * DAY_S for ratio in ratios.values()))
    return ServiceUptime(name, uptime_pct(mean * 100), downtime, None, None)


def parse_metrics(text: str) -> list[dict[str, Any]]:
    """Each monitor of a /metrics answer: id, name, url, status and 1-day ratio (None when absent).
    SourceError for an answer that is not the Prometheus text format or holds no monitor."""
    monitors: dict[str, dict[str, Any]] = {}
    try:
        for family in text_string_to_metric_families(text):
            if family.name not in ("monitor_status", "monitor_uptime_ratio"):
                continue
            for sample in family.samples:
                _add(monitors, sample.name, sample.labels, sample.value)
    except (ValueError, TypeError, IndexError) as exc:
        raise SourceError(f"Uptime Kuma's /metrics answer is not the Prometheus text format ({_short(exc)}); "
                          "check base_url points at Uptime Kuma itself") from None
    if not monitors:
        raise SourceError("Uptime Kuma's /metrics answer has no monitor_status: check base_url points at Uptime "
                          "Kuma, and that it has monitors that are not paused")
    if all(m["ratio_1d"] is None for m in monitors.values()):
        raise SourceError("Uptime Kuma's /metrics has no monitor_uptime_ratio: the uptime ratios need Uptime Kuma "
                          "2.0 or later")
    return sorted(monitors.values(), key=monitor_key)


def _add(monitors: dict[str, dict[str, Any]], metric: str, labels: dict[str, str], value: float) -> None:
    if metric == "monitor_uptime_ratio" and labels.get("window") != "1d":
        return
    key = labels.get("monitor_id") or labels.get("monitor_name") or ""
    if not key:
        return
    if key not in monitors and len(monitors) >= MAX_MONITORS:
        raise ValueError(f"more than {MAX_MONITORS} monitors")
    monitor = monitors.setdefault(key, {
        "id": labels.get("monitor_id"), "name": labels.get("monitor_name") or key,
        "url": plain_url(labels.get("monitor_url") or ""), "status": None, "ratio_1d": None})
    if metric == "monitor_status":
        monitor["status"] = int(value) if value in STATUS else None
    elif math.isfinite(value) and 0 <= value <= 1:
        monitor["ratio_1d"] = value


def monitor_key(monitor: dict[str, Any]) -> str:
    """A monitor's identity across days: its id (Uptime Kuma 2.0), else its name."""
    return str(monitor.get("id") or monitor.get("name") or "")


def plain_url(url: str) -> str | None:
    """A monitored URL as kept in a reading: without user info, query or fragment (a monitor's own
    credentials must not land in the state database); None for Uptime Kuma's placeholders."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not host:
        return None
    netloc = f"[{host}]" if ":" in host else host
    return urlunsplit((parts.scheme, netloc + (f":{port}" if port else ""), parts.path, "", ""))


def server_root(url: str) -> str:
    """The address of Uptime Kuma from what people paste: '…/dashboard' or '…/metrics' removed."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    for page in ("/metrics", "/dashboard"):
        if path.endswith(page):
            path = path[: -len(page)]
    return urlunsplit(parts._replace(path=path))


def _monitors(reading: dict[str, Any]) -> Iterable[dict[str, Any]]:
    monitors = reading.get("monitors")
    return [m for m in monitors if isinstance(m, dict)] if isinstance(monitors, list) else []


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:120] or type(exc).__name__
