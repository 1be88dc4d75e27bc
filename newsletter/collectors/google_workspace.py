"""Google Workspace: Gmail counts from the Admin SDK Reports API (customer usage), a call per day.

Authentication is a service account with domain-wide delegation for the scope
`admin.reports.usage.readonly`, acting as an administrator (`admin_email`); google-auth signs the
token request with the key file (`key_file`), whose `token_uri` it posts to. google-auth is the
optional extra `google` (pip install 'newsletter[google]'), imported only when this source runs.

Google's days are US Pacific days and its data arrives two or three days late: a day that is not
published yet comes back as a warning, and the month is then reported as partial with the missing
days named, never with a made-up zero.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from newsletter.collectors.base import Collector
from newsletter.collectors.services import check_base_url
from newsletter.errors import ConfigError, SourceError
from newsletter.http import HttpClient, PageGuard
from newsletter.model import MailStats, SourceResult
from newsletter.period import Month
from newsletter.redaction import redact
from newsletter.settings import Secret

PACIFIC = ZoneInfo("America/Los_Angeles")  # the Reports API's days
SCOPE = "https://www.googleapis.com/auth/admin.reports.usage.readonly"
PARAMETERS = {"gmail:num_emails_received": "scanned", "gmail:num_inbound_spam_emails": "spam",
              "gmail:num_inbound_rejected_emails": "rejected"}


@dataclass(frozen=True)
class GoogleWorkspaceSettings:
    key: Secret  # the service account's JSON key: key_file = "/etc/newsletter/google-key.json"
    admin_email: str  # an administrator the service account acts as (domain-wide delegation)
    base_url: str = "https://admin.googleapis.com"
    customer_id: str | None = None  # default: the administrator's own customer


class GoogleWorkspace(Collector):
    """Gmail's received, spam and rejected counts summed over the month's days."""

    type = "google_workspace"
    kind = "mail_security"
    Settings = GoogleWorkspaceSettings

    def validate(self) -> None:
        check_base_url(self.name, self.settings.base_url)
        if "@" not in self.settings.admin_email:
            raise ConfigError(f"source {self.name}: admin_email: expected an administrator's address")
        if importlib.util.find_spec("google.oauth2") is None:
            raise ConfigError(f"source {self.name}: google_workspace needs google-auth: "
                              "pip install 'newsletter[google]'")

    def collect(self, month: Month) -> SourceResult:
        token = self.access_token()
        client = HttpClient(self.session, self.settings.base_url, "Google Reports API",
                            credential_hint=f"the service account's delegation for {SCOPE} as "
                                            f"{self.settings.admin_email}",
                            headers={"Authorization": f"Bearer {token}"}, secrets=(token,))
        totals = dict.fromkeys(PARAMETERS.values(), 0)
        late = []
        today = self.clock().astimezone(PACIFIC).date()
        for day in month.days_iter():
            if day >= today or not self.add_day(client, day.isoformat(), totals):  # Google refuses future days
                late.append(day.isoformat())
        stats = MailStats(scanned=totals["scanned"], spam=totals["spam"], phishing=None, malware=None,
                          blocked_total=totals["spam"] + totals["rejected"])
        warnings = [f"Google has not published all of {', '.join(late)} yet (its data arrives days late); "
                    "collect the month again later"] if late else []
        return self.result({**stats.metrics(), "rejected": totals["rejected"], "partial": bool(late),
                            "warnings": warnings})

    def add_day(self, client: HttpClient, day: str, totals: dict[str, int]) -> bool:
        """Add one day's counts; False when Google says the day is not (fully) available yet."""
        params: dict[str, str] = {"parameters": ",".join(PARAMETERS)}
        if self.settings.customer_id:
            params["customerId"] = self.settings.customer_id
        guard, complete = PageGuard("Google Reports API"), True
        while True:
            answer = client.get_json(f"/admin/reports/v1/usage/dates/{day}", params=params)
            if not isinstance(answer, dict):
                raise SourceError("Google Reports API answered something other than a usage report; check base_url")
            complete &= not any(isinstance(w, dict) and w.get("code") in ("DATA_NOT_AVAILABLE",
                                                                           "PARTIAL_DATA_AVAILABLE")
                                for w in answer.get("warnings") or [])
            for report in answer.get("usageReports") or []:
                for parameter in report.get("parameters") or []:
                    metric = PARAMETERS.get(parameter.get("name"))
                    if metric is not None:
                        totals[metric] += _int(parameter.get("intValue"), parameter.get("name"))
            token = answer.get("nextPageToken")
            if not token:
                return complete
            guard.next_page(token)
            params["pageToken"] = token

    def access_token(self) -> str:
        """Sign a token request with the key file and exchange it at the key's token_uri."""
        from google.auth.exceptions import GoogleAuthError, TransportError
        from google.auth.transport.requests import Request
        from google.oauth2 import service_account

        hint = self.settings.key.hint
        try:
            info = json.loads(self.settings.key.reveal())
            credentials = service_account.Credentials.from_service_account_info(
                info, scopes=[SCOPE], subject=self.settings.admin_email)
        except (ValueError, KeyError, TypeError):
            raise SourceError(f"{hint} is not a Google service account JSON key; download one for the service "
                              "account (IAM, Keys, Add key, JSON)") from None
        try:
            credentials.refresh(Request(self.session))
        except TransportError:
            raise SourceError(f"cannot reach Google's token endpoint ({info.get('token_uri')}); check the network"
                              ) from None
        except GoogleAuthError as exc:
            reason = redact(str(exc), [info.get("private_key")]).split("\n")[0][:200]  # redacted before it is cut
            raise SourceError(f"Google refused the service account ({reason}): check {hint} and its domain-wide "
                              f"delegation for {SCOPE} as {self.settings.admin_email}") from None
        return credentials.token


def _int(value: Any, name: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SourceError(f"Google Reports API sent {name} = {value!r}, not a whole number") from None
