"""Healthchecks.io Management API v3 (hosted or self-hosted): the checks that cron and backup jobs
ping, and each check's status changes ("flips") in the month.

`GET /api/v3/checks/` (`X-Api-Key`; a read-only key is enough: it lists `unique_key` instead of
the UUID, and the flips accept either) lists the checks, narrowed by `tags` (the API's `tag`
filter, repeated: checks that have every one). Per check, `GET /checks/<id>/flips/?end=` (unix
seconds, exclusive) with the month's start gives the last flip before it, the state the check
entered the month in, and `?start=` (inclusive) the month's start its flips since: those of the
month, and whether it changed at all since. A flip says only whether the check became up (1) or
not (0); Healthchecks records a pause (and a resume) as a flip to 0, so a check still paused is
found by its last flips (`paused_since`): it is not watched from its pause on, and one paused since
before the month has its figures unknown.

From them, per check (one BackupJob each, docs/sources/backups.md says the same in words):
- monitored: from the month's start, or from the check's first flip when it had none before (a
  new check is not watched until its first ping), to the month's end;
- down: the time it was not up; its longest stretch is `longest_gap_s` (0 when never down);
- runs expected (`runs`): for a cron check, the schedule's firings in the monitored time (cronsim,
  the library Healthchecks itself uses, in the check's `tz`) whose grace period ended by the
  month's end; for a simple check, the whole `timeout` periods in the monitored time;
- missed (`failed`): for a cron check, the firings after which the check was down once the grace
  period was over; for a simple check, per down stretch of D seconds, ceil(D / timeout) runs:
  the check goes down `grace` after a missed ping was due, and every run due before the ping that
  ends the stretch, less its grace, was missed (L + k*timeout + grace < L + timeout + grace + D);
- reported (`succeeded`): expected minus missed.
A check whose timeout or schedule cannot be read has `runs`, `succeeded` and `failed` unknown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from newsletter.binding import Secret
from newsletter.collectors.backups import measured_span
from newsletter.collectors.common import HttpSource, HttpSourceSettings
from newsletter.collectors.ticketing import parse_time
from newsletter.errors import ConfigError, SourceError
from newsletter.http import HttpClient
from newsletter.period import Month
from newsletter.results import BackupJob, BackupStats

CHECKS = "/checks/"
MAX_FIRINGS = 200_000  # a "* * * * *" schedule fires 44,640 times in a month


@dataclass(frozen=True, kw_only=True)
class HealthchecksSettings(HttpSourceSettings):
    api_key: Secret  # api_key_env = "HEALTHCHECKS_API_KEY": the project's (read-only) API key
    base_url: str = "https://healthchecks.io"  # or your own instance; /api/v3 is added
    tags: list[str] = field(default_factory=list)  # only checks with every one of these tags


@dataclass(frozen=True)
class Stretch:
    """A part of the month in one state: up True, down False, not yet watched None."""

    begin: datetime
    end: datetime
    up: bool | None

    @property
    def seconds(self) -> float:
        return (self.end - self.begin).total_seconds()


class Healthchecks(HttpSource):
    """The checks of one Healthchecks project (the API key's), one backup job each."""

    type = "healthchecks"
    kind = "backup"
    vendor = "Healthchecks"
    Settings = HealthchecksSettings
    api_root = "/api/v3"
    not_found_hint = "check base_url (the instance's address, such as https://healthchecks.io, or its /api/v3)"

    def validate(self) -> None:
        super().validate()
        for tag in self.settings.tags:
            if not isinstance(tag, str) or not tag.strip() or " " in tag:
                raise ConfigError(f"source {self.name}: tags: expected tag names without spaces, got {tag!r}")

    def collect(self, month: Month) -> BackupStats:
        start, until, notes = measured_span(month, self.clock())
        key = self.settings.api_key.reveal()
        client = self.http_client(credential_hint=f"{self.settings.api_key.hint} (the project's API key)",
                                  secrets=(key,), headers={"X-Api-Key": key})
        warnings = list(notes)
        jobs = tuple(self.job(client, check, start, until, warnings) for check in self.checks(client))
        known = [job for job in jobs if job.runs is not None]
        gaps = [job.longest_gap_s for job in jobs if job.longest_gap_s is not None]
        return BackupStats(
            jobs_run=sum(j.runs or 0 for j in known) if known else None,
            succeeded=sum(j.succeeded or 0 for j in known) if known else None,
            failed=sum(j.failed or 0 for j in known) if known else None,
            longest_gap_s=max(gaps) if gaps else None, jobs=jobs,
            partial=bool(notes) or None, warnings=tuple(warnings))

    def checks(self, client: HttpClient) -> list[dict[str, Any]]:
        tags = [("tag", tag) for tag in self.settings.tags]
        answer = client.get_json(CHECKS, params=tags)
        checks = answer.get("checks") if isinstance(answer, dict) else None
        if not isinstance(checks, list):
            raise SourceError(f"source {self.name}: Healthchecks answered {CHECKS} without a checks list; "
                              "check base_url")
        checks = [c for c in checks if isinstance(c, dict)]
        if not checks:
            wanted = f" with the tags {' '.join(self.settings.tags)}" if self.settings.tags else ""
            raise SourceError(f"source {self.name}: Healthchecks lists no checks{wanted}: check tags and that "
                              "the API key is the project's whose checks the jobs ping")
        return checks

    # -- one check ----------------------------------------------------------------------------
    def job(self, client: HttpClient, check: dict[str, Any], start: datetime, until: datetime,
            warnings: list[str]) -> BackupJob:
        ident = _ident(check)
        name = str(check.get("name") or check.get("slug") or ident)
        if ident is None:
            raise SourceError(f"source {self.name}: Healthchecks sent check {name!r} without uuid or unique_key")
        path = f"{CHECKS}{quote(ident, safe='')}/flips/"
        before = [f for f in self.flips(client, path, {"end": int(start.timestamp())}) if f[0] < start]
        since = [f for f in self.flips(client, path, {"start": int(start.timestamp())}) if f[0] >= start]
        flips = before + since
        paused = paused_since(check.get("status"), flips)
        if paused is not None and paused <= start:
            warnings.append(f"check {name!r} was paused all month: its figures are unknown")
            return BackupJob(name)
        stretches = timeline(before[-1][1] if before else None, [f for f in since if f[0] < until], start, until)
        unrecorded = paused is not None and paused < until and flips[-1][1]  # the pause is not among the flips
        if unrecorded:
            warnings.append(f"check {name!r} is paused, and Healthchecks keeps no record of when: its runs "
                            f"after its last status change ({paused:%Y-%m-%d %H:%M} UTC) are not counted")
        if paused is not None:
            stretches = unwatched_from(stretches, paused)
        watched = [s for s in stretches if s.up is not None]
        if not watched:
            if not unrecorded:
                warnings.append(f"check {name!r} was not watched in the month (not pinged yet, or Healthchecks "
                                "no longer holds its status changes): its figures are unknown")
            return BackupJob(name)
        down = [s for s in watched if s.up is False]
        runs, missed = self.expected(check, name, stretches, until, warnings)
        return BackupJob(name, runs=runs, succeeded=None if runs is None else runs - (missed or 0),
                         failed=missed, longest_gap_s=round(max((s.seconds for s in down), default=0)))

    def flips(self, client: HttpClient, path: str, params: dict[str, int]) -> list[tuple[datetime, bool]]:
        """(moment, became up) of the check's flips, oldest first."""
        answer = client.get_json(path, params=params)
        rows = answer.get("flips") if isinstance(answer, dict) else answer
        if not isinstance(rows, list):
            raise SourceError(f"source {self.name}: Healthchecks answered {path} without a flips list; check base_url")
        found = []
        for row in rows:
            moment = parse_time(row.get("timestamp") if isinstance(row, dict) else None, self.vendor,
                                f"a flip of {path}")
            if moment is None or not isinstance(row.get("up"), int | bool):
                raise SourceError(f"source {self.name}: Healthchecks sent a flip without timestamp or up in {path}")
            found.append((moment, bool(row["up"])))
        return sorted(found)

    def expected(self, check: dict[str, Any], name: str, stretches: list[Stretch], until: datetime,
                 warnings: list[str]) -> tuple[int | None, int | None]:
        """(runs expected, runs missed) in the watched time; (None, None) when they cannot be known."""
        grace = _seconds(check.get("grace")) or 0
        if check.get("schedule"):
            try:
                return cron_runs(str(check["schedule"]), ZoneInfo(str(check.get("tz") or "UTC")), grace,
                                 stretches, until)
            except (ValueError, ZoneInfoNotFoundError) as exc:
                warnings.append(f"check {name!r}: its schedule {check['schedule']!r} (tz {check.get('tz')!r}) "
                                f"cannot be read ({exc}): its runs are unknown")
                return None, None
        timeout = _seconds(check.get("timeout"))
        if not timeout:
            warnings.append(f"check {name!r} has neither a timeout nor a schedule: its runs are unknown")
            return None, None
        return period_runs(timeout, stretches)


def timeline(at_start: bool | None, flips: list[tuple[datetime, bool]], start: datetime,
             until: datetime) -> list[Stretch]:
    """The month cut into stretches of one state, from the state it began in and its flips."""
    stretches, begin, up = [], start, at_start
    for moment, became_up in flips:
        if became_up != up and moment > begin:
            stretches.append(Stretch(begin, moment, up))
            begin = moment
        up = became_up
    stretches.append(Stretch(begin, until, up))
    return [s for s in stretches if s.seconds > 0]


def paused_since(status: Any, flips: list[tuple[datetime, bool]]) -> datetime | None:
    """When a check that is still paused was paused, or None.

    Healthchecks records a pause as a flip to "not up" and a resume as another ("new" until the
    next ping), and a paused check takes no pings that would flip it: so the last flip of a check
    paused now is its pause, and the one before the last of a check "new" again is. A pause that has
    ended (pinged since) cannot be told from a time down: the API's flips say only up or not.
    """
    if status == "paused" and flips:  # a last flip "up" (older records): paused at some time since
        return flips[-1][0]
    if not flips or flips[-1][1]:
        return None
    if status == "new":  # resumed: the flip before the resume is the pause
        return flips[-2][0] if len(flips) > 1 and not flips[-2][1] else flips[-1][0]
    return None


def unwatched_from(stretches: list[Stretch], moment: datetime) -> list[Stretch]:
    """The stretches with everything from `moment` on not watched (paused: no run is expected)."""
    kept = [s if s.end <= moment else Stretch(s.begin, moment, s.up) for s in stretches if s.begin < moment]
    end = stretches[-1].end if stretches else moment
    return kept + ([Stretch(moment, end, None)] if moment < end else [])


def period_runs(timeout: int, stretches: list[Stretch]) -> tuple[int, int]:
    """A simple check: whole timeout periods watched, and the runs each down stretch missed."""
    watched = sum(s.seconds for s in stretches if s.up is not None)
    expected = int(watched // timeout)
    missed = sum(math.ceil(s.seconds / timeout) for s in stretches if s.up is False)
    return expected, min(missed, expected)


def cron_runs(schedule: str, tz: ZoneInfo, grace: int, stretches: list[Stretch], until: datetime
              ) -> tuple[int, int]:
    """A cron check: its firings in the watched time whose grace ended by `until`, and those after which it was down."""
    watched = [s for s in stretches if s.up is not None]
    if not watched:
        return 0, 0
    try:
        firings = CronSim(schedule, (watched[0].begin - timedelta(seconds=1)).astimezone(tz))
    except CronSimError as exc:
        raise ValueError(str(exc)) from None
    expected = missed = 0
    for _ in range(MAX_FIRINGS):
        fired = next(firings).astimezone(UTC)
        decided = fired + timedelta(seconds=grace + 1)
        if decided > until:
            break
        state = _state_at(stretches, fired)
        if state is None:
            continue
        expected += 1
        missed += _state_at(stretches, decided) is False
    return expected, missed


def _state_at(stretches: list[Stretch], moment: datetime) -> bool | None:
    return next((s.up for s in stretches if s.begin <= moment < s.end), None)


def _ident(check: dict[str, Any]) -> str | None:
    """The UUID (read-write key), else the unique_key (read-only key), else the UUID in update_url."""
    for key in ("uuid", "unique_key"):
        if isinstance(check.get(key), str) and check[key]:
            return check[key]
    url = check.get("update_url")
    return url.rstrip("/").rsplit("/", 1)[-1] if isinstance(url, str) and url else None


def _seconds(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else None
