"""The loop that drives every SMTP connection of a run (or one message's) from one thread: the
sockets' events, then, at the end of each turn, one commit for what the turn recorded.

A message's steps, over one connection: `begin` (its `sending` recorded, committed at the end of the
turn with that connection's last `sent`), its envelope (MAIL, RCPT, DATA; with PIPELINING in one
write, and behind the data before it: `Link.upcoming`), its message built once that commit is done,
the data once its `sending` is on disk (the loop flushes the ledger whenever no socket has anything
for it: one flush for every connection waiting then), and its answer recorded. A connection opened
again (a drop or a 421 before the data, messages_per_connection) opens beside the loop while other
connections are at work (smtp_open.py). The replies are read as smtplib reads them (smtp_wire.py)
and mean what smtp_replies.py says.
"""

from __future__ import annotations

import collections
import logging
import selectors
import time

from newsletter.delivery.base import ServerUnavailable, TransportError, UnknownOutcome
from newsletter.delivery.connections import Steps
from newsletter.delivery.recipients import Recipient
from newsletter.delivery.smtp_open import Openers
from newsletter.delivery.smtp_replies import Dropped, Reply, envelope_problem, out_of_step, refusal, reply_text
from newsletter.delivery.smtp_wire import (
    ANSWERING,
    CLEANUP,
    CONNECTING,
    DATA,
    ENVELOPE,
    IDLE,
    MARKING,
    Link,
    envelope_commands,
)

log = logging.getLogger(__name__)


class Loop:
    """The run's connections and the people still to send to; run() returns once all are idle."""

    def __init__(self, links: list[Link], todo: collections.deque[Recipient], steps: Steps) -> None:
        self.links, self.todo, self.steps = links, todo, steps
        self.later: list[Recipient] = []
        self.failure: BaseException | None = None
        self.selector = selectors.DefaultSelector()
        self.openers: Openers | None = None  # made when a connection is first opened beside the loop

    def run(self) -> None:
        """Until every connection is idle, turn after turn: the sockets' events; when none is ready
        and some connection waits for its `sending` to be on disk, one flush for all those waiting
        (rather than a flush a message: a flush costs the machine far more than a commit); then
        `_settle`. A flush in a thread of its own, beside the loop, was tried: the interpreter
        lock passed back and forth and the extra flushes cost more than it hid
        (benchmarks/README.md)."""
        for link in self.links:
            self._next(link)
        self._settle()
        while any(link.stage != IDLE for link in self.links):
            marking = any(link.stage == MARKING for link in self.links)
            ready = self.selector.select(0 if marking else self._wait())
            now = time.monotonic()  # an answer in by now is not late, however long this turn takes
            if not ready and marking:
                self._flush()
            for key, events in ready:
                if key.data is self.openers:
                    for link, error in self.openers.finished():
                        self._opened(link, error)
                else:
                    self._ready(key.data, events)
            for link in self.links:
                if link.stage in ANSWERING and link.deadline <= now:
                    self._lost(link, TimeoutError("timed out"))
            self._settle()

    def _settle(self) -> None:
        """The end of a turn: one commit for every mark the turn recorded (each connection's `sent`
        and its next person's `sending`, rather than a transaction each), then each next person's
        message built, after that commit; the data of those whose `sending` needs no flush leaves."""
        while True:
            try:
                self.steps.commit()
            except Exception as exc:  # the marks raise it too: each connection gives up at its data
                self._stop(exc)
            unbuilt = [link for link in self.links
                       if link.stage in (ENVELOPE, MARKING) and link.attempt.out is None]
            if not unbuilt:
                break
            for link in unbuilt:
                self._build(link)  # a person held back: the next one's mark waits for another commit
        self._release()

    def _release(self) -> None:
        """The data of every connection whose message is built and whose `sending` is on disk (or
        failed to be: that one hangs up in `_send_data`)."""
        for link in self.links:
            if link.stage == MARKING and link.attempt.out is not None and link.attempt.marking.done():
                self._send_data(link)

    def _build(self, link: Link) -> None:
        try:
            built = self.steps.build(link.attempt)
        except Exception as exc:  # the run stops (the person is back to `queued`)
            self._drop(link)
            self._stop(exc)
            link.stage, link.attempt = IDLE, None
            return
        if not built:  # held back (recorded); their envelope is out: only hanging up ends it
            self._drop(link)
            self._next(link)

    def _wait(self) -> float | None:
        """Seconds until the first answer is due; None when nothing is (only marks are awaited)."""
        due = [link.deadline for link in self.links if link.stage in ANSWERING]
        return max(0.0, min(due) - time.monotonic()) if due else None

    # the events ----------------------------------------------------------------------------------
    def _ready(self, link: Link, events: int) -> None:
        sock = link.sock
        try:
            if events & selectors.EVENT_WRITE:
                link.flush()
            replies = link.read() if events & selectors.EVENT_READ else []
        except OSError as exc:
            self._lost(link, exc)
            return
        for reply in replies:
            if link.stage == IDLE or link.sock is not sock:  # what is left was said over a connection now closed
                break
            self._reply(link, reply)
        self._watch(link)

    def _flush(self) -> None:
        """One flush for every connection waiting on its `sending`; then their data leaves."""
        try:
            self.steps.flush()
        except Exception as exc:  # the marks raise it too: each connection hangs up below
            self._stop(exc)
        self._release()

    def _reply(self, link: Link, reply: Reply) -> None:
        link.expected -= 1
        if link.stage == ENVELOPE:
            link.replies.append(reply)
            if reply[0] == 421:  # the server hangs up: what it said to the rest no longer matters
                self._envelope_done(link)
            elif link.commands and reply[0] in (250, 251):  # stepwise: the next command once this one is taken
                link.expected = 1
                link.write(link.commands.pop(0))
            elif link.expected <= 0 or link.commands:
                self._envelope_done(link)
        elif link.stage == DATA:
            self._data_done(link, reply)
        elif link.stage == CLEANUP and link.expected <= 0:
            if link.cleanup:
                link.expected = 1
                link.write(link.cleanup.pop(0))
            else:
                self._next(link)

    def _lost(self, link: Link, exc: BaseException) -> None:
        """The connection broke or timed out: before the data, try once more over a new one; after
        it, the outcome is unknown; while cleaning up, nobody's outcome is at stake."""
        stage, reason = link.stage, str(exc) or type(exc).__name__
        self._drop(link)
        if stage in (ENVELOPE, MARKING):  # the data had not left: nothing reached the person
            self._dropped_before_data(link, Dropped(reason))
        elif stage == DATA:
            self._finish(link, problem=UnknownOutcome(f"connection lost after the data was sent ({reason})"))
        elif stage == CLEANUP:
            self._next(link)

    # one message's steps -------------------------------------------------------------------------
    def _next(self, link: Link) -> None:
        """The next person for this connection, or idle when nobody is left (or the run stops).
        A person whose envelope went out with the last data (`link.upcoming`) comes first."""
        link.stage, link.attempt = IDLE, None
        if link.upcoming is not None and self.failure is not None:
            self._drop(link)  # the server will say 354 to that envelope: only hanging up ends it
        if self.failure is None and (link.upcoming is not None or self.todo):
            upcoming = link.upcoming  # kept until begun: an interrupt in begin() finds the envelope out
            person = upcoming or self.todo.popleft()
            try:  # committed at the end of the turn, with this link's last `sent`
                link.attempt = self.steps.begin(person)
            except Exception as exc:  # the run stops; raised once every connection is idle
                self._stop(exc)
                if upcoming is not None:
                    self._drop(link)
                self._watch(link)
                return
            link.upcoming, link.tries = None, 0
            if upcoming is None:
                self._envelope(link)
            else:  # its MAIL, RCPT and DATA went with the last data: their replies follow that one's
                link.tries, link.stage, link.replies, link.commands, link.expected = 1, ENVELOPE, [], [], 3
            return
        self._watch(link)

    def _envelope(self, link: Link) -> None:
        """MAIL, RCPT and DATA: in one write with PIPELINING, else one at a time; over a connection
        opened again first when it must be (beside the loop while other connections are at work)."""
        t = link.transport
        link.tries += 1
        try:
            if t.reconnect_due():
                self._drop(link)
            if link.sock is None and t.socket is None and self._others_at_work(link):
                link.stage = CONNECTING  # the envelope follows once it is open (_opened)
                self._openers().start(link)
                return
            if link.sock is None:
                if t.socket is None:
                    t.open()  # blocking: nobody else is held by it; TransportError stops the run
                self._attach(link)
        except TransportError as exc:
            self._drop(link)
            self._give_up(link, exc)
            return
        self._send_envelope(link)

    def _send_envelope(self, link: Link) -> None:
        t, attempt = link.transport, link.attempt
        assert attempt is not None
        commands = envelope_commands(t.sender, attempt.recipient.email)
        link.stage, link.replies = ENVELOPE, []
        link.deadline = time.monotonic() + t.settings.timeout_s
        if t.pipelining:
            link.commands, link.expected = [], 3
            link.write(b"".join(commands))
        else:
            link.commands, link.expected = commands[1:], 1
            link.write(commands[0])
        self._watch(link)

    def _others_at_work(self, link: Link) -> bool:
        return any(other.stage != IDLE for other in self.links if other is not link)

    def _openers(self) -> Openers:
        if self.openers is None:
            self.openers = Openers(self.selector)
        return self.openers

    def _opened(self, link: Link, error: BaseException | None) -> None:
        """A connection opened beside the loop (or not): its envelope goes out, or, as when the run
        began, a connection that cannot be opened stops the run (this person back to `queued`)."""
        if error is not None:
            link.transport.drop()
            self._give_up(link, error)
            return
        self._attach(link)
        self._send_envelope(link)

    def _attach(self, link: Link) -> None:
        link.attach()
        self.selector.register(link.sock, selectors.EVENT_READ, link)
        link.events = selectors.EVENT_READ

    def _envelope_done(self, link: Link) -> None:
        problem = envelope_problem(link.replies, link.transport.settings.host, link.transport.sender)
        if isinstance(problem, Dropped):
            self._drop(link)
            self._dropped_before_data(link, problem)
        elif problem is not None:
            self._refused_envelope(link, problem)
        else:
            link.stage = MARKING  # its data leaves at the end of the turn or at the next flush

    def _send_data(self, link: Link) -> None:
        """The data once the person's `sending` is on disk; the next person's envelope behind it."""
        attempt = link.attempt
        try:
            attempt.marking.result()
        except Exception as exc:  # the mark failed: the run stops, and this data never leaves. The
            self._drop(link)  # server said 354: hanging up (not ".", which would send an empty message)
            self._give_up(link, exc)
            return
        attempt.data_sent = True
        link.stage, link.expected = DATA, 1
        link.deadline = time.monotonic() + link.transport.settings.timeout_s
        data = attempt.out.for_smtp()
        upcoming = self._upcoming(link)
        if upcoming is None:
            link.write(data)
        else:  # RFC 2920: the next transaction's envelope may follow the data at once
            link.upcoming, link.expected = upcoming, 4
            link.write(data, b"".join(envelope_commands(link.transport.sender, upcoming.email)))
        self._watch(link)

    def _upcoming(self, link: Link) -> Recipient | None:
        """The person whose envelope goes with this data: one round trip a message instead of two.
        Only with PIPELINING, while the run goes on and this connection may carry one more message
        (messages_per_connection). Nothing is recorded for them until the data's answer (begin())."""
        t = link.transport
        limit = t.settings.messages_per_connection
        if not (t.pipelining and self.todo and self.failure is None) or (limit and t.sent_on_connection + 1 >= limit):
            return None
        return self.todo.popleft()

    def _data_done(self, link: Link, reply: Reply) -> None:
        code, text = reply
        if code == 250:
            link.transport.sent_on_connection += 1
            self._finish(link, reply=f"{code} {reply_text(text)}", with_next=True)
            return
        stray = out_of_step(code)  # then whether the server took the data, its answers no longer say
        if code == 421 or stray:
            self._drop(link)
        self._finish(link, problem=UnknownOutcome(f"an answer out of step after the data ({code} "
                                                  f"{reply_text(text)})") if stray else refusal(code, text))

    def _dropped_before_data(self, link: Link, exc: Dropped) -> None:
        if link.tries < 2:
            log.info("SMTP connection lost before the data (%s); reconnecting", exc)
            self._envelope(link)
        else:
            self._finish(link, problem=ServerUnavailable(f"connection lost before the data ({exc})"))

    def _refused_envelope(self, link: Link, problem: BaseException) -> None:
        """A refusal before the data: recorded now, while the connection ends the data a server
        took DATA for anyway (".") and resets (RSET) before its next person."""
        link.cleanup = ([b".\r\n"] if link.replies and link.replies[-1][0] == 354 else []) + [b"RSET\r\n"]
        link.stage, link.expected = CLEANUP, 1
        link.write(link.cleanup.pop(0))
        self._watch(link)
        marking = link.attempt.marking  # not waited on here: recording the refusal waits if it must
        if isinstance(problem, TransportError) or (marking.done() and marking.exception() is not None):
            self._give_up(link, problem)
        else:
            self._record(link, problem=problem)

    def _finish(self, link: Link, **outcome) -> None:
        self._record(link, **outcome)
        self._next(link)

    def _record(self, link: Link, **outcome) -> None:
        attempt = link.attempt
        try:
            if self.steps.finish(attempt, **outcome) == "temp_failed":
                self.later.append(attempt.recipient)
        except Exception as exc:  # max_errors: raised once every connection is idle
            self._stop(exc)

    def _give_up(self, link: Link, exc: BaseException) -> None:
        """Nothing can be sent (connect, login, the sender refused): this person back to `queued`, the run stops."""
        self.steps.abandon(link.attempt)
        self._stop(exc)
        if link.stage != CLEANUP:
            link.stage, link.attempt = IDLE, None

    # the connections -----------------------------------------------------------------------------
    def _stop(self, exc: BaseException) -> None:
        if self.failure is None:
            self.failure = exc

    def _watch(self, link: Link) -> None:
        """Wait for the socket to be writable only while something is left to write; the selector
        is told only when that changes (each change is a system call)."""
        if link.sock is not None:
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if link.outbox else 0)
            if events != link.events:
                self.selector.modify(link.sock, events, link)
                link.events = events

    def _drop(self, link: Link) -> None:
        """Close the connection; whoever's envelope was out with the last data waits for another turn."""
        if link.sock is not None:
            self.selector.unregister(link.sock)
            link.sock = None
        link.transport.drop()
        link.outbox.clear()
        if link.upcoming is not None:
            self.todo.appendleft(link.upcoming)
            link.upcoming = None

    def abandon_all(self) -> None:
        """Stopped from outside (an interrupt): whoever's data had not left goes back to `queued`."""
        for link in self.links:
            if link.attempt is not None and link.stage in (CONNECTING, ENVELOPE, MARKING):
                self.steps.abandon(link.attempt)
            if link.stage == CONNECTING:  # its thread may still be opening it: close() waits for it
                link.stage, link.attempt = IDLE, None
            elif link.stage != IDLE or link.upcoming is not None:  # an envelope out: only hanging up ends it
                self._drop(link)

    def close(self) -> None:
        if self.openers is not None:
            self.openers.close(max(link.transport.settings.timeout_s for link in self.links))
        for link in self.links:
            if link.sock is not None:
                self.selector.unregister(link.sock)
                link.detach()
        self.selector.close()
