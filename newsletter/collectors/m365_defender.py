"""Microsoft 365 with Defender for Office 365: Graph advanced hunting over `EmailEvents`.

No Graph v1.0 endpoint gives a tenant's spam counts; `POST /security/runHuntingQuery` (application
permission ThreatHunting.Read.All) runs KQL that counts the month's inbound mail by threat type and
delivery action. The token comes from msal with client credentials (collectors/entra_source.py);
the authority is configurable (national clouds, tests).

Advanced hunting keeps 30 days: collect right after the month ends, or its first days are gone
(the result then says it is partial, and from when it counts). A month wholly older than that has
no honest number left: the source fails saying the data expired, rather than report zeros.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from newsletter.collectors.common import whole_count
from newsletter.collectors.entra_source import EntraSource, EntraSourceSettings
from newsletter.errors import ConfigError, SourceError
from newsletter.period import Month
from newsletter.results import MailStats

RETENTION = timedelta(days=30)
AVOID = "Collect each month early in the next one (the daily 'newsletter run' collects it on run.send_day)"
QUERY = """EmailEvents
| where Timestamp >= datetime({start}) and Timestamp < datetime({end})
| where EmailDirection == "{direction}"
| summarize Count = count() by ThreatTypes, DeliveryAction"""


@dataclass(frozen=True, kw_only=True)
class M365DefenderSettings(EntraSourceSettings):
    direction: str = "Inbound"


class M365Defender(EntraSource):
    """Spam, phishing and malware counted by Defender's advanced hunting."""

    type = "m365_defender"
    kind = "mail_security"
    Settings = M365DefenderSettings
    permission = "the app's ThreatHunting.Read.All application permission (admin consent)"

    def validate(self) -> None:
        super().validate()
        if self.settings.direction not in ("Inbound", "Outbound", "Intra-org"):
            raise ConfigError(f"source {self.name}: direction: expected Inbound, Outbound or Intra-org")

    def collect(self, month: Month) -> MailStats:
        self.check_retention(month)
        client = self.graph_client()
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
            if str(row.get("DeliveryAction")).lower() == "delivered":
                continue  # in the inbox (an allow list, an override): detected, but not stopped
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


def _int(value: Any) -> int:
    """A count as Graph sends it (a number, or a string for an Int64): whole and not negative; 12.5,
    NaN or an infinity is no count, not one to cut to a whole number."""
    count = whole_count(value)
    if count is None:
        raise SourceError(f"Microsoft Graph sent a count of {str(value)[:40]!r}, not a whole number")
    return count
