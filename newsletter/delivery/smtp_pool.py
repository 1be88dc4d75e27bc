"""Every SMTP connection of a run driven from one thread, each socket waited on at once (selectors).

Why not a thread per connection: with one, Python's interpreter lock and the switches between
threads cost far more than the SMTP exchange itself (benchmarks/README.md). One thread that waits
on every socket does the same exchanges without them (smtp_loop.py), and the ledger's promises are
unchanged: `sending` is on disk before a message's data leaves (the loop flushes the ledger itself
whenever no socket has anything for it, one flush for every connection waiting then), and a
connection's `sent` is committed before its next message is built.

SmtpTransport opens each connection as before (blocking: greeting, EHLO, STARTTLS, login); the
loop then drives MAIL, RCPT, DATA and the data over the socket, non-blocking. With PIPELINING the
next person's envelope follows the data at once (`Link.upcoming`): one round trip a message. That
person is begun (`sending` recorded, the message built) only once the data before is answered, so a
crash leaves them `queued`, and a connection that cannot go on with them hangs up (after the 354 it
will get, only that ends the transaction without a message). A single message outside a run (a
test copy, a notice) goes through the same loop (`send_one`).
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

from newsletter.delivery.connections import Attempt, ConnectionPool, Steps
from newsletter.delivery.recipients import Recipient
from newsletter.delivery.smtp_loop import Loop
from newsletter.delivery.smtp_wire import Link

if TYPE_CHECKING:
    from newsletter.delivery.message import Outgoing
    from newsletter.delivery.smtp import SmtpTransport


class SmtpPool(ConnectionPool):
    """`count` SMTP connections (the given transport's first), sent through from one thread."""

    transports: list[SmtpTransport]
    drives_flushes = True  # the loop flushes the ledger whenever it has nothing else to do

    def send_all(self, people: list[Recipient], run: Steps) -> list[Recipient]:
        """Send to everyone over every usable connection at once; returns those refused for now.

        A failure that stops the run (the server gone, a refused sender, max_errors) lets every
        other connection finish the message it is sending, then is raised. Anything else that
        escapes (an interrupt) puts back to `queued` whoever's data had not left; whoever's had
        stays `sending`, which the next run reads as unknown.
        """
        links = [Link(t) for i, t in enumerate(self.transports) if i not in self._broken and self._ready(i)]
        return _run(Loop(links, collections.deque(people), run)).later


def send_one(transport: SmtpTransport, out: Outgoing, before_data: Callable[[], None]) -> str:
    """One message over `transport`'s connection (opened when it is not), through the same loop as
    a run's: SmtpTransport.send, for a test copy or a notice. Returns the server's answer, or
    raises the outcome (base.py's contract); `before_data()` is called just before the data."""
    one = _OneMessage(out, before_data)
    _run(Loop([Link(transport)], collections.deque([Recipient(out.recipient)]), one))
    return one.answer()


def _run(loop: Loop) -> Loop:
    """Run `loop` to its end and raise what stopped it; an interrupt puts back whoever's data had
    not left (`abandon_all`) before it goes on up."""
    try:
        loop.run()
    except BaseException:
        loop.abandon_all()
        raise
    finally:
        loop.close()
    if loop.failure is not None:
        raise loop.failure
    return loop


class _OneMessage:
    """The steps a single message needs (connections.Steps): no ledger, `before_data` as its flush."""

    def __init__(self, out: Outgoing, before_data: Callable[[], None]) -> None:
        self.out, self.before_data = out, before_data
        self.marking: Future = Future()
        self.reply: str | None = None
        self.problem: Exception | None = None

    def begin(self, person: Recipient) -> Attempt:
        return Attempt(person, self.out, self.marking)

    def build(self, attempt: Attempt) -> bool:
        """Built already: the caller's message."""
        return True

    def flush(self) -> None:
        if not self.marking.done():
            try:
                self.before_data()
            except Exception as exc:  # the caller's: the data does not leave, the caller gets it back
                self.marking.set_exception(exc)
                return
            self.marking.set_result(None)

    def finish(self, attempt: Attempt, *, reply: str | None = None, problem: Exception | None = None,
               with_next: bool = False) -> str:
        self.reply, self.problem = reply, problem
        return "sent" if problem is None else "refused"

    def answer(self) -> str:
        if self.problem is not None:
            raise self.problem
        assert self.reply is not None, "the loop ended with an answer or a failure"
        return self.reply

    def commit(self) -> None:
        """Nothing waits to be committed: there is no ledger."""

    def abandon(self, attempt: Attempt) -> None:
        """Nothing to put back: there is no ledger."""
