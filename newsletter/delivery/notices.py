"""One-off plain-text emails outside the ledger: review requests and failure reports to owners.

They go through the configured transport like the newsletter, but no ledger row counts them:
a reviewer or an owner is told, nobody's copy of the edition is affected.
"""

from __future__ import annotations

from collections.abc import Iterable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from newsletter.delivery.addresses import check_address
from newsletter.delivery.base import PermFailure, TempFailure, Transport, UnknownOutcome
from newsletter.delivery.message import Envelope, Outgoing, as_bytes, set_header


def build_notice(envelope: Envelope, to: str, subject: str, body: str, *, kind: str) -> Outgoing:
    """A text/plain message to `to` (checked in config: "Name <address>" or the address alone);
    `kind` ("review.2026-10") goes into its Message-ID. The envelope gets the address alone."""
    address = check_address(to, named=True).address or to
    message = EmailMessage()
    set_header(message, "Subject", subject)
    set_header(message, "From", envelope.sender)
    set_header(message, "To", to)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(idstring=kind, domain=envelope.domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body, charset="utf-8")
    return Outgoing(address, message["Message-ID"], as_bytes(message))


def send_notices(transport: Transport, notices: Iterable[Outgoing]) -> tuple[list[str], list[str]]:
    """Send each notice on one connection; returns who was reached and "address: why" for the rest.

    A transport that cannot open at all raises TransportError, for the caller to report."""
    reached: list[str] = []
    failures: list[str] = []
    transport.open()
    try:
        for notice in notices:
            try:
                transport.send(notice, lambda: None)
                reached.append(notice.recipient)
            except (TempFailure, PermFailure, UnknownOutcome) as exc:
                failures.append(f"{notice.recipient}: {exc}")
    finally:
        transport.close()
    return reached, failures
