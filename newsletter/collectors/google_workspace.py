"""Google Workspace: Gmail counts from the Admin SDK Reports API (customer usage), a call per day.

Authentication is a service account with domain-wide delegation for the scope
`admin.reports.usage.readonly`, acting as an administrator (`admin_email`); google-auth signs the
token request with the key file (`key_file`), whose `token_uri` it posts to. google-auth is the
optional extra `google` (or pip install google-auth), imported only when this source runs.

Google's days are US Pacific days and its data arrives two or three days late: a day that is not
published yet comes back as a 400 ("Data for dates later than ... is not yet available") or with a
`DATA_NOT_AVAILABLE` / `PARTIAL_DATA_AVAILABLE` warning. Such a day is a missing day: the month is
reported as partial with the missing days named and the published days' figures, never with a
made-up zero; a month with no published day at all fails.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from newsletter.binding import Secret
from newsletter.collectors.common import HttpSource, HttpSourceSettings, whole_count
from newsletter.errors import ConfigError, SourceError
from newsletter.http import HttpClient, PageGuard
from newsletter.period import Month
from newsletter.redaction import redact
from newsletter.results import MailStats

PACIFIC = ZoneInfo("America/Los_Angeles")  # the Reports API's days
SCOPE = "https://www.googleapis.com/auth/admin.reports.usage.readonly"
PARAMETERS = {"gmail:num_emails_received": "scanned", "gmail:num_inbound_spam_emails": "spam",
              "gmail:num_inbound_rejected_emails": "rejected"}
UNAVAILABLE = ("DATA_NOT_AVAILABLE", "PARTIAL_DATA_AVAILABLE")  # the warnings' codes for a day not (all) in
# the 400 for a day after the newest published one: "Data for dates later than 2026-10-29 is not yet available"
NOT_YET = re.compile(r"not (yet )?available|later than", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class GoogleWorkspaceSettings(HttpSourceSettings):
    key: Secret  # the service account's JSON key: key_file = "/etc/newsletter/google-key.json"
    admin_email: str  # an administrator the service account acts as (domain-wide delegation)
    base_url: str = "https://admin.googleapis.com"
    customer_id: str | None = None  # default: the administrator's own customer


class GoogleWorkspace(HttpSource):
    """Gmail's received, spam and rejected counts summed over the month's days."""

    type = "google_workspace"
    kind = "mail_security"
    vendor = "Google Reports API"
    Settings = GoogleWorkspaceSettings

    def validate(self) -> None:
        super().validate()
        if "@" not in self.settings.admin_email:
            raise ConfigError(f"source {self.name}: admin_email: expected an administrator's address")
        if importlib.util.find_spec("google.oauth2") is None:
            raise ConfigError(f"source {self.name}: google_workspace needs google-auth (the `google` "
                              "extra): pip install google-auth")

    def collect(self, month: Month) -> MailStats:
        token = self.access_token()
        client = self.http_client(credential_hint=f"the service account's delegation for {SCOPE} as "
                                                  f"{self.settings.admin_email}",
                                  headers={"Authorization": f"Bearer {token}"}, secrets=(token,))
        totals = dict.fromkeys(PARAMETERS.values(), 0)
        late = []
        today = self.clock().astimezone(PACIFIC).date()
        for day in month.days_iter():
            counts = None if day >= today else self.day_counts(client, day.isoformat())  # no future days
            if counts is None:
                late.append(day.isoformat())
                continue
            for metric, value in counts.items():
                totals[metric] += value
        if len(late) == month.days:
            raise SourceError(f"Google has published no day of {month} yet (its data arrives days late); "
                              "collect the month again later")
        warnings = (f"Google has not published all of {', '.join(late)} yet (its data arrives days late); "
                    "collect the month again later",) if late else ()
        return MailStats(scanned=totals["scanned"], spam=totals["spam"], phishing=None, malware=None,
                         blocked_total=totals["spam"] + totals["rejected"], rejected=totals["rejected"],
                         partial=bool(late), warnings=warnings, covered_days=month.days - len(late) if late else None)

    def day_counts(self, client: HttpClient, day: str) -> dict[str, int] | None:
        """One day's counts; None when Google has not published the day (or all of it) yet.

        Google says so in two ways: a 400 "Data for dates later than ... is not yet available" for
        the days after its newest one, or a `DATA_NOT_AVAILABLE` / `PARTIAL_DATA_AVAILABLE` warning
        about Gmail. Either way the day is missing as a whole: a day half filled in is not counted
        in part, so the month's figures are those of the published days only. A day that comes
        back without any of the Gmail figures is missing too, not zero.
        """
        params: dict[str, str] = {"parameters": ",".join(PARAMETERS)}
        if self.settings.customer_id:
            params["customerId"] = self.settings.customer_id
        guard, counts = PageGuard("Google Reports API"), dict.fromkeys(PARAMETERS.values(), 0)
        complete, seen = True, False
        while True:
            answer = client.fetch_json("GET", f"/admin/reports/v1/usage/dates/{day}", params=params,
                                       accept=(400,)).data
            if not isinstance(answer, dict):
                raise SourceError("Google Reports API answered something other than a usage report; check base_url")
            if "error" in answer:  # only a 400 carries one
                return _not_yet_published(answer, day)
            complete &= not any(_gmail_unavailable(w) for w in answer.get("warnings") or [])
            reports = answer.get("usageReports") or []
            if not _usage_shaped(reports):
                raise SourceError(f"Google Reports API answered a usage report of another shape for {day}; "
                                  "check base_url")
            for report in reports:
                for parameter in report.get("parameters") or []:
                    metric = PARAMETERS.get(parameter.get("name"))
                    if metric is not None:
                        counts[metric] += _int(parameter.get("intValue"), parameter.get("name"))
                        seen = True
            token = answer.get("nextPageToken")
            if not token:
                return counts if complete and seen else None
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


def _usage_shaped(reports: Any) -> bool:
    """usageReports as documented: a list of objects, whose `parameters` are a list of objects."""
    return isinstance(reports, list) and all(
        isinstance(report, dict) and isinstance(report.get("parameters") or [], list)
        and all(isinstance(parameter, dict) for parameter in report.get("parameters") or []) for report in reports)


def _gmail_unavailable(warning: Any) -> bool:
    """A warning that Gmail's data for the day is missing or incomplete (not one about another application)."""
    if not isinstance(warning, dict) or warning.get("code") not in UNAVAILABLE:
        return False
    applications = {str(d.get("value")).lower() for d in warning.get("data") or []
                    if isinstance(d, dict) and d.get("key") == "application"}
    return not applications or "gmail" in applications


def _not_yet_published(answer: dict[str, Any], day: str) -> None:
    """None for Google's 400 about a day not published yet; any other 400 fails, with Google's reason."""
    error = answer.get("error")
    message = str((error.get("message") if isinstance(error, dict) else error) or "no reason given")
    if NOT_YET.search(message):
        return None
    raise SourceError(f"Google Reports API answered 400 for {day}: {' '.join(message.split())[:200]}")


def _int(value: Any, name: Any) -> int:
    """An intValue (an int64, sent as a string): whole and not negative; 12.5, NaN or an infinity is
    no count of mail, not one to cut to a whole number."""
    count = whole_count(value)
    if count is None:
        raise SourceError(f"Google Reports API sent {name} = {str(value)[:40]!r}, not a whole number")
    return count
