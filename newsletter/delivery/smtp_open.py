"""SMTP connections opened again beside the loop (smtp_loop.py), so the others go on sending.

Opening a connection (connect, greeting, EHLO, STARTTLS, login) is smtplib's blocking exchange:
done in the loop's own thread, it held every other connection for as long as it took (up to
timeout_s for each step). Each one now opens in a thread of its own, which mostly waits on the
network (the interpreter lock is free meanwhile), and tells the loop through a pipe the loop waits
on with its sockets. The loop takes the result in its own thread: the ledger and the links stay
one thread's business.
"""

from __future__ import annotations

import collections
import contextlib
import os
import selectors
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from newsletter.delivery.smtp_wire import Link


class Openers:
    """The connections being opened; registered with the loop's selector (its data is this object)."""

    def __init__(self, selector: selectors.BaseSelector) -> None:
        self._selector = selector
        self._done: collections.deque[tuple[Link, BaseException | None]] = collections.deque()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()  # close() against a thread that ends after it
        self._closed = False
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        selector.register(self._read, selectors.EVENT_READ, self)

    def start(self, link: Link) -> None:
        """Open `link.transport` in a thread; `finished()` gives it back, opened or with what failed."""
        thread = threading.Thread(target=self._open, args=(link,), name="smtp-open", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _open(self, link: Link) -> None:
        error: BaseException | None = None
        try:
            link.transport.open()
        except BaseException as exc:  # the loop's to judge, in its own thread
            error = exc
        with self._lock:
            if self._closed:  # the loop is gone (a connect outlasted close()'s wait): nobody will use it
                link.transport.drop()
                return
            self._done.append((link, error))
            with contextlib.suppress(BlockingIOError):  # full of wake-ups not read yet: readable already
                os.write(self._write, b"!")

    def finished(self) -> list[tuple[Link, BaseException | None]]:
        """The connections opened (or failed) since the last call: the pipe was readable."""
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read, 4096):
                pass
        done = []
        while self._done:
            done.append(self._done.popleft())
        return done

    def close(self, timeout_s: float) -> None:
        """Wait for the threads still opening (each gives up within its own timeouts) and stop; one
        that ends later closes what it opened rather than tell a loop that is gone."""
        for thread in self._threads:
            thread.join(timeout_s)
        with self._lock:
            self._closed = True
            self._selector.unregister(self._read)
            os.close(self._read)
            os.close(self._write)
