"""Prometheus with the blackbox exporter: `probe_success` samples over exactly the month.

The raw samples are read a day at a time (`selector[86400s]` evaluated at the day's end), so the
month's edges are exact in the configured time zone. A failed probe (value below 1) counts as down
until the next sample, or for one scrape interval when samples are missing: missed scrapes are not
downtime. Outages then go through `aggregate.service_uptime`, like every uptime source; a service
first seen mid-month is measured from its first sample, one no longer probed until its last.
Prometheus must still hold the month: the default retention (15 days) does not, so the collector
checks the server's retention first.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from newsletter.binding import Secret
from newsletter.collectors.aggregate import Outage, service_uptime
from newsletter.collectors.common import HttpSource, HttpSourceSettings, check_range
from newsletter.collectors.services import ServiceSelection, unmonitored
from newsletter.errors import ConfigError, SourceError
from newsletter.http import HttpClient
from newsletter.period import Month
from newsletter.results import ServiceUptime, UptimeStats

CHUNK_S = 86400
_DURATION = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
_UNIT_S = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
Samples = list[tuple[float, float]]


@dataclass(frozen=True, kw_only=True)
class PrometheusSettings(HttpSourceSettings, ServiceSelection):
    base_url: str = "http://127.0.0.1:9090"
    selector: str = "probe_success"  # a series selector such as probe_success{job="blackbox"}
    service_label: str = "instance"  # the label that names a service (rename maps its values)
    scrape_interval_s: float = 60.0  # how long one failed probe counts when the next sample is missing
    token: Secret | None = None  # a bearer token, for a Prometheus behind an authenticating proxy


class Prometheus(HttpSource):
    """Uptime per service from blackbox-exporter probes stored in Prometheus."""

    type = "prometheus"
    kind = "uptime"
    vendor = "Prometheus"
    Settings = PrometheusSettings

    def validate(self) -> None:
        settings = self.settings
        super().validate()
        check_range(self.name, "scrape_interval_s", settings.scrape_interval_s, 1, 3600)
        if not settings.selector.strip() or "[" in settings.selector:
            raise ConfigError(f"source {self.name}: selector: expected a series selector such as "
                              f'probe_success{{job="blackbox"}} (no range, no function), got {settings.selector!r}')
        if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", settings.service_label):
            raise ConfigError(f"source {self.name}: service_label: {settings.service_label!r} is not a label name")

    def collect(self, month: Month) -> UptimeStats:
        client = self.bearer_client(self.settings.token, hint="the proxy's credentials")
        self.check_retention(client, month)
        series: dict[str, Samples] = defaultdict(list)
        for start, end in chunks(month):
            for metric, values in self.query_range(client, start, end):
                series[metric.get(self.settings.service_label, "")].extend(values)
        if not series and not self.settings.rename:
            raise SourceError(f"Prometheus has no samples of {self.settings.selector} in {month}; check selector "
                              "and that the server's retention still covers the month")
        named: dict[str, list[Samples]] = {}  # rename may give two instances one name: both are the service
        for key in sorted(series):
            name = self.settings.display_name([key])
            if name is not None and series[key]:
                named.setdefault(name, []).append(sorted(series[key]))
        services = {name: self.service(name, probes, month) for name, probes in named.items()}
        for key, name in self.settings.rename.items():  # configured but silent all month
            if name not in services and key not in series and self.settings.display_name([key]) is not None:
                services[name] = unmonitored(name, "not_monitored")
        return UptimeStats(tuple(services.values()))

    def service(self, name: str, probes: list[Samples], month: Month) -> ServiceUptime:
        """A service from the samples of its series (one each, sorted): down while any of them fails."""
        end = month.end.timestamp()
        interval = self.settings.scrape_interval_s
        outages = []
        for samples in probes:
            for index, (at, value) in enumerate(samples):
                if value >= 1:
                    continue
                following = samples[index + 1][0] if index + 1 < len(samples) else end
                until = following if following - at <= 1.5 * interval else at + interval
                outages.append(Outage(_utc(at), _utc(min(until, end))))
        # watched from its first sample to one interval after its last (a probe taken out of the config)
        return service_uptime(name, outages, month, monitored_from=_utc(min(s[0][0] for s in probes)),
                              monitored_until=_utc(min(max(s[-1][0] for s in probes) + interval, end)))

    def query_range(self, client: HttpClient, start: float, end: float) -> Iterator[tuple[dict, Samples]]:
        """Raw samples in [start, end): the range selector is (time - span, time]."""
        query = f"{self.settings.selector}[{round(end - start)}s]"
        data = client.get_json("/api/v1/query", params={"query": query, "time": f"{end - 0.001:.3f}"})
        result = _data(data, "matrix")
        for series in result:
            try:
                values = [(float(at), float(value)) for at, value in series["values"]]
            except (KeyError, TypeError, ValueError):
                raise SourceError("Prometheus answered a series without [time, value] samples") from None
            yield series.get("metric") or {}, [(at, value) for at, value in values if start <= at < end]

    def check_retention(self, client: HttpClient, month: Month) -> None:
        try:
            flags = _data(client.get_json("/api/v1/status/flags"), None)
        except SourceError:
            return  # not every Prometheus-compatible server has this endpoint; the query will tell
        retention = parse_duration(str(flags.get("storage.tsdb.retention.time", "")))
        if not retention:
            return
        age = self.clock().timestamp() - month.start.timestamp()
        if retention < age:
            raise SourceError(
                f"Prometheus keeps {flags['storage.tsdb.retention.time']} of data but {month} began "
                f"{age / 86400:.0f} days ago, so part of it is gone; raise --storage.tsdb.retention.time "
                "(e.g. 400d) and collect each month soon after it ends")


def chunks(month: Month) -> list[tuple[float, float]]:
    start, end = month.start.timestamp(), month.end.timestamp()
    return [(at, min(at + CHUNK_S, end)) for at in range(int(start), int(end), CHUNK_S)]


def parse_duration(text: str) -> float | None:
    """Seconds in a Prometheus duration such as '15d' or '1y2w'; None when not one (or zero)."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(int(n) * _UNIT_S[u] for n, u in parts) or None


def _data(answer: Any, result_type: str | None) -> Any:
    if not isinstance(answer, dict) or answer.get("status") != "success" or "data" not in answer:
        detail = answer.get("error") if isinstance(answer, dict) else None
        raise SourceError(f"Prometheus answered an error: {detail or 'unexpected answer'}; check base_url and "
                          "selector")
    data = answer["data"]
    if result_type is None:
        return data if isinstance(data, dict) else {}
    if not isinstance(data, dict) or data.get("resultType") != result_type or not isinstance(data.get("result"),
                                                                                               list):
        raise SourceError(f"Prometheus answered something other than a {result_type}; check selector")
    return data["result"]


def _utc(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)
