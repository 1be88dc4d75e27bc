"""The stages a command runs, wired together: collect -> store -> compose -> deliver.

Each stage reads what the one before left in the store, so each can run alone
(`collect`, `preview`, `send`) and `run` is just all three.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from newsletter.collect import build_collectors, collect_month
from newsletter.collectors.base import utcnow
from newsletter.collectors.registry import CollectorRegistry
from newsletter.compose.context import build_context
from newsletter.compose.render import Newsletter, Renderer, Theme
from newsletter.config import Config, find_config, load_config
from newsletter.delivery.ledger import DeliveryPlan, DeliveryReport, deliver, send_test
from newsletter.delivery.message import Envelope
from newsletter.delivery.recipients import Recipient, RecipientList, load_recipients
from newsletter.delivery.transports import make_transport
from newsletter.errors import ConfigError, NewsletterError, NothingToDo
from newsletter.model import SourceResult
from newsletter.period import Month
from newsletter.resources import demo_config
from newsletter.store import Store

DEMO_STATE_DIR = ".newsletter-demo"


@dataclass
class Workspace:
    config: Config
    store: Store
    registry: CollectorRegistry
    demo: bool = False
    clock: Callable[[], datetime] = utcnow
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def open(cls, *, config_path: str | None = None, demo: bool = False, state_dir: Path | None = None,
             in_memory: bool = False, registry: CollectorRegistry | None = None) -> Workspace:
        registry = registry or CollectorRegistry.from_entry_points()
        if demo:
            path = demo_config()
            state_dir = state_dir or Path(os.environ.get("NEWSLETTER_STATE_DIR") or DEMO_STATE_DIR)
        else:
            path = find_config(config_path)
            env_state = os.environ.get("NEWSLETTER_STATE_DIR")
            state_dir = state_dir or (Path(env_state) if env_state else None)
        config = load_config(path, registry, state_dir=state_dir)
        store = Store.memory() if in_memory else Store.open(config.state_dir)
        return cls(config, store, registry, demo)

    def month(self, text: str) -> Month:
        try:
            return Month.parse(text, self.config.tz, now=self.clock())
        except ValueError as exc:
            raise ConfigError(f"--month: {exc}") from None

    # collect ---------------------------------------------------------------------------------
    def collect(self, month: Month, *, backfill: int = 0) -> list[SourceResult]:
        """Collect `month`, and first the `backfill` months before it that have nothing stored."""
        collectors = build_collectors(self.config, self.registry, clock=self.clock, state=self.store)
        for earlier in month.history(backfill):
            if not self.store.has_results(earlier.label):
                results = collect_month(collectors, earlier, progress=logging.DEBUG)
                self.store.save_results(earlier.label, results)
        results = collect_month(collectors, month)
        self.store.save_results(month.label, results)
        return results

    def ensure_collected(self, month: Month) -> None:
        """The demo makes its own history; a real workspace reads what `collect` stored."""
        if self.demo:
            self.collect(month, backfill=self.config.newsletter.history_months)
        elif not self.store.has_results(month.label):
            raise NewsletterError(f"nothing collected for {month}: run 'newsletter collect --month {month}' first")

    def required_failures(self, results: list[SourceResult]) -> list[str]:
        required = {s.name for s in self.config.sources if s.required}
        return [f"{r.name}: {r.error}" for r in results if r.status == "failed" and r.name in required]

    # compose ---------------------------------------------------------------------------------
    def renderer(self) -> Renderer:
        settings = self.config.newsletter
        return Renderer(Theme(settings.templates, settings.theme))

    def compose(self, month: Month) -> Newsletter:
        results = self.store.results(month.label)
        previous = self.store.results(month.previous().label)
        settings = self.config.newsletter
        extra = {"company": settings.company, "team": settings.team, "language": settings.language}
        return self.renderer().render(month.label, build_context(month, results, previous, extra))

    # deliver ---------------------------------------------------------------------------------
    def envelope(self) -> Envelope:
        d = self.config.delivery
        return Envelope(sender=d.sender, list_id=d.list_id, reply_to=d.reply_to)

    def recipients(self) -> RecipientList:
        d = self.config.delivery
        if not d.to and d.recipients is None:
            raise ConfigError(f"{self.config.path}: delivery.to: no recipients; add distribution lists to `to` "
                              "or a CSV file of people as `recipients`")
        recipients = load_recipients(d.to, d.recipients)
        if not recipients.recipients:
            raise ConfigError(f"{self.config.path}: no valid recipient in delivery.to or delivery.recipients")
        return recipients

    def plan(self, *, resend_unknown: bool = False) -> DeliveryPlan:
        d = self.config.delivery
        return DeliveryPlan(self.envelope(), max_errors=d.max_errors, rate_per_s=d.rate_per_s,
                            retry_rounds=d.retry_rounds, retry_backoff_s=d.retry_backoff_s,
                            retry_until_days=d.retry_until_days, resend_unknown=resend_unknown, sleep=self.sleep)

    def deliver(self, newsletter: Newsletter, *, resend_unknown: bool = False) -> DeliveryReport:
        recipients = self.recipients()
        transport = make_transport(self.config, newsletter.month)
        self.store.set_durability(self.config.delivery.ledger_sync == "full")
        try:
            return deliver(self.store, newsletter, recipients, transport, self.plan(resend_unknown=resend_unknown))
        finally:  # also when the run stopped: how far it got
            self.archive_delivery(newsletter.month, recipients.skipped)

    def send_test(self, newsletter: Newsletter, to: str) -> str:
        recipients = load_recipients([], self.config.delivery.recipients) if self.config.delivery.recipients else None
        columns = recipients.columns if recipients else []
        person = (recipients.by_key().get(Recipient(to).key) if recipients else None) or Recipient(to)
        return send_test(newsletter, self.envelope(), make_transport(self.config, "tests"), person, columns)

    def edition_for_sending(self, month: Month, *, resend_unknown: bool = False) -> Newsletter:
        """Once an edition started going out, everyone gets exactly that content: reuse the archive."""
        edition = self.store.edition(month.label)
        if resend_unknown:
            if not (edition and (self.archive_dir(month) / "edition.json").is_file()):
                raise NothingToDo(f"edition {month} was never sent; nothing to re-send")
            return self.load_archive(month)
        if edition and edition.status == "sent":
            raise NothingToDo(f"edition {month} was already sent ({edition.sent_at}); nothing to do")
        if edition and edition.status in ("sending", "failed") and (self.archive_dir(month) / "edition.json").is_file():
            return self.load_archive(month)
        newsletter = self.compose(month)
        self.archive(newsletter)
        return newsletter

    def check_approved(self, newsletter: Newsletter) -> None:
        """The approval gate's hook: raise NothingToDo while `newsletter` waits for approval.

        Every edition counts as approved until `require_approval` exists; the check gets the very
        edition (and its content hash) about to go out, as read from the archive on a re-run.
        """

    # archive ---------------------------------------------------------------------------------
    def archive_dir(self, month: Month | str) -> Path:
        return self.config.state_dir / "archive" / str(month)

    def archive(self, newsletter: Newsletter) -> Path:
        folder = self.archive_dir(newsletter.month)
        folder.mkdir(parents=True, exist_ok=True)
        _write(folder / "newsletter.html", newsletter.html)
        _write(folder / "newsletter.txt", newsletter.text)
        results = [r.to_json() for r in self.store.results(newsletter.month)]
        meta = {"subject": newsletter.subject, "preheader": newsletter.preheader,
                "content_hash": newsletter.content_hash, "sources": results}
        _write(folder / "edition.json", json.dumps(meta, indent=2))  # last: its presence means complete
        return folder

    def archive_delivery(self, month: str, skipped: list[str]) -> None:
        """Beside the edition: how its delivery went, rewritten after every run that sent."""
        meta = {"month": month, "counts": self.store.delivery_counts(month), "skipped_addresses": skipped,
                "updated_at": self.clock().isoformat(timespec="seconds")}
        _write(self.archive_dir(month) / "delivery.json", json.dumps(meta, indent=2))

    def load_archive(self, month: Month) -> Newsletter:
        folder = self.archive_dir(month)
        meta = json.loads((folder / "edition.json").read_text(encoding="utf-8"))
        return Newsletter(month=month.label, subject=meta["subject"], preheader=meta["preheader"],
                          html=(folder / "newsletter.html").read_text(encoding="utf-8"),
                          text=(folder / "newsletter.txt").read_text(encoding="utf-8"))

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One run at a time per state directory; a second one is told who holds the lock."""
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.config.state_dir / "newsletter.lock"
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise NothingToDo(f"another run holds {path} ({holder}); try again when it ends") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} since {utcnow():%Y-%m-%d %H:%M:%S} UTC\n")
            handle.flush()
            try:
                yield
            finally:
                handle.truncate(0)
                fcntl.flock(handle, fcntl.LOCK_UN)


def _write(path: Path, text: str) -> None:
    """Whole or not at all: a crash never leaves half a file for the next run to send."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
