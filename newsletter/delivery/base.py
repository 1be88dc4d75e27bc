"""The transport contract. The built-in transports (outbox, smtp, graph) and third-party plugins
implement the same class; docs/writing-a-transport.md walks through writing one.

A transport moves one message to one recipient and says how it went. It:
- declares `name` (the value of `delivery.transport`, and its table `[delivery.<name>]`), a frozen
  dataclass `Settings` whose fields are that table's keys (a `Secret` field `token` is configured as
  `token_env` / `token_file`), and `done_status`, what the ledger records when it took a message;
- reports config problems from `validate()` when the config is loaded, before any network call;
- is built per batch by `create(settings, context)` and then opened, sent through and closed.

How `send()` ends is what the ledger records for the person (delivery/ledger.py):
- it returns the server's answer           -> `done_status`: "sent" (the server took responsibility
                                              for it, as SMTP's 250) or "accepted" (taken by an API
                                              that does not confirm delivery, as Graph's 202)
- TempFailure (refused for now)            -> temp_failed, retried by later runs until
                                              delivery.retry_until_days
- ServerUnavailable (a TempFailure: the    -> temp_failed too, and it counts towards delivery.max_errors
  server's trouble, not this person's)
- PermFailure (refused for good)           -> perm_failed, never retried
- UnknownOutcome (the data may have left   -> unknown: never re-sent automatically, a person decides
  but no answer came)                         (`send --resend-unknown`)
- TransportError (nothing can be sent:     -> the run stops; this person's row goes back to queued
  connect, TLS, login, a refused sender)      unless the data had left (and it was not refused: not_sent)
`before_data()` is called at the last moment before the message data leaves, so the ledger has
made `sending` durable first: what happens after it may have reached the person (unless send()
raises NotTakenInterrupt: interrupted while waiting to send again what was not taken).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from newsletter.errors import DeliveryError

if TYPE_CHECKING:
    from newsletter.binding import Where
    from newsletter.delivery.connections import ConnectionPool
    from newsletter.delivery.message import Outgoing

DONE_STATUSES = ("sent", "accepted")  # the ledger's states for a message a server took (store.DONE_STATES)


class TransportError(DeliveryError):
    """The transport cannot deliver anything (connection, TLS or authentication failed): the run stops.
    `not_sent`: raised by send() after before_data() on an answer that says this message was refused
    (an API's 401 or 403), so the person's row goes back to queued all the same."""

    def __init__(self, message: str, *, not_sent: bool = False) -> None:
        super().__init__(message)
        self.not_sent = not_sent


class NotTakenInterrupt(KeyboardInterrupt):
    """Ctrl-C after before_data() while nothing of the message is out or taken (an API's "not taken,
    try again after this wait", Graph's 429): the run stops as on any interrupt, and the person goes
    back to queued instead of being left "may have arrived"."""


class TempFailure(Exception):
    """Refused for now (4xx, 552): retried later."""


class ServerUnavailable(TempFailure):
    """Not sent, for a reason that is the server's and not this person's: the connection failed
    before the data even after reconnecting (or 421), the sender was refused for now, the service
    is unavailable. Retried like a refusal, but it counts towards max_errors; a temporary refusal
    of the person (greylisting's 451 to RCPT) does not."""


class PermFailure(Exception):
    """Refused for good (other 5xx): never retried."""


class UnknownOutcome(Exception):
    """The data went out but no answer came back: a person must decide."""


@dataclass(frozen=True)
class NoSettings:
    """For transports that take no keys of their own."""


@dataclass(frozen=True)
class TransportContext:
    """What a transport is told about the batch it sends, besides its own settings."""

    sender: str  # the address alone of delivery.from ("it@example.com"): envelope sender, sending mailbox
    batch: str  # what is being sent: an edition ("2026-10", "2026"), or "tests", "reviews", "notifications"
    state_dir: Path  # the workspace's state folder: a transport that keeps files keeps them under it


class Transport:
    """Base class for every transport; subclasses set the class attributes and override `send`.

    One instance sends one batch from one thread: `open()`, then `send()` per message, then
    `close()` (also after a failure). A run may open it again after closing it. A transport whose
    `connections` is more than 1 is sent through by that many instances at once (`another()`),
    each from its own thread, unless its `pool()` drives them itself (SMTP: all from one thread).
    """

    name: ClassVar[str]  # "smtp": delivery.transport = "smtp", keys in [delivery.smtp]
    Settings: ClassVar[type] = NoSettings  # a frozen dataclass: the keys of [delivery.<name>], with defaults
    done_status: ClassVar[str] = "sent"  # one of DONE_STATUSES: what the ledger records after a send returns

    def __init__(self, settings: Any, context: TransportContext) -> None:
        self.settings = settings
        self.context = context

    @classmethod
    def validate(cls, settings: Any, where: Where) -> None:
        """Raise `where.error(key, message)` for settings that cannot work. Called when the config is
        loaded, before any network call, only for the transport in use. Must not touch the network."""

    @classmethod
    def create(cls, settings: Any, context: TransportContext) -> Transport:
        """A transport for one batch; `cls(settings, context)` unless a transport builds itself otherwise."""
        return cls(settings, context)

    @property
    def connections(self) -> int:
        """How many instances of this transport the ledger sends through at once (1: one after
        another). A transport that can take more overrides it and `another()`."""
        return 1

    def another(self) -> Transport:
        """One more instance for a parallel connection: same settings, same batch, its own
        connection. Each instance is still used from one thread at a time."""
        return self.create(self.settings, self.context)

    def pool(self) -> ConnectionPool | None:
        """How this transport's `connections` send at once: None (the default) for a thread per
        instance (connections.ConnectionPool); a transport that drives its connections itself, from
        one thread, returns its own pool (SMTP: smtp_pool.SmtpPool)."""
        return None

    def open(self) -> None:
        """Connect and log in, so a wrong password stops the run before anyone is marked; raise
        TransportError when nothing can be sent."""

    def send(self, out: Outgoing, before_data: Callable[[], None]) -> str:
        """Deliver `out` (out.data is the whole message, CRLF line ends) to `out.recipient` alone.

        Call `before_data()` just before the data leaves (it may block while the ledger writes).
        Return the server's answer for the ledger, or raise one of the outcomes above.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Let go of the connection; never raises."""
