"""Uptime from a status service of your own: the example of docs/writing-a-collector.md.

The service answers `GET {base_url}/availability?from=...&to=...` (UTC, ISO 8601) for a bearer token:

    {"complete": true,
     "services": [{"name": "Email", "availability_pct": 99.98, "downtime_s": 540, "incidents": 2,
                   "longest_outage_s": 300, "paused": false}]}

A figure the service leaves out is unknown (None), never 0. `"complete": false` means it has not
seen the whole range yet: the month is then partial, and the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from newsletter.binding import Secret
from newsletter.collectors.base import Collector
from newsletter.errors import ConfigError, SourceError
from newsletter.http import HttpClient
from newsletter.period import Month
from newsletter.results import ServiceUptime, UptimeStats

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class StatusSettings:
    """The keys of a source file with `type = "example_status"`, beside the keys every source has."""

    base_url: str  # https://status.example.com/api
    token: Secret  # written token_env = "STATUS_TOKEN" or token_file = "/etc/newsletter/status-token"
    services: list[str] = field(default_factory=list)  # only these, by name; empty: every service
    ca_bundle: Path | None = None  # a CA file for a service behind a private CA (relative to the source file)


class StatusCollector(Collector):
    """Each service's availability over the month, as the status service measured it."""

    type = "example_status"
    kind = "uptime"
    Settings = StatusSettings

    def validate(self) -> None:
        """Config mistakes, before any request: a token must not travel in clear text."""
        url, ca = self.settings.base_url, self.settings.ca_bundle
        parts = urlsplit(url)
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
            raise ConfigError(f"source {self.name}: base_url: expected https://... (http:// only to this "
                              f"machine), got {url!r}")
        if ca is not None and not ca.is_file():
            raise ConfigError(f"source {self.name}: ca_bundle: {ca} is not a file")

    def collect(self, month: Month) -> UptimeStats:
        token = self.settings.token.reveal()
        ca = self.settings.ca_bundle
        client = HttpClient(self.session, self.settings.base_url, "the status service",
                            credential_hint=self.settings.token.hint, headers={"Authorization": f"Bearer {token}"},
                            secrets=(token,), ca_bundle=str(ca) if ca else None)
        answer = client.get_json("/availability", params={"from": _utc(month.start), "to": _utc(month.end)})
        if not isinstance(answer, dict) or not isinstance(answer.get("services"), list):
            raise SourceError("the status service answered without a services list; check base_url")
        found = {str(s.get("name")): s for s in answer["services"] if isinstance(s, dict) and s.get("name")}
        names = self.settings.services or list(found)
        complete = answer.get("complete") is not False
        warnings = () if complete else (f"the status service has not seen all of {month} yet; collect it again "
                                        "later",)
        return UptimeStats(tuple(_service(name, found.get(name)) for name in names), partial=not complete,
                           warnings=warnings)


def _service(name: str, figures: dict[str, Any] | None) -> ServiceUptime:
    """One service's month; a service the answer does not have, or one paused, has no figures."""
    if figures is None:
        return ServiceUptime(name, None, None, None, None, status="not_monitored")
    if figures.get("paused") is True:
        return ServiceUptime(name, None, None, None, None, status="paused")
    return ServiceUptime(name, _number(figures.get("availability_pct")), _whole(figures.get("downtime_s")),
                         _whole(figures.get("incidents")), _whole(figures.get("longest_outage_s")))


def _number(value: Any) -> float | None:
    """A number the service sent, or None (unknown) for anything else: never a made-up 0."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _whole(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else round(number)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
