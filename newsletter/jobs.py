"""The stages a command runs, wired together: collect -> store -> compose -> deliver.

Each stage reads what the one before left in the store, so each can run alone
(`collect`, `preview`, `send`) and `run` is just all three.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter import editions
from newsletter.collect import build_collectors, collect_month
from newsletter.collectors.base import utcnow
from newsletter.collectors.registry import CollectorRegistry
from newsletter.compose.context import build_context
from newsletter.compose.render import Newsletter, Renderer, Theme
from newsletter.config import Config, find_config, load_config
from newsletter.errors import ConfigError, LockHeld, NewsletterError, TemplateError, UsageError
from newsletter.model import SourceResult
from newsletter.period import Month, Year
from newsletter.resources import demo_config
from newsletter.store import Store, prepare_state_dir, unusable

if TYPE_CHECKING:  # delivery pulls in ssl, smtplib and email: not needed to collect or preview
    from newsletter.compose.checks import Finding
    from newsletter.delivery.ledger import DeliveryPlan, DeliveryReport
    from newsletter.delivery.message import Envelope
    from newsletter.delivery.recipients import Recipient, RecipientList

DEMO_STATE_DIR = ".newsletter-demo"


@dataclass(frozen=True)
class SampleRecipient:
    """Whom a preview shows the edition as: per-person fields are filled in with this person's."""

    recipient: Recipient
    columns: list[str]  # the recipients file's columns: a list address gets them empty
    origin: str  # "first of 2 people in people.csv", "delivery.to[0]"

    def __str__(self) -> str:
        r = self.recipient
        return f"{r.name} <{r.email}> ({self.origin})" if r.name else f"{r.email} ({self.origin})"

    def fields(self) -> dict[str, str]:
        return self.recipient.context(self.columns)


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
        """--month as given; a month that has not begun has no numbers yet, so it is refused."""
        now = self.clock()
        try:
            month = Month.parse(text, self.config.tz, now=now)
        except ValueError as exc:
            raise ConfigError(f"--month: {exc}") from None
        if month.start > now:
            raise ConfigError(f"--month {month}: {month.name} has not begun yet (it begins on {month.first_day} "
                              f"in {self.config.newsletter.timezone}); choose a month that has")
        return month

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

    def period(self, month: str | None, year: str | None) -> Month | Year:
        """--month or --year (not both): the edition a command works on."""
        if year is None:
            return self.month(month or "last")
        if month is not None:
            raise ConfigError("--month and --year: give one of them, not both")
        try:
            edition = Year.parse(year, self.config.tz)
        except ValueError as exc:
            raise ConfigError(f"--year: {exc}") from None
        if edition.months[0].start > self.clock():
            raise ConfigError(f"--year {edition}: {edition} has not begun yet; choose a year that has")
        return edition

    def ensure_collected(self, month: Month | Year) -> None:
        """The demo makes its own history; a real workspace reads what `collect` stored."""
        if isinstance(month, Year):
            if self.demo:
                last = min(month.months[-1], self.month("last"))
                self.collect(last, backfill=max(0, last.month - 1) + 12)  # and a year before, for records
            elif not any(self.store.has_results(m.label) for m in month.months):
                raise NewsletterError(f"nothing collected for {month}: collect its months first "
                                      f"('newsletter collect --month {month}-12 --backfill 11')")
            return
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

    def refresh_local(self, month: Month) -> list[SourceResult]:
        """Read the offline sources (`Collector.offline`: highlights, metrics files, demo data) again
        for `month` and store them, so a draft shows those files as they are now, not as they were
        at the last `collect`; network sources keep what `collect` stored. A source that fails now
        keeps its last good result in the store (Store.save_results); its failure is returned."""
        local = [(source, collector) for source, collector
                 in build_collectors(self.config, self.registry, clock=self.clock, state=self.store)
                 if collector.offline]
        results = collect_month(local, month, progress=logging.DEBUG)
        self.store.save_results(month.label, results)
        return results

    def compose(self, month: Month | Year, *, refresh: bool = True) -> Newsletter:
        """The edition as it would go out now; a month's local files are read first (`refresh`)."""
        if isinstance(month, Year):
            from newsletter.compose.yearly import build_year_context

            first = month.months[0]
            stored = self.store.history(m.label for m in [*first.history(12), *month.months])
            context = build_year_context(month, stored, self.extra(), now=self.clock())
            return self.renderer().render(month.label, context, edition="year")
        if refresh:
            self.refresh_local(month)
        return self.renderer().render(month.label, self.context(month))

    def context(self, month: Month) -> dict[str, Any]:
        """What the month's templates see: its stored results beside `history_months` earlier ones."""
        results = self.store.results(month.label)
        window = month.history(max(self.config.newsletter.history_months, 1))
        history = self.store.history(m.label for m in window)
        # records "yet" only when the history read holds every month ever stored
        complete = (self.store.first_month() or month.label) >= window[0].label
        return build_context(month, results, history, {**self.extra(), "history_complete": complete})

    def extra(self) -> dict[str, Any]:
        """Workspace facts every template sees besides the numbers."""
        settings = self.config.newsletter
        return {"company": settings.company, "team": settings.team, "language": settings.language,
                "sections": list(settings.sections),
                "source_titles": {source.name: source.title for source in self.config.sources}}

    def sample_edition(self) -> Newsletter:
        """What `check` renders with this workspace's theme: last month of the built-in demo numbers."""
        demo = Workspace.open(demo=True, in_memory=True, registry=self.registry)
        month = demo.month("last")
        collectors = build_collectors(demo.config, demo.registry, clock=self.clock, state=demo.store)
        for each in [*month.history(self.config.newsletter.history_months), month]:
            demo.store.save_results(each.label, collect_month(collectors, each, progress=logging.DEBUG))
        sample = Workspace(self.config, demo.store, self.registry, demo=True, clock=self.clock)
        return sample.compose(month, refresh=False)  # the demo's numbers, not this workspace's files

    def findings(self, newsletter: Newsletter) -> list[Finding]:
        """Email-client safety findings for a composed edition (compose/checks.py)."""
        from newsletter.compose.checks import check_newsletter

        return check_newsletter(newsletter, self.renderer().theme.settings())

    def refuse_broken(self, newsletter: Newsletter) -> None:
        """An edition that would break in mail clients is never sent."""
        errors = [f for f in self.findings(newsletter) if f.level == "error"]
        if errors:
            raise TemplateError(f"edition {newsletter.month} would break in mail clients, not sending: "
                                + "; ".join(f"{f.check}: {f.message}" for f in errors))

    # deliver ---------------------------------------------------------------------------------
    def envelope(self) -> Envelope:
        from newsletter.delivery.message import Envelope

        d = self.config.delivery
        return Envelope(sender=d.sender, list_id=d.list_id, reply_to=d.reply_to)

    def recipients(self) -> RecipientList:
        from newsletter.delivery.recipients import load_recipients

        d = self.config.delivery
        if not d.to and d.recipients is None and self.config.directory is None:
            raise ConfigError(f"{self.config.path}: delivery.to: no recipients; add distribution lists to `to`, "
                              "a CSV file of people as `recipients` or a directory group as [delivery.directory]")
        recipients = load_recipients(d.to, d.recipients, self.config.directory)  # the directory: read once, here
        if not recipients.recipients:
            raise ConfigError(f"{self.config.path}: no valid recipient in delivery.to, delivery.recipients or "
                              "delivery.directory")
        return recipients

    def sample_recipient(self) -> SampleRecipient | None:
        """The first person of `delivery.recipients`, else the first list of `delivery.to`; None without
        either. A person is the more telling sample: lists have no fields to fill in."""
        from newsletter.delivery.recipients import known_columns, load_recipients

        d = self.config.delivery
        people = load_recipients([], d.recipients) if d.recipients is not None else None
        columns = known_columns(people, self.config.directory)
        if people and people.recipients:
            count = len(people)
            return SampleRecipient(people.recipients[0], columns, f"first of {count} "
                                   f"{'person' if count == 1 else 'people'} in {d.recipients.name}")
        lists = load_recipients(d.to, None)
        return SampleRecipient(lists.recipients[0], columns, "delivery.to[0]") if lists.recipients else None

    def plan(self, *, resend_unknown: bool = False) -> DeliveryPlan:
        from newsletter.delivery.ledger import DeliveryPlan

        d = self.config.delivery
        return DeliveryPlan(self.envelope(), max_errors=d.max_errors, rate_per_s=d.rate_per_s,
                            retry_rounds=d.retry_rounds, retry_backoff_s=d.retry_backoff_s,
                            retry_until_days=d.retry_until_days, resend_unknown=resend_unknown, sleep=self.sleep)

    def deliver(self, newsletter: Newsletter, *, resend_unknown: bool = False) -> DeliveryReport:
        from newsletter.delivery.ledger import deliver
        from newsletter.delivery.transports import make_transport

        recipients = self.recipients()
        transport = make_transport(self.config, newsletter.month)
        self.store.set_durability(self.config.delivery.ledger_sync == "full")
        try:
            return deliver(self.store, newsletter, recipients, transport, self.plan(resend_unknown=resend_unknown))
        finally:  # also when the run stopped: how far it got
            self.archive_delivery(newsletter.month, recipients.skipped)

    def send_test(self, newsletter: Newsletter, to: str) -> str:
        """One test copy to `to` (checked first: UsageError when it is not one address), with the
        person's own fields when the recipients file has them."""
        from newsletter.delivery.ledger import send_test
        from newsletter.delivery.recipients import known_columns, load_recipients
        from newsletter.delivery.transports import make_transport

        given = recipient_for_test(to)
        recipients = load_recipients([], self.config.delivery.recipients) if self.config.delivery.recipients else None
        columns = known_columns(recipients, self.config.directory)
        person = (recipients.by_key().get(given.key) if recipients else None) or given
        return send_test(newsletter, self.envelope(), make_transport(self.config, "tests"), person, columns)

    def frozen(self, month: Month | Year) -> str | None:
        """Why the edition's content can no longer change (someone has it), or None (editions.py)."""
        return editions.frozen_note(self.store, month, self.config.tz)

    def draft(self, month: Month | Year, *, refresh: bool = True) -> tuple[Newsletter, str | None]:
        """What a preview shows: what the next run would send, and why it is frozen if it is."""
        return editions.draft(self, month, refresh=refresh)

    def edition_for_sending(self, month: Month | Year, *, resend_unknown: bool = False,
                            force: bool = False) -> Newsletter:
        """The content the next delivery sends: the current draft until anyone has the edition, then
        exactly the archived one (editions.py). A year in review only once over, or with `force`."""
        return editions.for_sending(self, month, resend_unknown=resend_unknown, force=force)

    def check_approved(self, newsletter: Newsletter) -> None:
        """The approval gate: raise NothingToDo (exit 3) while this exact content waits for approval.

        It gets the very edition (and its content hash) about to go out, as read from the archive
        on a re-run; reviewers are asked once per version (approval.py).
        """
        if self.config.delivery.require_approval:
            from newsletter.approval import require_approval

            require_approval(self, newsletter)

    # archive ---------------------------------------------------------------------------------
    def archive_dir(self, month: Month | Year | str) -> Path:
        return self.config.state_dir / "archive" / str(month)

    def has_archive(self, month: Month | Year) -> bool:
        return (self.archive_dir(month) / "edition.json").is_file()  # written last: present means complete

    def archive(self, newsletter: Newsletter) -> Path:
        from newsletter.compose.files import save_images, write_browser_copy

        folder = self.archive_dir(newsletter.month)
        folder.mkdir(parents=True, exist_ok=True)
        _write(folder / "newsletter.html", newsletter.html)
        _write(folder / "newsletter.txt", newsletter.text)
        write_browser_copy(newsletter, folder / "view.html", folder / "images")
        results = [r.to_json() for r in self.store.results(newsletter.month)]
        meta = {"subject": newsletter.subject, "preheader": newsletter.preheader,
                "content_hash": newsletter.content_hash, "sources": results,
                "images": save_images(newsletter, folder)}
        _write(folder / "edition.json", json.dumps(meta, indent=2))  # last: its presence means complete
        return folder

    def archive_delivery(self, month: str, skipped: list[str]) -> None:
        """Beside the edition: how its delivery went, rewritten after every run that sent."""
        meta = {"month": month, "counts": self.store.delivery_counts(month), "skipped_addresses": skipped,
                "updated_at": self.clock().isoformat(timespec="seconds")}
        _write(self.archive_dir(month) / "delivery.json", json.dumps(meta, indent=2))

    def load_archive(self, month: Month | Year) -> Newsletter:
        from newsletter.compose.files import load_images

        folder = self.archive_dir(month)
        meta = json.loads((folder / "edition.json").read_text(encoding="utf-8"))
        return Newsletter(month=month.label, subject=meta["subject"], preheader=meta["preheader"],
                          html=(folder / "newsletter.html").read_text(encoding="utf-8"),
                          text=(folder / "newsletter.txt").read_text(encoding="utf-8"),
                          images=load_images(folder, meta.get("images", [])))

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One run at a time per state directory; a second one is told who holds the lock."""
        prepare_state_dir(self.config.state_dir)
        path = self.config.state_dir / "newsletter.lock"
        try:
            handle = open(path, "a+")  # noqa: SIM115 (the with below closes it; open alone may fail)
        except OSError as exc:
            raise unusable(path, f"open the lock file ({exc.strerror or exc})") from None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _lock_holder(handle) or "another process, which has not said who it is yet"
                raise LockHeld(f"another run holds {path} ({holder}); try again when it ends") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {utcnow():%Y-%m-%d %H:%M:%S} UTC\n")
            handle.flush()
            try:
                yield
            finally:
                handle.truncate(0)
                fcntl.flock(handle, fcntl.LOCK_UN)


def _lock_holder(handle, waits: int = 20, pause_s: float = 0.05) -> str:
    """What the holder wrote into the lock file. A run that has just taken the lock writes it a moment
    later, so an empty file is read again for up to a second before the holder is called unknown."""
    for attempt in range(waits):
        handle.seek(0)
        holder = handle.read().strip()
        if holder or attempt == waits - 1:
            return holder
        time.sleep(pause_s)
    return ""


def _write(path: Path, text: str) -> None:
    """Whole or not at all: a crash never leaves half a file for the next run to send."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def recipient_for_test(to: str) -> Recipient:
    """`send --test-to` and the preview's form: one address, "Name <user@example.com>" or alone."""
    from newsletter.delivery.addresses import check_address
    from newsletter.delivery.recipients import Recipient

    checked = check_address(to, named=True)
    if not checked.ok:
        raise UsageError(f"test address {to!r} {checked.reason}")
    return Recipient(checked.address, checked.name)
