"""The delivery loop, driven by the ledger: a row per (edition, recipient).

queued -> sending -> sent | accepted | temp_failed | perm_failed | unknown. `sending` is committed
before the message data leaves and `sent` after the server's 250 (`accepted` after Graph's 202).
A re-run never re-sends `sent`, retries `temp_failed` until `retry_until_days` after the first
try, never retries `perm_failed`, and leaves `unknown` to a person (`send --resend-unknown`): a row
still `sending` from a run that died is unknown too, because its data may have gone out.
Before anyone is sent anything every person's fields are filled in once: a person whose fields
fail is held back alone (`temp_failed`, with the reason and the CSV line).
Each run reads the recipients once and the ledger follows them: people who joined are added
(`queued`), people still waiting who are no longer among them are marked `left` and not sent to
(and queued again should they come back while the edition is still being sent).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from newsletter.compose.personal import Personalizer, Pieces
from newsletter.compose.render import Newsletter
from newsletter.delivery.base import (
    NotTakenInterrupt,
    PermFailure,
    ServerUnavailable,
    TempFailure,
    Transport,
    TransportError,
    UnknownOutcome,
)
from newsletter.delivery.connections import Attempt, ConnectionPool, RateLimit
from newsletter.delivery.group_commit import LedgerWriter
from newsletter.delivery.message import Envelope, MessageFactory
from newsletter.delivery.recipients import Recipient, RecipientList
from newsletter.errors import DeliveryError, NothingToDo, TemplateError
from newsletter.store import DONE_STATES, Store

log = logging.getLogger(__name__)
RETRYABLE = ("queued", "temp_failed")
HELD_SHOWN = 20  # people held back named one by one in the log; history names them all
# the check before a run keeps what it filled in for this many people, so building their messages
# does not fill their fields in again (about 0.7 KB each for the default theme); the rest are filled
# in again when built
FIELDS_KEPT = 20_000
OUTCOMES = ((TempFailure, "temp_failed"), (PermFailure, "perm_failed"), (UnknownOutcome, "unknown"))
LEFT_NOTE = "not sent: no longer among the recipients when a later run read them (the directory group, file or lists)"


@dataclass(frozen=True)
class DeliveryPlan:
    """How one run delivers: limits, retries, and the clock and sleep (tests pass their own)."""

    envelope: Envelope
    max_errors: int = 10
    rate_per_s: float = 0.0
    retry_rounds: int = 0
    retry_backoff_s: float = 60.0
    retry_until_days: float = 3.0
    resend_unknown: bool = False
    fields_kept: int = FIELDS_KEPT  # people whose fields the check keeps filled in for their build
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


@dataclass
class DeliveryReport:
    month: str
    attempted: int = 0
    held: int = 0  # not sent because their per-person fields failed
    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Everyone still among the recipients has it (who left is not waited for)."""
        return set(self.counts) <= {*DONE_STATES, "left"}

    @property
    def finished(self) -> bool:
        """Nothing left for a later run to try (unknown and perm_failed wait for a person)."""
        return not set(self.counts) & {"queued", "sending", "temp_failed"}

    def summary(self) -> str:
        parts = [f"{n} {status}" for status, n in sorted(self.counts.items())]
        if self.held:
            parts.append(f"{self.held} held back (their per-person fields failed)")
        if self.skipped:
            parts.append(f"{len(self.skipped)} addresses skipped (invalid, duplicate or missing)")
        return ", ".join(parts) or "no recipients"


def deliver(store: Store, newsletter: Newsletter, recipients: RecipientList, transport: Transport,
            plan: DeliveryPlan) -> DeliveryReport:
    month = newsletter.month
    people = recipients.by_key()
    report = DeliveryReport(month, skipped=recipients.skipped)
    store.queue(month, people)
    _settle(store, month, plan)
    _follow_the_recipients(store, month, people)
    todo = store.recipients_in(month, RETRYABLE)
    if not todo:
        report.counts = store.delivery_counts(month)
        if report.finished:  # what is left waits for a person: the edition itself is done
            store.save_edition(month, "sent")
        raise NothingToDo(f"edition {month}: nobody left to send to ({report.summary()})")
    pool = transport.pool() or ConnectionPool(transport, transport.connections)
    run = _Run(store, newsletter, transport, plan, recipients.columns, flusher=not pool.drives_flushes)
    try:
        ready = run.check_fields([people[key] for key in todo])
    except BaseException:
        run.close()
        raise
    store.save_edition(month, "sending", newsletter.subject, newsletter.content_hash)
    try:
        if ready:
            pool.open()
        for round_ in range(plan.retry_rounds + 1):
            if round_:
                pause = plan.retry_backoff_s * 2 ** (round_ - 1)
                log.info("%d temporarily refused; trying them again in %.0f s", len(ready), pause)
                plan.sleep(pause)
            ready = pool.send_all(ready, run)
            if not ready:
                break
    finally:
        run.close()
        pool.close()
        report.attempted, report.held = run.attempted, run.held
        report.counts = store.delivery_counts(month)
        store.save_edition(month, "sent" if report.finished else "failed")
    return report


def _settle(store: Store, month: str, plan: DeliveryPlan) -> None:
    """Before sending: died-while-sending becomes unknown; too-old temporary failures give up."""
    for stuck in store.deliveries(month, ["sending"]):
        store.mark(month, stuck.recipient, "unknown", error="a run stopped while sending; it may have arrived")
    deadline = datetime.now(UTC) - timedelta(days=plan.retry_until_days)
    for row in store.deliveries(month, ["temp_failed"]):
        if row.first_attempt_at and datetime.fromisoformat(row.first_attempt_at) < deadline:
            store.mark(month, row.recipient, "perm_failed", error=f"still refused after {plan.retry_until_days:g} "
                       f"days (delivery.retry_until_days); last: {row.last_error}")
            log.warning("%s: given up after %g days of temporary refusals (%s)", row.recipient,
                        plan.retry_until_days, row.last_error)
    if plan.resend_unknown:
        for row in store.deliveries(month, ["unknown"]):
            store.mark(month, row.recipient, "queued", error=f"re-sent on purpose after: {row.last_error}")


def _follow_the_recipients(store: Store, month: str, people: dict[str, Recipient]) -> None:
    """Who is still waiting and no longer among the recipients read for this run left: `left`, not
    sent, named in `history`. Who left and is among them again is queued again. Only rows nothing
    went out for change: sent, unknown and refused rows keep what they say."""
    gone = [key for key in store.recipients_in(month, RETRYABLE) if key not in people]
    for key in gone:
        store.mark(month, key, "left", error=LEFT_NOTE)
    if gone:
        log.warning("%d people waiting for this edition are no longer among the recipients (first: %s); "
                    "not sent ('newsletter history' lists them)", len(gone), gone[0])
    for row in store.deliveries(month, ["left"]):
        if row.recipient in people:
            store.mark(month, row.recipient, "queued", error="among the recipients again; sent by this run")


def field_problems(personalizer: Personalizer, recipients: list[Recipient], columns: list[str],
                   keep: dict[str, Pieces] | None = None, keep_at_most: int = 0) -> dict[str, str]:
    """What fails in each person's per-person fields, by ledger key (nobody: an empty dict). With
    `keep`, the fields filled in for the first `keep_at_most` people go into it, by ledger key."""
    problems: dict[str, str] = {}
    for r in recipients:
        if keep is None or len(keep) >= keep_at_most:
            if problem := personalizer.problem(r.context(columns)):
                problems[r.key] = problem
            continue
        pieces, problem = personalizer.filled(r.context(columns))
        if problem:
            problems[r.key] = problem
        else:
            keep[r.key] = pieces
    return problems


def fails_for_everyone(recipients: list[Recipient], problems: dict[str, str], columns: list[str]) -> str:
    """The message when the fields fail for every person: a template mistake, named by its first."""
    first = recipients[0]
    known = ", ".join(sorted({"email", "name", *columns}))
    return (f"{first.email} ({first.where or 'delivery.to'}): {problems[first.key]}; it fails for every recipient "
            f"({len(recipients)}): fix the template (the recipients' columns are: {known})")


class _Run:
    """One run's sending: personalize, build, send, record; stops after max_errors people failed.

    `send` is called by every connection's thread at once (connections.py), or its steps `begin`,
    `commit`, `build`, `flush`, `finish` and `abandon` by a transport's own pool that drives its
    connections from one thread (smtp_loop.py); the ledger's marks all go through one writer
    (group_commit.py), which shares their disk flushes.
    """

    def __init__(self, store: Store, newsletter: Newsletter, transport: Transport, plan: DeliveryPlan,
                 columns: list[str], *, flusher: bool = True) -> None:
        self.store, self.month, self.plan = store, newsletter.month, plan
        self.done_status = transport.done_status
        self.newsletter = newsletter
        # per-person language: each edition's own personalizer and builder, made when first needed
        self._languages: dict[int, tuple[Personalizer, MessageFactory]] = {}
        self.rate = RateLimit(plan.rate_per_s, plan.clock, plan.sleep)
        self.columns = columns
        self.failed: set[str] = set()
        self.attempted = 0
        self.held = 0  # people whose fields failed: not sent, not counted against max_errors
        self.writer = LedgerWriter(store, newsletter.month, flusher=flusher)
        self._filled: dict[str, Pieces] = {}  # the fields the check filled in, by key, until built
        self._lock = threading.Lock()

    def check_fields(self, recipients: list[Recipient]) -> list[Recipient]:
        """Every person's fields, before anyone is sent anything; returns those that can be sent.

        A person whose fields fail (an empty name split for its first word) is held back alone,
        `temp_failed` with the reason and the CSV line: a later run sends it once the row is fixed,
        until retry_until_days. Failing for everyone while nobody has the edition yet is the
        template's mistake, not a row's: the run stops before anything is sent or marked.
        """
        by_language: dict[int, tuple[Personalizer, list[Recipient]]] = {}
        for recipient in recipients:
            personalizer = self._for(recipient)[0]
            by_language.setdefault(id(personalizer), (personalizer, []))[1].append(recipient)
        problems: dict[str, str] = {}
        for personalizer, mine in by_language.values():
            problems.update(field_problems(personalizer, mine, self.columns, self._filled, self.plan.fields_kept))
        if not problems:
            return recipients
        if len(problems) == len(recipients) and not set(self.store.delivery_counts(self.month)) & set(DONE_STATES):
            raise TemplateError(f"{fails_for_everyone(recipients, problems, self.columns)}. Nobody was sent anything")
        for recipient in recipients:
            if recipient.key in problems:
                self._hold(recipient, problems[recipient.key])
        if self.held > HELD_SHOWN:
            log.warning("... and %d more held back the same way; 'newsletter history' lists them all",
                        self.held - HELD_SHOWN)
        return [r for r in recipients if r.key not in problems]

    def _for(self, recipient: Recipient) -> tuple[Personalizer, MessageFactory]:
        """The personalizer and builder of the edition in the person's language (`language` field);
        called by every connection's thread, so each language's pair is made once, under the lock."""
        news = self.newsletter
        edition = news.in_language(recipient.fields.get("language")) if news.translations else news
        with self._lock:
            if id(edition) not in self._languages:
                personalizer = Personalizer(edition)
                self._languages[id(edition)] = (personalizer, MessageFactory(self.plan.envelope, personalizer))
            return self._languages[id(edition)]

    def _hold(self, recipient: Recipient, problem: str) -> None:
        reason = (f"not sent: {problem} ({recipient.where or 'this address'}); fix the row or the template: "
                  "later runs send it, until delivery.retry_until_days")
        self.writer.mark(recipient.key, "temp_failed", error=reason, attempted=True).result()
        with self._lock:
            self.held += 1
            shown = self.held <= HELD_SHOWN
        if shown:
            log.warning("%s: %s", recipient.email, reason)

    def send(self, transport: Transport, recipient: Recipient) -> str:
        """Send to one person over `transport` (from that connection's thread) and record how it
        went; returns the state recorded. The steps are `begin`, the transport's send (which waits
        for `sending` to be durable just before the data), then `finish`, or `abandon` when the
        run stops before the data left."""
        attempt = self.begin(recipient)
        self.writer.commit_waiting()
        if not self.build(attempt):
            return "held"

        def before_data() -> None:
            attempt.marking.result()
            attempt.data_sent = True

        try:
            reply = transport.send(attempt.out, before_data)
        except (TempFailure, PermFailure, UnknownOutcome) as exc:
            return self.finish(attempt, problem=exc)
        except BaseException as exc:
            if isinstance(exc, NotTakenInterrupt):  # the data had left, and was answered "not taken"
                attempt.data_sent = False
            self.abandon(attempt, refused=exc if isinstance(exc, TransportError) and exc.not_sent else None)
            raise
        return self.finish(attempt, reply=reply)

    def begin(self, recipient: Recipient) -> Attempt:
        """The first step of a send: the rate limit's slot, and `sending` handed to the ledger's
        writer, committed by the next `commit()` with every other mark waiting then (the pool's
        turn: smtp_loop.py), and flushed to disk with every other connection's `sending` waiting
        then: the data waits for `attempt.marking`. The message is built by `build`."""
        if self.rate.interval:  # a `sent` waiting for a commit is not left waiting through the pause
            self.writer.commit_waiting()
        self.rate.wait()
        with self._lock:
            self.attempted += 1
        message_id = self._for(recipient)[1].message_id()
        marking = self.writer.mark_later(recipient.key, "sending", message_id=message_id)
        return Attempt(recipient, None, marking, message_id=message_id)

    def build(self, attempt: Attempt) -> bool:
        """The message, built once `begin`'s mark is committed, so after the connection's last
        `sent`, which was committed with it. False: the person's fields failed after all (they
        were checked before the run: only if building differs from checking), held back."""
        recipient = attempt.recipient
        try:
            attempt.out = self._for(recipient)[1].build(recipient, recipient.context(self.columns),
                                                        attempt.message_id, self._filled.pop(recipient.key, None))
        except TemplateError as exc:
            attempt.marking.result()
            self._hold(recipient, str(exc))
            return False
        except BaseException:
            self.abandon(attempt)
            raise
        return True

    def finish(self, attempt: Attempt, *, reply: str | None = None, problem: Exception | None = None,
               with_next: bool = False) -> str:
        """Record the server's answer (`reply`) or the outcome `problem` (TempFailure, PermFailure,
        UnknownOutcome); returns the state recorded. The outcome is committed before this returns,
        so before the connection builds its next message: a crash then leaves `sent` recorded, not
        `unknown`. With `with_next`, a `sent` is committed instead with the connection's next
        `begin` (its `sending`, before that message is built) or `commit()`: one transaction for
        both. Raises DeliveryError once max_errors people failed."""
        key = attempt.recipient.key
        if problem is not None:
            attempt.marking.result()
            return self._failed(key, next(status for kind, status in OUTCOMES if isinstance(problem, kind)), problem)
        if with_next:
            self.writer.mark_soon(key, self.done_status, detail=reply)
        else:
            self.writer.mark(key, self.done_status, detail=reply, durable=False).result()
        log.debug("%s %s: %s", self.month, key, reply)
        return self.done_status

    def flush(self) -> None:
        """One flush for every `sending` waiting for one (a pool that drives the flushes: smtp_loop.py)."""
        self.writer.flush_waiting()

    def commit(self) -> None:
        """Commit what `begin` and `finish(with_next=True)` left waiting, in one transaction."""
        self.writer.commit_waiting()

    def abandon(self, attempt: Attempt, refused: TransportError | None = None) -> None:
        """The run stops before this person's data left, or with the transport's word that it was
        `refused`: the row goes back to `queued` (unless the `sending` mark itself failed: then
        nothing more can be written), as if not tried: its first try, which retry_until_days counts
        from, is still to come."""
        if (refused is not None or not attempt.data_sent) and attempt.marking.exception() is None:
            self.writer.mark(attempt.recipient.key, "queued", error=f"not sent: {refused}" if refused is not None
                             else "not sent: the run stopped before the data", untried=True).result()

    def _failed(self, key: str, status: str, exc: Exception) -> str:
        """Record a failure. Permanent refusals and connection-level errors count towards
        max_errors; a temporary refusal (greylisting's 451) does not: it is retried as documented."""
        self.writer.mark(key, status, error=str(exc), attempted=True).result()
        log.warning("%s: %s (%s)", key, status, exc)
        if status == "temp_failed" and not isinstance(exc, ServerUnavailable):
            return status
        with self._lock:
            self.failed.add(key)
            failed = len(self.failed)
        if failed >= self.plan.max_errors:
            raise DeliveryError(f"stopped after {failed} recipients failed "
                                f"(delivery.max_errors = {self.plan.max_errors})") from None
        return status

    def close(self) -> None:
        """Write what is waiting and stop the writer; the store is the caller's again."""
        self.writer.close()


def send_test(newsletter: Newsletter, envelope: Envelope, transport: Transport, to: Recipient,
              columns: list[str]) -> str:
    """A test copy: marked in the subject, outside the ledger, so the real send still goes to everyone."""
    edition = newsletter.in_language(to.fields.get("language"))  # the person's language, when they have one
    out = MessageFactory(envelope, Personalizer(edition), subject_prefix="[Test] ").build(to, to.context(columns))
    transport.open()
    try:
        return transport.send(out, lambda: None)
    except (TempFailure, PermFailure, UnknownOutcome) as exc:
        raise DeliveryError(f"test send to {to.email} failed: {exc}") from None
    finally:
        transport.close()
