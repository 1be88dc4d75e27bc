"""Parallel connections: the people of a run shared out over several instances of the transport,
each taking the next person when its last message is done, under one rate limit for them all.

The first connection is opened by the run before anyone is marked (a wrong password stops it
there); the others open in their own threads, and one that cannot open (a relay that allows
fewer connections) is a warning: the run goes on over the rest.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from newsletter.delivery.base import Transport, TransportError
from newsletter.delivery.recipients import Recipient

if TYPE_CHECKING:
    from newsletter.delivery.group_commit import Outcome
    from newsletter.delivery.message import Outgoing

log = logging.getLogger(__name__)


@dataclass
class Attempt:
    """One person's message under way: built (`out`), its `sending` mark handed to the ledger's
    writer (`marking`: done once durable; the data must not leave before), and whether it left."""

    recipient: Recipient
    out: Outgoing | None
    marking: Outcome
    data_sent: bool = False
    message_id: str | None = None


class Steps(Protocol):
    """A send in steps, for a pool that drives every connection from one thread (smtp_loop.py):
    the ledger's run (ledger._Run), or a single message outside it."""

    def begin(self, person: Recipient) -> Attempt:
        """Take the rate limit's slot and record `sending`, committed by the next `commit()`."""

    def build(self, attempt: Attempt) -> bool:
        """Build the message (`attempt.out`) once `begin`'s mark is committed; False: the person's
        fields failed after all, held back (recorded), nothing to send."""

    def finish(self, attempt: Attempt, *, reply: str | None = None, problem: Exception | None = None,
               with_next: bool = False) -> str:
        """Record the answer or the outcome; returns the state recorded ("temp_failed": try later).
        May raise to stop the run. `with_next`: a `sent` is committed with the next `begin` or
        `commit`, not alone."""

    def commit(self) -> None:
        """Commit what `begin` and `finish(with_next=True)` left waiting, in one transaction."""

    def flush(self) -> None:
        """One flush for every `sending` waiting (a pool whose `drives_flushes` is true)."""

    def abandon(self, attempt: Attempt) -> None:
        """The run stops before this person's data left: back to `queued`."""


class Run(Steps, Protocol):
    """What ConnectionPool needs from the ledger's run: a whole send, from a connection's thread."""

    def send(self, transport: Transport, person: Recipient) -> str:
        """Send to one person and record it; returns the state recorded ("temp_failed": try later)."""


class RateLimit:
    """At most `per_second` calls to `wait()` a second (0: no limit), paced evenly across every
    thread that calls it: the limit is the run's, not each connection's."""

    def __init__(self, per_second: float, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.clock, self.sleep = clock, sleep
        self.next_at = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:  # each caller takes the next slot; the sleeping happens outside the lock
            now = self.clock()
            slot = max(now, self.next_at)
            self.next_at = slot + self.interval
        if slot > now:
            self.sleep(slot - now)


class ConnectionPool:
    """`count` instances of a transport (the given one first), opened once and closed together."""

    drives_flushes = False  # True: the pool calls run.flush() itself, no flusher thread (smtp_loop.py)

    def __init__(self, first: Transport, count: int) -> None:
        self.transports = [first, *(first.another() for _ in range(max(1, count) - 1))]
        self._opened: set[int] = set()
        self._broken: set[int] = set()
        self._lock = threading.Lock()

    def open(self) -> None:
        """Open the first connection; TransportError when nothing can be sent."""
        self.transports[0].open()
        self._opened.add(0)

    def send_all(self, people: list[Recipient], run: Run) -> list[Recipient]:
        """Send to everyone over every usable connection at once; returns those refused for now.

        An exception in any connection (the server gone, max_errors reached, an interrupt) stops the
        others after the message each is sending, and is raised here once all have stopped.
        """
        todo = collections.deque(people)
        later: list[Recipient] = []
        failures: list[BaseException] = []
        stop = threading.Event()

        def work(index: int) -> None:
            transport = self.transports[index]
            if not self._ready(index):
                return
            while not stop.is_set():
                with self._lock:
                    if not todo:
                        return
                    person = todo.popleft()
                try:
                    status = run.send(transport, person)
                except BaseException as exc:  # the run stops: recorded, raised by the caller's thread
                    with self._lock:
                        failures.append(exc)
                    stop.set()
                    return
                if status == "temp_failed":
                    with self._lock:
                        later.append(person)

        usable = [i for i in range(len(self.transports)) if i not in self._broken]
        threads = [threading.Thread(target=work, args=(i,), name=f"connection-{i + 1}", daemon=True)
                   for i in usable[1:]]
        for thread in threads:
            thread.start()
        try:
            work(usable[0])
            for thread in threads:
                thread.join()
        except BaseException:  # interrupted while waiting for the others: they stop after their message
            stop.set()
            for thread in threads:
                thread.join()
            raise
        if failures:
            raise failures[0]
        return later

    def _ready(self, index: int) -> bool:
        if index in self._opened:
            return True
        try:
            self.transports[index].open()
        except TransportError as exc:
            log.warning("connection %d of %d could not be opened (%s); sending over the others", index + 1,
                        len(self.transports), exc)
            with self._lock:
                self._broken.add(index)
            return False
        with self._lock:
            self._opened.add(index)
        return True

    def close(self) -> None:
        for transport in self.transports:
            transport.close()
