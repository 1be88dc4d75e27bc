"""Microsoft 365 with Defender for Office 365: Graph advanced hunting over `EmailEvents`.

No Graph v1.0 endpoint gives a tenant's spam counts; `POST /security/runHuntingQuery` (application
permission ThreatHunting.Read.All) runs KQL that counts the month's inbound mail by threat type and
delivery action. The token comes from msal with client credentials; the authority is configurable
(national clouds, tests). msal is the optional extra `m365` (or pip install msal),
imported only when this source runs.

Advanced hunting keeps 30 days: collect right after the month ends, or its first days are gone
(the result then says it is partial, and from when it counts). A month wholly older than that has
no honest number left: the source fails saying the data expired, rather than report zeros.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from newsletter.binding import Secret
from newsletter.collectors.common import HttpSource, HttpSourceSettings, check_base_url
from newsletter.entra import EntraApp, EntraRefused, EntraUnreachable, client_credentials_token
from newsletter.errors import ConfigError, SourceError
from newsletter.period import Month
from newsletter.redaction import redact
from newsletter.results import MailStats

RETENTION = timedelta(days=30)
AVOID = "Collect each month early in the next one (the daily 'newsletter run' collects it on run.send_day)"
QUERY = """EmailEvents
| where Timestamp >= datetime({start}) and Timestamp < datetime({end})
| where EmailDirection == "{direction}"
| summarize Count = count() by ThreatTypes, DeliveryAction"""


@dataclass(frozen=True, kw_only=True)
class M365DefenderSettings(HttpSourceSettings):
    tenant_id: str
    client_id: str
    client_secret: Secret  # client_secret_env = "M365_CLIENT_SECRET"
    authority: str = "https://login.microsoftonline.com"
    base_url: str = "https://graph.microsoft.com/v1.0"
    direction: str = "Inbound"


class M365Defender(HttpSource):
    """Spam, phishing and malware counted by Defender's advanced hunting."""

    type = "m365_defender"
    kind = "mail_security"
    vendor = "Microsoft Graph"
    Settings = M365DefenderSettings

    def validate(self) -> None:
        super().validate()
        check_base_url(self.name, self.settings.authority, "https://login.microsoftonline.com", "authority")
        if not self.settings.authority.startswith("https://"):
            raise ConfigError(f"source {self.name}: authority: msal accepts only https authorities")
        for key in ("tenant_id", "client_id"):
            if not re.fullmatch(r"[A-Za-z0-9.-]+", getattr(self.settings, key)):
                raise ConfigError(f"source {self.name}: {key}: expected a GUID or a domain name")
        if self.settings.direction not in ("Inbound", "Outbound", "Intra-org"):
            raise ConfigError(f"source {self.name}: direction: expected Inbound, Outbound or Intra-org")
        if importlib.util.find_spec("msal") is None:
            raise ConfigError(f"source {self.name}: m365_defender needs msal (the `m365` extra): pip install msal")

    def collect(self, month: Month) -> MailStats:
        self.check_retention(month)
        token = self.access_token()
        client = self.http_client(credential_hint="the app's ThreatHunting.Read.All application permission "
                                                  "(admin consent)",
                                  headers={"Authorization": f"Bearer {token}"}, secrets=(token,))
        start, end = (m.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for m in (month.start, month.end))
        query = QUERY.format(start=start, end=end, direction=self.settings.direction)
        answer = client.request_json("POST", "/security/runHuntingQuery", json={"Query": query})
        rows = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(rows, list):
            raise SourceError("Microsoft Graph answered a hunting query without results; check base_url")
        return self.stats(rows, month)

    def stats(self, rows: list[Any], month: Month) -> MailStats:
        counts = dict.fromkeys(("scanned", "spam", "phishing", "malware", "other_blocked"), 0)
        for row in rows:
            if not isinstance(row, dict):
                continue
            count = _int(row.get("Count"))
            threats = {t.strip().lower() for t in str(row.get("ThreatTypes") or "").split(",")}
            counts["scanned"] += count
            if "malware" in threats:
                counts["malware"] += count
            elif "phish" in threats:
                counts["phishing"] += count
            elif "spam" in threats:
                counts["spam"] += count
            elif str(row.get("DeliveryAction")).lower() == "blocked":
                counts["other_blocked"] += count
        blocked = counts["spam"] + counts["phishing"] + counts["malware"] + counts["other_blocked"]
        kept_from = self.clock() - RETENTION
        warnings, covered = [], None
        if kept_from > month.start:
            since = f"{kept_from.astimezone(month.tz):%Y-%m-%d %H:%M}"
            warnings.append(f"advanced hunting keeps 30 days: these figures cover only {since} to "
                            f"{month.days_iter()[-1]} (the end of {month}); mail before {since} is no longer "
                            f"counted. {AVOID}")
            covered = (month.end - kept_from).days  # whole days still held
        return MailStats(counts["scanned"], counts["spam"], counts["phishing"], counts["malware"], blocked,
                         partial=bool(warnings), warnings=tuple(warnings), covered_days=covered)

    def check_retention(self, month: Month) -> None:
        """Fail when no moment of the month is still kept: its counts are unknown, not zero."""
        kept_from = self.clock() - RETENTION
        if kept_from >= month.end:
            raise SourceError(f"advanced hunting keeps 30 days and all of {month} is older (kept since "
                              f"{kept_from.astimezone(month.tz):%Y-%m-%d %H:%M}): its figures have expired. {AVOID}")

    def access_token(self) -> str:
        settings = self.settings
        secret = settings.client_secret.reveal()
        app = EntraApp(settings.client_id, secret, settings.authority, settings.tenant_id, validate_authority=False)
        try:
            token, _ = client_credentials_token(self.session, app, _scope(settings.base_url))
        except EntraUnreachable as exc:  # the authority's metadata is missing or unreadable
            reason = redact(str(exc.cause), [secret]).split(". ")[0][:200]  # redacted before it is cut
            raise SourceError(f"cannot get a token from {settings.authority} ({reason}); check authority and "
                              "tenant_id") from None
        except EntraRefused as exc:
            detail = redact(exc.description, [secret]).split("\n")[0].split("\r")[0][:160]
            raise SourceError(f"Microsoft Entra refused the client credentials ({exc.code}: {detail}): check "
                              f"client_id, {settings.client_secret.hint} and tenant_id") from None
        return token

def _scope(base_url: str) -> str:
    """https://graph.microsoft.com/v1.0 -> https://graph.microsoft.com/.default"""
    match = re.match(r"https?://[^/]+", base_url)
    return (match[0] if match else "https://graph.microsoft.com") + "/.default"


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SourceError(f"Microsoft Graph sent a count of {value!r}, not a whole number") from None
