"""Running unattended: which edition is due today, and telling people when a run fails.

`run` is meant to be called every day from cron or a systemd timer. Last month's edition is due
from `run.send_day`; a run on a later day catches it up, once (then it is sent). An edition due
more than `run.max_days_late` days ago is refused (and marked `skipped`, so later runs stay quiet)
unless `--force`: old news mailed to everyone by surprise helps nobody.
"""

from __future__ import annotations

import logging
import socket
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from newsletter.config import Config
from newsletter.delivery.message import Envelope
from newsletter.delivery.notices import build_notice, send_notices
from newsletter.delivery.registry import make_transport
from newsletter.errors import ConfigError, NewsletterError, NothingToDo, SourceError
from newsletter.http import HttpClient, HttpPolicy, make_session, redact_url
from newsletter.period import Month
from newsletter.store import Store

log = logging.getLogger(__name__)


def due_date(config: Config, month: Month) -> datetime:
    """When `month`'s edition is due: `run.send_day` of the month after, midnight local time."""
    return month.end + timedelta(days=config.run.send_day - 1)


def scheduled_month(config: Config, store: Store, now: datetime, month: Month, *, force: bool) -> Month:
    """`month` when its edition should go out now; otherwise NothingToDo, or an error when too late."""
    due = due_date(config, month)
    if now < month.end or (now < due and not force):
        raise NothingToDo(f"edition {month} is due on {due:%Y-%m-%d}; nothing to do yet")
    edition = store.edition(month.label)
    if edition and edition.status == "sent":
        raise NothingToDo(f"edition {month} was already sent ({edition.sent_at}); nothing to do")
    started = edition is not None and edition.status in ("sending", "failed")  # finishing is never late
    late = (now - due).days
    if force or started or late <= config.run.max_days_late:
        return month
    if edition and edition.status == "skipped":
        raise NothingToDo(f"edition {month} was skipped as too late; send it with --month {month} --force")
    store.save_edition(month.label, "skipped")
    raise NewsletterError(f"edition {month} is {late} days late (run.max_days_late = {config.run.max_days_late}); "
                          f"not sent. To send it anyway: newsletter run --month {month} --force")


def missed_before(store: Store, month: Month) -> str | None:
    """A note when the month before `month` was never sent: it is not caught up automatically."""
    earlier = month.previous()
    edition = store.edition(earlier.label)
    if edition is None and store.has_results(earlier.label):
        return f"edition {earlier} was never sent; send it on purpose with --month {earlier} --force"
    return None


@dataclass
class Monitor:
    """Pings a healthchecks-style URL (start / success / fail) and emails the owners on failure."""

    config: Config
    what: str
    month: str | None = None
    store: Store | None = None

    def ping(self, suffix: str, body: str = "") -> None:
        secret = self.config.run.ping_url
        if secret is None:
            return
        try:
            url = secret.reveal()
        except ConfigError as exc:  # monitoring is optional: it never stops the newsletter itself
            log.warning("run.ping_url: %s; not pinging", exc)
            return
        client = HttpClient(make_session(HttpPolicy(retries=2, read_timeout_s=10, connect_timeout_s=5)), url,
                            "the ping URL", secrets=(url,))
        try:
            client.request("POST", url.rstrip("/") + suffix, data=body.encode("utf-8")[:10_000])
        except SourceError as exc:
            shown = str(exc).replace(redact_url(url), "run.ping_url")
            log.warning("ping %s failed: %s", suffix or "success", shown)

    def notify(self, problem: str) -> None:
        owners = self.config.run.owners
        if not owners:
            return
        body = self._report(problem)
        subject = f"newsletter {self.what} failed on {socket.gethostname()}: {problem}"
        envelope = Envelope(sender=self.config.delivery.sender)
        notices = [build_notice(envelope, owner, subject, body, kind="failure") for owner in owners]
        try:
            failures = send_notices(make_transport(self.config, "notifications"), notices)[1]
        except Exception as exc:  # the owners' mail must never hide the failure it reports
            failures = [f"{', '.join(owners)}: {exc}"]
        for failure in failures:
            log.error("could not email the owners: %s", failure)

    def _report(self, problem: str) -> str:
        lines = [f"newsletter {self.what} on {socket.gethostname()} stopped:", "", f"    {problem}", "",
                 f"Workspace: {self.config.path}"]
        if self.month and self.store is not None:
            counts = self.store.delivery_counts(self.month)
            summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nobody yet"
            lines += [f"Edition {self.month}: {summary}", ""]
            for row in self.store.deliveries(self.month, ["unknown"])[:50]:
                lines.append(f"    unknown: {row.recipient} ({row.last_error})")
        lines += ["", "Nobody is sent a second copy by a re-run: fix the cause and run it again.",
                  "`newsletter history` lists every edition and the people whose delivery is unknown."]
        return "\n".join(lines) + "\n"

    @contextmanager
    def watch(self) -> Iterator[Monitor]:
        self.ping("/start")
        try:
            yield self
        except NothingToDo as exc:
            self.ping("", str(exc))
            raise
        except NewsletterError as exc:
            self.ping("/fail", str(exc))
            self.notify(str(exc))
            raise
        except Exception as exc:
            self.ping("/fail", "".join(traceback.format_exception_only(exc)))
            self.notify(f"unexpected error: {type(exc).__name__}: {exc}")
            raise
        self.ping("")
