"""Veeam Backup & Replication REST API v1 (port 9419): the job and restore sessions that ended in
the month.

Sign-in is the API's documented OAuth2 password grant (`POST /api/oauth2/token`, a form with
grant_type=password, username and password); every request carries the `x-api-version` header
(`api_version`). A 400 there is a wrong password only when it says so (OAuth2's invalid_grant, or
the Error model's AccessDenied); any other (an x-api-version the server does not support) names
api_version. The access token lasts minutes: a 401 on a later request is answered by one
refresh (grant_type=refresh_token) and the request is asked again, once.

`GET /api/v1/sessions` is asked per session type (`typeFilter`: Job for the backup runs, then each
of `restore_types`) for the sessions that ended in the month (`endedAfterFilter`,
`endedBeforeFilter`, UTC times of the month's edges in the configured zone), paged with `skip` /
`limit` and the answer's `pagination.total`. The collector checks each session itself as well: a
session still running (state other than Stopped, or no endTime) is not counted, and neither is one
that ended outside the month, whatever the server's filters did.

Results: Success -> succeeded, Warning -> with_warnings, Failed -> failed; a session canceled by
a person, or whose result is None, is left out of the runs and counted in `extra.left_out`.
Restores: restore sessions that ended in the month with Success or Warning. Data protected: the
API's backups and restore points carry no sizes, so `protected_bytes` stays unknown (never 0).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from newsletter.binding import Secret
from newsletter.collectors.backups import longest_gap, measured_span
from newsletter.collectors.common import HttpSource, HttpSourceSettings, check_range
from newsletter.collectors.ticketing import parse_time
from newsletter.errors import ConfigError, SourceError
from newsletter.http import ERROR_CHARS, HttpClient, PageGuard
from newsletter.period import Month
from newsletter.redaction import redact
from newsletter.results import BackupJob, BackupStats

TOKEN = "/api/oauth2/token"
SESSIONS = "/api/v1/sessions"
API_VERSION = re.compile(r"^\d+\.\d+-rev\d+$")
GOOD = ("Success", "Warning")
RESTORE_TYPES = ["RestoreVm", "InstantRecovery", "FirstClassDiskInstantRestore"]
# a 400 from the token endpoint with one of these refuses the credentials, not the request
REFUSED = ("invalid_grant", "AccessDenied", "InvalidToken", "ExpiredToken")


@dataclass(frozen=True, kw_only=True)
class VeeamSettings(HttpSourceSettings):
    username: str  # a Veeam Backup & Replication user (the Backup Viewer role is enough)
    password: Secret  # password_env = "VEEAM_PASSWORD" or password_file
    api_version: str = "1.1-rev2"  # the x-api-version header: <version>-rev<revision>
    restore_types: list[str] = field(default_factory=lambda: list(RESTORE_TYPES))  # session types counted as restores
    page_size: int = 500


@dataclass
class _Token:
    access: str
    refresh: str | None


class Veeam(HttpSource):
    """The backup jobs and restores of one Veeam Backup & Replication server."""

    type = "veeam"
    kind = "backup"
    vendor = "Veeam"
    Settings = VeeamSettings
    example_url = "https://vbr.corp.example:9419"
    not_found_hint = "check base_url (the backup server's REST API, such as https://vbr.corp.example:9419)"

    def validate(self) -> None:
        super().validate()
        s = self.settings
        if not s.username.strip():
            raise ConfigError(f"source {self.name}: username: give the Veeam user the newsletter signs in as")
        if not API_VERSION.match(s.api_version):
            raise ConfigError(f"source {self.name}: api_version: expected <version>-rev<revision> such as "
                              f"\"1.1-rev2\", got {s.api_version!r}")
        if not all(isinstance(t, str) and t.strip() for t in s.restore_types):
            raise ConfigError(f"source {self.name}: restore_types: expected session type names such as "
                              f"{RESTORE_TYPES!r}")
        check_range(self.name, "page_size", s.page_size, 1, 10_000)

    def collect(self, month: Month) -> BackupStats:
        start, until, warnings = measured_span(month, self.clock())
        self._password = self.settings.password.reveal()
        self._token: _Token | None = None
        self._token = self._sign_in(self._password_form())
        runs = self.sessions("Job", start, until)
        restores = [s for kind in self.settings.restore_types for s in self.sessions(kind, start, until)]
        return self.stats(runs, restores, start, until, warnings)

    # -- signing in ---------------------------------------------------------------------------
    def _client(self, *extra: str) -> HttpClient:
        secrets = tuple(s for s in (self._password, *extra) if s)
        headers = {"x-api-version": self.settings.api_version}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.access}"
            secrets += tuple(s for s in (self._token.access, self._token.refresh) if s)
        return self.http_client(credential_hint=self._hint(), secrets=secrets, headers=headers)

    def _hint(self) -> str:
        return (f"{self.settings.password.hint} (password_env / password_file: the password of "
                f"{self.settings.username})")

    def _password_form(self) -> dict[str, str]:
        return {"grant_type": "password", "username": self.settings.username, "password": self._password}

    def _sign_in(self, form: dict[str, str]) -> _Token:
        """The token endpoint's answer; a refusal of the credentials (401, 403, or OAuth2's 400
        invalid_grant) is the one-line wrong-credentials error, any other 400 (the documented Error
        model: a header or a body the server cannot read) says to check api_version instead."""
        client = self._client(form.get("refresh_token", ""))
        client.headers.pop("Authorization", None)
        answer = client.request("POST", TOKEN, data=form, accept=(400, 401, 403))
        problem = _bad_request(answer) if answer.status_code == 400 else None
        if problem is not None:
            detail = redact(" ".join(problem.split()), client.secrets)[:ERROR_CHARS]
            raise SourceError(f"source {self.name}: Veeam could not read the sign-in request (400"
                              f"{' ' + detail if detail else ''}): check api_version "
                              f"(\"{self.settings.api_version}\", sent as the x-api-version header: the backup server "
                              "must support it) and base_url")
        if answer.status_code in (400, 401, 403):
            raise SourceError(f"source {self.name}: Veeam refused the sign-in of {self.settings.username} "
                              f"({answer.status_code}): check {self._hint()} and the user's role on the "
                              "backup server")
        data = client.decode(answer).data
        access = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(access, str) or not access:
            raise SourceError(f"source {self.name}: Veeam answered {TOKEN} without an access_token; check base_url")
        refresh = data.get("refresh_token")
        return _Token(access, refresh if isinstance(refresh, str) and refresh else None)

    def _get(self, params: dict[str, Any]) -> Any:
        """One page of sessions; a 401 (the token ran out) is answered by one refresh and one more try."""
        answer = self._client().request("GET", SESSIONS, params=params, accept=(401,))
        if answer.status_code == 401 and self._token is not None:
            refresh = self._token.refresh
            self._token = self._sign_in({"grant_type": "refresh_token", "refresh_token": refresh} if refresh
                                        else self._password_form())
            answer = self._client().request("GET", SESSIONS, params=params)
        return self._client().decode(answer).data

    # -- sessions -----------------------------------------------------------------------------
    def sessions(self, session_type: str, start: datetime, until: datetime) -> list[dict[str, Any]]:
        """The sessions of `session_type` that ended in [start, until), every page of them."""
        params = {"typeFilter": session_type, "endedAfterFilter": _utc(start),
                  "endedBeforeFilter": _utc(until), "orderColumn": "CreationTime", "orderAsc": "true",
                  "limit": self.settings.page_size}
        guard, skip, found, seen = PageGuard(self.vendor), 0, [], set()
        while True:
            guard.next_page((session_type, skip))
            page = self._get({**params, "skip": skip})
            rows = page.get("data") if isinstance(page, dict) else None
            if not isinstance(rows, list):
                raise SourceError(f"source {self.name}: Veeam answered {SESSIONS} without a data list; check base_url")
            ids = {str(r.get("id")) for r in rows if isinstance(r, dict)}
            if rows and ids <= seen:
                raise SourceError(f"source {self.name}: Veeam returned the same sessions for a later skip "
                                  f"({skip}); stopped paging")
            for row in rows:  # skips shift when sessions come and go meanwhile: one seen again is one run
                if isinstance(row, dict) and (row.get("id") is None or str(row.get("id")) not in seen):
                    seen.add(str(row.get("id")))
                    found.append(row)
            skip += len(rows)
            if not _more(page.get("pagination"), skip, len(rows), self.settings.page_size):
                break
            guard.rows(len(rows))
        return [s for s in found if s.get("sessionType", session_type) == session_type
                and self._ended_within(s, start, until)]

    def _ended_within(self, session: dict[str, Any], start: datetime, until: datetime) -> bool:
        if session.get("state") != "Stopped":
            return False  # still running (or stopping): counted in the month it ends
        ended = parse_time(session.get("endTime"), self.vendor, f"session {session.get('id')} endTime")
        return ended is not None and start <= ended < until

    def stats(self, runs: list[dict[str, Any]], restores: list[dict[str, Any]], start: datetime,
              until: datetime, warnings: tuple[str, ...]) -> BackupStats:
        by_job: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
        left_out = 0
        for session in runs:
            result = _result(session)
            if result not in ("Success", "Warning", "Failed"):
                left_out += 1
                continue
            ended = parse_time(session.get("endTime"), self.vendor, "endTime")
            by_job[str(session.get("name") or session.get("jobId") or "unnamed job")].append((result, ended))
        jobs = tuple(self.job(name, done, start, until) for name, done in sorted(by_job.items()))
        counted = [result for done in by_job.values() for result, _ in done]
        return BackupStats(
            jobs_run=len(counted), succeeded=counted.count("Success"), with_warnings=counted.count("Warning"),
            failed=counted.count("Failed"), protected_bytes=None,
            restores=sum(1 for s in restores if _result(s) in GOOD),
            longest_gap_s=max((j.longest_gap_s or 0 for j in jobs), default=None), jobs=jobs,
            partial=bool(warnings) or None, warnings=warnings, extra={"left_out": left_out})

    @staticmethod
    def job(name: str, done: list[tuple[str, datetime]], start: datetime, until: datetime) -> BackupJob:
        results = [result for result, _ in done]
        good = [ended for result, ended in done if result in GOOD]
        return BackupJob(name, runs=len(done), succeeded=results.count("Success"), failed=results.count("Failed"),
                         longest_gap_s=longest_gap(good, start, until))


def _bad_request(answer: requests.Response) -> str | None:
    """What a 400 from the token endpoint says when it does not refuse the credentials (OAuth2's
    invalid_grant: the username, password or refresh token; or the Error model's AccessDenied and the
    like): its errorCode and message, another OAuth2 error code, or '' for a body that says neither;
    None for a refusal of the credentials."""
    try:
        body = answer.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    if body.get("error") in REFUSED or body.get("errorCode") in REFUSED:
        return None
    said = [body.get(key) for key in ("errorCode", "error")] + [body.get("message")]
    return ": ".join(str(part) for part in said if isinstance(part, str) and part.strip())


def _result(session: dict[str, Any]) -> str | None:
    """Success, Warning or Failed; None for a canceled session or one without a result."""
    result = session.get("result")
    if isinstance(result, dict):
        if result.get("isCanceled"):
            return None
        result = result.get("result")
    return result if isinstance(result, str) else None


def _more(pagination: Any, skip: int, rows: int, page_size: int) -> bool:
    """Another page? Up to pagination.total when the answer gives it, else while pages come full."""
    total = pagination.get("total") if isinstance(pagination, dict) else None
    if isinstance(total, int) and not isinstance(total, bool):
        return skip < total
    return rows >= page_size


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
