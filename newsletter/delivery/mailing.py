"""A workspace's mailing: who gets the edition, how the delivery is planned, the send, a test copy.

The ledger (ledger.py) does the delivering; this module reads what it needs from the workspace's
[delivery] settings. The transports (ssl, smtplib, Microsoft Graph) load only when something is
sent, so a preview or a check never imports them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsletter.archive import archive_delivery
from newsletter.delivery.addresses import check_address
from newsletter.delivery.message import Envelope
from newsletter.delivery.recipients import Recipient, RecipientList, known_columns, load_recipients
from newsletter.errors import ConfigError, UsageError

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from newsletter.compose.render import Newsletter
    from newsletter.config import Config
    from newsletter.delivery.ledger import DeliveryPlan, DeliveryReport
    from newsletter.workspace import Workspace


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


def envelope(config: Config) -> Envelope:
    """The headers every message of the workspace shares: From, List-Id, Reply-To."""
    d = config.delivery
    return Envelope(sender=d.sender, list_id=d.list_id, reply_to=d.reply_to)


def recipients(config: Config) -> RecipientList:
    """Everyone the edition goes to: `delivery.to`, the people of `delivery.recipients` and the members
    of `[delivery.directory]` (read once, here). Nobody at all is a ConfigError; each bad or repeated
    row is a warning naming its file and line."""
    d = config.delivery
    if not d.to and d.recipients is None and config.directory is None:
        raise ConfigError(f"{config.path}: delivery.to: no recipients; add distribution lists to `to`, "
                          "a CSV file of people as `recipients` or a directory group as [delivery.directory]")
    found = load_recipients(d.to, d.recipients, config.directory)
    if not found.recipients:
        raise ConfigError(f"{config.path}: no valid recipient in delivery.to, delivery.recipients or "
                          "delivery.directory")
    return found


def sample_recipient(config: Config) -> SampleRecipient | None:
    """The first person of `delivery.recipients`, else the first list of `delivery.to`; None without
    either. A person is the more telling sample: lists have no fields to fill in."""
    d = config.delivery
    people = load_recipients([], d.recipients) if d.recipients is not None else None
    columns = known_columns(people, config.directory)  # a directory's fields, empty: it is not read here
    if people and people.recipients:
        count = len(people)
        return SampleRecipient(people.recipients[0], columns, f"first of {count} "
                               f"{'person' if count == 1 else 'people'} in {d.recipients.name}")
    lists = load_recipients(d.to, None)
    return SampleRecipient(lists.recipients[0], columns, "delivery.to[0]") if lists.recipients else None


def plan(ws: Workspace, *, resend_unknown: bool = False) -> DeliveryPlan:
    """The run's limits and retries from [delivery], with the workspace's pause between retries."""
    from newsletter.delivery.ledger import DeliveryPlan

    d = ws.config.delivery
    return DeliveryPlan(envelope(ws.config), max_errors=d.max_errors, rate_per_s=d.rate_per_s,
                        retry_rounds=d.retry_rounds, retry_backoff_s=d.retry_backoff_s,
                        retry_until_days=d.retry_until_days, resend_unknown=resend_unknown, sleep=ws.sleep)


def deliver(ws: Workspace, newsletter: Newsletter, *, resend_unknown: bool = False) -> DeliveryReport:
    """Deliver exactly `newsletter` to everyone the ledger has not reached, through the configured
    transport; the archive's delivery.json says how far it got, also when the run stopped."""
    from newsletter.delivery.ledger import deliver as deliver_through
    from newsletter.delivery.registry import make_transport

    everyone = recipients(ws.config)
    transport = make_transport(ws.config, newsletter.month)
    ws.store.set_durability(ws.config.delivery.ledger_sync == "full")
    try:
        return deliver_through(ws.store, newsletter, everyone, transport, plan(ws, resend_unknown=resend_unknown))
    finally:  # also when the run stopped: how far it got; never in the way of the run's own error
        try:
            archive_delivery(ws, newsletter.month, everyone.skipped)
        except OSError as exc:
            log.warning("warning: the delivery record of %s was not archived (%s); the ledger holds it "
                        "('newsletter history')", newsletter.month, exc.strerror or exc)


def send_test(ws: Workspace, newsletter: Newsletter, to: str) -> str:
    """One test copy to `to` (checked first: UsageError when it is not one address), with the
    person's own fields when the recipients file has them; returns the server's answer."""
    from newsletter.delivery.ledger import send_test as send_copy
    from newsletter.delivery.registry import make_transport

    given = recipient_for_test(to)
    people = ws.config.delivery.recipients
    listed = load_recipients([], people) if people else None
    columns = known_columns(listed, ws.config.directory)
    person = (listed.by_key().get(given.key) if listed else None) or given
    return send_copy(newsletter, envelope(ws.config), make_transport(ws.config, "tests"), person, columns)


def recipient_for_test(to: str) -> Recipient:
    """`send --test-to` and the preview's form: one address, "Name <user@example.com>" or alone."""
    checked = check_address(to, named=True)
    if not checked.ok:
        raise UsageError(f"test address {to!r} {checked.reason}")
    return Recipient(checked.address, checked.name)
