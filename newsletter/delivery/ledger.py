"""The delivery loop, driven by the ledger: a row per (edition, recipient).

queued -> sending -> sent | temp_failed | perm_failed | unknown. `sending` is committed before
the message data leaves and `sent` after the server's 250. A re-run never re-sends `sent`,
retries `temp_failed`, never retries `perm_failed`, and leaves `unknown` to a person: a row
still `sending` from a run that died is unknown too, because its data may have gone out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from newsletter.compose.render import Newsletter
from newsletter.delivery.message import Envelope, build_message
from newsletter.delivery.transports import PermFailure, TempFailure, Transport, UnknownOutcome
from newsletter.errors import DeliveryError, NothingToDo
from newsletter.store import Store

log = logging.getLogger(__name__)
RETRYABLE = ("queued", "temp_failed")
OUTCOMES = {TempFailure: "temp_failed", PermFailure: "perm_failed", UnknownOutcome: "unknown"}


@dataclass
class DeliveryReport:
    month: str
    attempted: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return set(self.counts) <= {"sent"}

    def summary(self) -> str:
        return ", ".join(f"{n} {status}" for status, n in sorted(self.counts.items())) or "no recipients"


def deliver(
    store: Store, newsletter: Newsletter, recipients: list[str], envelope: Envelope, transport: Transport,
    *, max_errors: int,
) -> DeliveryReport:
    month = newsletter.month
    store.queue(month, recipients)
    for stuck in store.deliveries(month, ["sending"]):
        store.mark(month, stuck.recipient, "unknown", error="a run stopped while sending; it may have arrived")
    todo = store.deliveries(month, RETRYABLE)
    report = DeliveryReport(month)
    if not todo:
        report.counts = store.delivery_counts(month)
        raise NothingToDo(f"edition {month} was already delivered ({report.summary()}); nothing to send")
    store.save_edition(month, "sending", newsletter.subject, newsletter.content_hash)
    errors = 0
    try:
        transport.open()
        for row in todo:
            errors += _send_one(store, newsletter, envelope, transport, row.recipient)
            report.attempted += 1
            if errors >= max_errors:
                raise DeliveryError(f"stopped after {errors} delivery errors (delivery.max_errors = {max_errors})")
    finally:
        transport.close()
        report.counts = store.delivery_counts(month)
        store.save_edition(month, "sent" if report.complete else "failed")
    return report


def _send_one(store: Store, newsletter: Newsletter, envelope: Envelope, transport: Transport, to: str) -> int:
    """Send to one recipient and record the outcome; returns 1 for an error, 0 for success."""
    month = newsletter.month
    message = build_message(newsletter, envelope, to)
    message_id = message["Message-ID"]
    try:
        transport.send(message, to, lambda: store.mark(month, to, "sending", message_id=message_id))
    except (TempFailure, PermFailure, UnknownOutcome) as exc:
        status = OUTCOMES[type(exc)]
        store.mark(month, to, status, error=str(exc))
        log.warning("%s: %s (%s)", to, status, exc)
        return 1
    store.mark(month, to, "sent")
    log.debug("sent %s to %s", month, to)
    return 0


def send_test(newsletter: Newsletter, envelope: Envelope, transport: Transport, to: str) -> str:
    """A test copy: marked in the subject, outside the ledger, so the real send still goes to everyone."""
    message = build_message(newsletter, envelope, to, subject_prefix="[Test] ")
    transport.open()
    try:
        return transport.send(message, to, lambda: None)
    except (TempFailure, PermFailure, UnknownOutcome) as exc:
        raise DeliveryError(f"test send to {to} failed: {exc}") from None
    finally:
        transport.close()
