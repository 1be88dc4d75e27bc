"""KnowBe4 Reporting API v1: the phishing security tests started in the month, and the training
enrollments completed in it.

The API lives on the account's regional host (`https://us.api.knowbe4.com` for accounts on
training.knowbe4.com, `https://eu.api.knowbe4.com` for eu.knowbe4.com, and ca, uk, de likewise),
takes the Reporting API token as `Authorization: Bearer`, and pages its lists with `page` and
`per_page` (at most 500), answering plain JSON arrays; a page shorter than asked is the last.
Neither list can be filtered by date, so both are read whole and the month is picked here.

What counts (docs/sources/awareness.md, "How knowbe4 counts"):
- a test belongs to the month its sending started in (`started_at` in the month, in the
  configured time zone), with all its deliveries, clicks and reports even those after the month;
- `phish_prone_pct` is KnowBe4's own per-test phish-prone percentage (every kind of failure:
  clicks, attachments opened, replies, data entered, macros, QR codes) weighted by each test's
  delivered emails, i.e. the month's failures among its delivered emails. Only when a test with
  deliveries gives no readable percentage, or one below its clicks alone (a fraction sent for a
  percentage), does it fall back, for the whole month, to clicked / delivered, and says so in a
  warning (clicks alone understate it);
- a training counts in the month its enrollment was completed (`completion_date`), whatever the
  status says, unless the status says it is not done.
Rate limits: KnowBe4 answers 429, which the shared HTTP layer waits out (Retry-After, backoff).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from newsletter.binding import Secret
from newsletter.collectors.common import HttpSource, HttpSourceSettings, check_range
from newsletter.collectors.services import number
from newsletter.collectors.ticketing import parse_time
from newsletter.errors import ConfigError, SourceError
from newsletter.http import HttpClient, PageGuard
from newsletter.period import Month
from newsletter.results import AwarenessStats

REGIONS = ("us", "eu", "ca", "uk", "de")
API_HOSTS = {f"{region}.api.knowbe4.com": region for region in REGIONS}
CONSOLE_HOSTS = {"training.knowbe4.com": "us", **{f"{region}.knowbe4.com": region for region in REGIONS}}
TESTS = "/phishing/security_tests"
ENROLLMENTS = "/training/enrollments"
PAGE_MAX = 500
RUNNING = ("active", "in progress", "running")  # statuses of a test still sending or counting
NOT_DONE = ("not started", "in progress")  # statuses of an enrollment that is not completed


@dataclass(frozen=True, kw_only=True)
class KnowBe4Settings(HttpSourceSettings):
    api_key: Secret  # the Reporting API token: api_key_env = "KNOWBE4_API_KEY"
    trainings: bool = True  # read the training enrollments (one row per person and module)
    page_size: int = PAGE_MAX


class KnowBe4(HttpSource):
    """Phishing security tests and training enrollments of one KnowBe4 account."""

    type = "knowbe4"
    kind = "awareness"
    vendor = "KnowBe4"
    Settings = KnowBe4Settings
    example_url = "https://eu.api.knowbe4.com"
    api_root = "/v1"
    not_found_hint = "check base_url (your region's API host, such as https://eu.api.knowbe4.com)"

    def validate(self) -> None:
        super().validate()
        check_range(self.name, "page_size", self.settings.page_size, 1, PAGE_MAX)
        host = (urlsplit(self.settings.base_url).hostname or "").lower().rstrip(".")
        if host.endswith("knowbe4.com") and host not in API_HOSTS:
            region = CONSOLE_HOSTS.get(host)
            hint = (f"https://{region}.api.knowbe4.com for the console at {host}" if region else
                    "your region's API host: " + ", ".join(f"https://{h}" for h in API_HOSTS))
            raise ConfigError(f"source {self.name}: base_url: {host} is not a Reporting API host; use {hint}")

    def collect(self, month: Month) -> AwarenessStats:
        client = self.bearer_client(self.settings.api_key)
        tests = [row for row in self.rows(client, TESTS, "pst_id") if self._started_in(row, month)]
        completed = None
        if self.settings.trainings:
            completed = sum(1 for row in self.rows(client, ENROLLMENTS, "enrollment_id") if _completed_in(row, month))
        return awareness(tests, completed)

    def rows(self, client: HttpClient, path: str, key: str) -> Iterator[dict[str, Any]]:
        """Every row of a paged list once (pages shift when rows are added meanwhile: a row seen again
        is not counted twice); a page repeated or paging without end is an error, not a loop."""
        guard, size, seen = PageGuard(self.vendor), self.settings.page_size, set()
        page = 1
        while True:
            guard.next_page((path, page))
            rows = client.get_json(path, params={"page": page, "per_page": size})
            if not isinstance(rows, list):
                raise SourceError(f"{self.vendor} answered {path} without a list; check base_url (the API host)")
            ids = {_key(row, key) for row in rows if isinstance(row, dict) and row.get(key) is not None}
            if ids and ids <= seen:
                raise SourceError(f"{self.vendor} sent page {page} of {path} with the same rows as an earlier "
                                  "page; stopped paging")
            for row in rows:
                if isinstance(row, dict) and (row.get(key) is None or _key(row, key) not in seen):
                    seen.add(_key(row, key))
                    yield row
            if len(rows) < size:
                return
            page += 1

    def _started_in(self, row: dict[str, Any], month: Month) -> bool:
        started = parse_time(row.get("started_at"), self.vendor, f"security test {_id(row)} started_at")
        return month.contains(started)


def _completed_in(row: dict[str, Any], month: Month) -> bool:
    if str(row.get("status") or "").strip().lower() in NOT_DONE:
        return False
    done = parse_time(row.get("completion_date"), "KnowBe4", f"enrollment {_id(row, 'enrollment_id')} completion_date")
    return month.contains(done)


def awareness(tests: list[dict[str, Any]], trainings_completed: int | None) -> AwarenessStats:
    """The month's figures from its security tests (KnowBe4's shape) and its completed trainings."""
    warnings: list[str] = []
    delivered, clicked, reported = (_total(tests, key, warnings) for key in
                                    ("delivered_count", "clicked_count", "reported_count"))
    running = sum(1 for test in tests if str(test.get("status") or "").strip().lower() in RUNNING)
    if running:
        warnings.append(f"{running} of the month's phishing tests are still running: their counts may still grow")
    return AwarenessStats(simulations=len(tests), delivered=delivered, clicked=clicked, reported=reported,
                          phish_prone_pct=phish_prone(tests, clicked, delivered, warnings),
                          trainings_completed=trainings_completed, warnings=tuple(warnings))


def phish_prone(tests: list[dict[str, Any]], clicked: int | None, delivered: int | None,
                warnings: list[str]) -> float | None:
    """KnowBe4's per-test percentage weighted by delivered emails; clicked / delivered when a test with
    deliveries gives none, or one below its clicks alone (said in a warning); None when nothing was
    delivered or a count is unknown."""
    if not delivered:
        return None
    weighted = 0.0
    for test in tests:
        doubt = _doubt(test)
        if doubt:
            if clicked is None:
                return None
            warnings.append(f"{doubt}: the month's phish-prone percentage is clicked / delivered, which leaves "
                            "out other failures (attachments opened, data entered, replies)")
            return round(100 * clicked / delivered, 2)
        weighted += (number(test.get("phish_prone_percentage")) or 0.0) * (_count(test.get("delivered_count")) or 0)
    return round(weighted / delivered, 2)


def _doubt(test: dict[str, Any]) -> str | None:
    """Why a test's own percentage cannot be used, or None. Clicks are one kind of failure, so the
    percentage is never below clicked / delivered (a fraction sent for a percentage would be)."""
    sent, clicks = _count(test.get("delivered_count")) or 0, _count(test.get("clicked_count"))
    percentage = number(test.get("phish_prone_percentage"))
    if not sent:
        return None
    if percentage is None or not 0 <= percentage <= 100:
        return f"KnowBe4 gave no phish-prone percentage for test {_id(test)}"
    floor = 100 * clicks / sent if clicks is not None else 0.0
    if percentage < floor - 0.05:  # KnowBe4 rounds to a tenth
        return (f"KnowBe4's phish-prone percentage for test {_id(test)} ({percentage:g} %) is below its clicks "
                f"alone ({clicks} of {sent} delivered, {floor:.3g} %)")
    return None


def _total(tests: list[dict[str, Any]], key: str, warnings: list[str]) -> int | None:
    """The sum of one count over the tests; unknown (with a warning) when a test's is unreadable, or
    counts more people than the test's delivered emails reached (a share over 100 % otherwise)."""
    total = 0
    for test in tests:
        value, sent = _count(test.get(key)), _count(test.get("delivered_count"))
        if value is None:
            warnings.append(f"KnowBe4 sent test {_id(test)} without a readable {key}: the month's "
                            f"{key.removesuffix('_count')} is unknown")
            return None
        if key != "delivered_count" and sent is not None and value > sent:
            warnings.append(f"KnowBe4 sent test {_id(test)} with a {key} ({value}) over its delivered_count "
                            f"({sent}): the month's {key.removesuffix('_count')} is unknown")
            return None
        total += value
    return total


def _key(row: dict[str, Any], key: str) -> str:
    """A row's id as text, so an id sent as a list or a table is compared instead of a crash."""
    return str(row.get(key))


def _id(row: dict[str, Any], key: str = "pst_id") -> str:
    """A row's id as a message names it: the vendor's value, cut to 40 characters."""
    text = str(row.get(key))
    return text if len(text) <= 40 else text[:40] + "…"


def _count(value: Any) -> int | None:
    """A whole, non-negative count (KnowBe4 sends numbers; a string of digits is read too)."""
    result = None if isinstance(value, bool) else number(value)
    if result is None or not math.isfinite(result) or result < 0 or result != int(result):
        return None
    return int(result)
