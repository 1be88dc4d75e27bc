"""Running unattended: the daily `run` decision, `send`, one run at a time, telling people when one fails.

`run` is meant to be called every day from cron or a systemd timer. Every run first stores today's
reading of the sources that need daily snapshots (collect.take_snapshots). Last month's edition is due
from `run.send_day` (editions.due_date); a run on a later day catches it up, once (then it is sent).
An edition due more than `run.max_days_late` days ago is refused (and marked `skipped`, so later
runs stay quiet) unless `--force`: old news mailed to everyone by surprise helps nobody. What a
run does is decided first (decide_run: it reads the store and the clock and writes nothing), then
done under the lock, with the ping URL and the owners told how it went (Monitor).
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from newsletter import i18n, limits
from newsletter.collect import collect, collected_running, ensure_collected, required_failures, take_snapshots
from newsletter.collectors.base import utcnow
from newsletter.config import Config
from newsletter.delivery.message import Envelope
from newsletter.delivery.notices import build_notice, send_notices
from newsletter.delivery.registry import make_transport
from newsletter.editions import draft, due_date, frozen, reach, refuse_collected_running, refuse_partial, send_edition
from newsletter.errors import ConfigError, LockHeld, NewsletterError, NothingToDo, SourceError
from newsletter.http import HttpClient, HttpPolicy, make_session, redact_url
from newsletter.limits import DeadlineExceeded
from newsletter.period import Month, Year
from newsletter.state_dir import LOCK_NAME, prepare_state_dir, unusable
from newsletter.store import Store

if TYPE_CHECKING:
    from newsletter.workspace import Workspace

log = logging.getLogger(__name__)
NOT_REACHED = ("unknown", "perm_failed", "temp_failed")  # the ledger states the owners are told about
Echo = Callable[[str], object]  # where a command's report lines go (click.echo)
# one ping, retries included: a monitoring endpoint that answers a byte at a time never holds the run
PING_DEADLINE_S = 15.0


# the run decision -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunDecision:
    """What today's `run` does with a month's edition, once it is due (decide_run)."""

    month: Month
    collect: bool = False  # fetch the month's numbers first; else compose from what is stored
    backfill: int = 0  # earlier months to collect with it when they have nothing stored (the demo's history)
    check_partial: bool = True  # stop when a required source covers only part of the month
    too_late: str | None = None  # why it is refused as too late: the run records it `skipped` and fails
    notes: tuple[str, ...] = ()  # warnings for the log (an earlier edition that was never sent)


def decide_run(config: Config, store: Store, month: Month, now: datetime, *, force: bool = False,
               demo: bool = False) -> RunDecision:
    """What `run` does for `month` at `now`; NothingToDo (exit 3) before it is due, once it is sent,
    or after it was skipped as too late. Reads the store, writes nothing.

    `force`: send even when late or before `run.send_day`, and with a required source that covers
    only part of the month. `demo`: the demo is never late and collects its own history."""
    edition = store.edition(month.label)
    too_late = _lateness(config, store, now, month, force=force or demo)
    if too_late:
        return RunDecision(month, too_late=too_late)
    started = edition is not None and edition.status in ("sending", "failed")  # the ledger says who is left
    # A draft waiting for approval keeps the numbers the reviewers see; `newsletter collect` refreshes them.
    # So does one skipped as too late once approved: collecting again would undo the approval --force is to send.
    reviewed = edition is not None and (edition.status in ("draft", "approved") or (
        edition.status == "skipped" and store.latest_approval(month.label) is not None))
    awaiting = reviewed and store.has_results(month.label)
    # numbers collected while the month ran are never sent as the month: collected again, unless someone has them
    stale = reach(store, month.label) is None and collected_running(store.results(month.label), month)
    missed = missed_before(store, month)
    return RunDecision(month, collect=stale or not (started or awaiting),
                       backfill=config.newsletter.history_months if demo else 0, check_partial=not force,
                       notes=(missed,) if missed else ())


def _lateness(config: Config, store: Store, now: datetime, month: Month, *, force: bool) -> str | None:
    """None when `month`'s edition should go out now, the refusal when it is too late; NothingToDo
    when it is not due yet, was sent, or was skipped as too late before."""
    edition = store.edition(month.label)
    due = due_date(config, month)
    if now < month.end or (now < due and not force):
        raise NothingToDo(f"edition {month} is due on {due:%Y-%m-%d}; nothing to do yet")
    if edition and edition.status == "sent":
        raise NothingToDo(f"edition {month} was already sent ({edition.sent_at}); nothing to do")
    # finishing is never late once someone has it (or may have): the rest get it too; one that reached
    # nobody (the mail server down for weeks) is as late as one never sent
    started = edition is not None and edition.status in ("sending", "failed") and reach(store, month.label) is not None
    late = (now - due).days
    if force or started or late <= config.run.max_days_late:
        return None
    if edition and edition.status == "skipped":
        raise NothingToDo(f"edition {month} was skipped as too late; send it with --month {month} --force")
    return (f"edition {month} is {late} days late (run.max_days_late = {config.run.max_days_late}); "
            f"not sent. To send it anyway: newsletter run --month {month} --force")


def month_to_run(config: Config, store: Store, now: datetime) -> Month:
    """The month a `run` without --month works on: last month; but before last month's edition is
    due (a `run.send_day` after the 1st), the month before it while its edition is neither sent nor
    skipped, so one due late in a month is still caught up (or refused as too late, the owners told)
    after the month turns, instead of dropped without a word."""
    last = Month.parse("last", config.tz, now)
    earlier = last.previous()
    edition = store.edition(earlier.label)
    if now < due_date(config, last) and not (edition and edition.status in ("sent", "skipped")):
        return earlier
    return last


def scheduled_month(config: Config, store: Store, now: datetime, month: Month, *, force: bool) -> Month:
    """The schedule alone: `month` when its edition should go out now; NothingToDo before it is due
    or once sent; an edition too late is marked `skipped` and refused (NewsletterError)."""
    too_late = _lateness(config, store, now, month, force=force)
    if too_late:
        _skip(store, month, too_late)
    return month


def _skip(store: Store, month: Month, why: str) -> None:
    store.save_edition(month.label, "skipped")  # later runs stay quiet about it
    raise NewsletterError(why)


def missed_before(store: Store, month: Month) -> str | None:
    """A note when the month before `month` was never sent, or did not reach everyone: from now on
    runs look at `month`, so the earlier one is not caught up or finished automatically."""
    earlier = month.previous()
    edition = store.edition(earlier.label)
    if edition is not None and edition.status in ("sending", "failed"):
        return (f"edition {earlier} did not reach everyone and is not finished by itself; see 'newsletter history', "
                f"finish it with: newsletter run --month {earlier}")
    waiting = edition is not None and edition.status in ("draft", "approved")
    # nothing stored for it in a workspace that has older numbers: no run while it was due (the machine off)
    gap = (store.first_month() or earlier.label) < earlier.label
    if waiting or (edition is None and (store.has_results(earlier.label) or gap)):
        return f"edition {earlier} was never sent; send it on purpose with --month {earlier} --force"
    return None


# the commands that send ---------------------------------------------------------------------------
def run(ws: Workspace, period: Month | Year, *, force: bool = False, echo: Echo = print) -> None:
    """The daily job: when the month's edition is due and not sent, collect, compose and send it;
    a year in review, built from the months stored, goes out when asked. One run at a time; the
    ping URL and the owners hear how it went. `echo` gets the report lines."""
    with lock(ws.config.state_dir), Monitor(ws.config, "run", period.label, ws.store).watch():
        daily_snapshots(ws)  # every day, whatever is decided about sending below
        if isinstance(period, Year):  # for_sending says so when it was already sent
            ensure_collected(ws, period)
            _send(ws, period, force=force, echo=echo)
            return
        decision = decide_run(ws.config, ws.store, period, ws.clock(), force=force, demo=ws.demo)
        if decision.too_late:
            _skip(ws.store, period, decision.too_late)
        for note in decision.notes:
            log.warning("%s", note)
        # what is stored counts as much as a fresh collection (a draft approved with a required source
        # failed); only an edition that has reached someone goes on as it is
        results = (collect(ws, period, backfill=decision.backfill) if decision.collect
                   else [] if frozen(ws, period) else ws.store.results(period.label))
        failures = required_failures(ws.config, results)
        if failures:
            raise NewsletterError("required source failed, not sending: " + "; ".join(failures))
        if decision.check_partial:
            refuse_partial(ws, period)
        _send(ws, period, echo=echo)


def daily_snapshots(ws: Workspace) -> None:
    """Today's reading of every source that needs daily snapshots; a failure is a warning in the
    log (cron's mail), never the end of the run: the edition does not depend on today's reading."""
    for outcome in take_snapshots(ws):
        if not outcome.ok:
            log.warning("warning: no snapshot stored today for %s: %s", outcome.source, outcome.error)


def send(ws: Workspace, period: Month | Year, *, resend_unknown: bool = False, force: bool = False,
         echo: Echo = print) -> None:
    """`send`: the edition from what is stored (no collecting), now, under the lock; `resend_unknown`
    sends again, on purpose, to the people whose delivery is unknown."""
    if isinstance(period, Month) and not (force or resend_unknown) and ws.clock() < period.end:
        # a typo for last month would mail a few days as the month, and mark the month sent
        raise NothingToDo(f"edition {period} is not sent before its month is over (on {period.end:%Y-%m-%d}); "
                          "to send the days so far anyway, add --force")
    with lock(ws.config.state_dir):
        if not resend_unknown:
            ensure_collected(ws, period)
            if isinstance(period, Month) and not force:
                refuse_collected_running(ws, period)
        _send(ws, period, resend_unknown=resend_unknown, force=force, echo=echo)


def send_test(ws: Workspace, period: Month | Year, to: str) -> str:
    """`send --test-to`: one copy of what the next run would send, to `to`, outside the ledger; the
    address is checked before anything is composed. Returns the server's answer."""
    from newsletter.delivery.mailing import recipient_for_test
    from newsletter.delivery.mailing import send_test as send_copy

    recipient_for_test(to)  # a wrong address says so before anything is composed
    ensure_collected(ws, period)
    return send_copy(ws, draft(ws, period)[0], to)


def _send(ws: Workspace, period: Month | Year, *, echo: Echo, resend_unknown: bool = False,
          force: bool = False) -> None:
    sent = send_edition(ws, period, resend_unknown=resend_unknown, force=force)
    for line in sent.lines():
        echo(line)
    sent.refuse_incomplete()


# one run at a time --------------------------------------------------------------------------------
@contextmanager
def lock(state_dir: Path) -> Iterator[None]:
    """One run at a time per state directory; a second one is told who holds the lock (LockHeld)."""
    prepare_state_dir(state_dir)
    path = state_dir / LOCK_NAME
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
        except OSError as exc:  # ENOLCK, EOPNOTSUPP: some network file systems have no locks
            raise ConfigError(f"{state_dir}: cannot lock {LOCK_NAME} there ({exc.strerror or exc}): its file "
                              "system does not support the lock that keeps two runs from sending at once; set "
                              "newsletter.state_dir (--state-dir, $NEWSLETTER_STATE_DIR) to a folder on a local "
                              "disk") from None
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


# telling people -----------------------------------------------------------------------------------
def _is_web_url(url: str) -> bool:
    """http(s), a host and a valid port: what the ping can be sent to."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port out of range raises ValueError here)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


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
        # The URL is the secret, its path included (a check's key): never shown, with or without a "/"
        base = url.rstrip("/")
        if not _is_web_url(base):  # a typo (no https://, a bad port) would crash the run or show the key
            log.warning("run.ping_url: not an http(s) URL such as https://hc-ping.com/<uuid>; not pinging")
            return
        client = HttpClient(make_session(HttpPolicy(retries=2, read_timeout_s=10, connect_timeout_s=5)), url,
                            "the ping URL", secrets=(base, redact_url(base)))
        try:
            with limits.budget(deadline_s=PING_DEADLINE_S):
                client.request("POST", base + suffix, data=body.encode("utf-8")[:10_000])
        except DeadlineExceeded:
            log.warning("ping %s failed: run.ping_url did not answer within %g s", suffix or "success",
                        PING_DEADLINE_S)
        except SourceError as exc:
            shown = str(exc).replace(redact_url(base), "run.ping_url")
            log.warning("ping %s failed: %s", suffix or "success", shown)

    def notify(self, problem: str) -> None:
        owners = self.config.run.owners
        if not owners:
            return
        language = self.config.newsletter.language
        try:
            words = i18n.translations_for(language)
        except NewsletterError:  # its catalog is damaged (perhaps the very problem): the owners hear in English
            language, words = i18n.DEFAULT_LANGUAGE, None
        with i18n.speaking(language, words):  # the owners read the workspace's language
            body = self._report(problem)
            subject = i18n.gettext("newsletter {what} failed on {host}: {problem}").format(
                what=self.what, host=socket.gethostname(), problem=problem)
        envelope = Envelope(sender=self.config.delivery.sender)
        notices = [build_notice(envelope, owner, subject, body, kind="failure") for owner in owners]
        try:
            failures = send_notices(make_transport(self.config, "notifications"), notices)[1]
        except Exception as exc:  # the owners' mail must never hide the failure it reports
            failures = [f"{', '.join(owners)}: {exc}"]
        for failure in failures:
            log.error("could not email the owners: %s", failure)

    def _report(self, problem: str) -> str:
        """The owners' email, in the current language; the problem and the ledger's states as they are."""
        _ = i18n.gettext
        lines = [_("newsletter {what} on {host} stopped:").format(what=self.what, host=socket.gethostname()), "",
                 f"    {problem}", "", _("Workspace: {path}").format(path=self.config.path)]
        if self.month and self.store is not None:
            counts = self.store.delivery_counts(self.month)
            summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or _("nobody yet")
            lines += [_("Edition {month}: {summary}").format(month=self.month, summary=summary), ""]
            # who was not reached, as `history` names them (at most 50 here: history has them all)
            for row in self.store.deliveries(self.month, NOT_REACHED)[:50]:
                lines.append(f"    {row.status}: {row.recipient} ({row.last_error})")
        lines += ["", _("Nobody is sent a second copy by a re-run: fix the cause and run it again."),
                  _("`newsletter history` lists every edition and the people it has not reached.")]
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
