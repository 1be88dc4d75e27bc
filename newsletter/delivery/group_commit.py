"""Group commit for the delivery ledger: each connection commits its own marks at once, and one
thread flushes them to disk, as many to an fsync as were committed while the last one ran, so
parallel connections share the fsyncs.

A connection waits on a mark's future only where the promise needs it: `sending` must be on disk
before that message's data leaves (a durable mark: done once a flush that began after its commit
has ended), and `sent` must be committed before that connection builds its next message (a quick
mark: done once committed to the WAL, which a crash of the process keeps; the next flush puts it on
disk). A commit takes tens of microseconds and never waits for the disk: the fsync (Store.flush)
runs in the flusher thread, outside SQLite's write lock, while the connections go on committing.

A pool that drives every connection from one thread (smtp_loop.py) asks for no flusher thread
(`flusher=False`): it commits what each turn of its loop recorded at once (`mark_later`,
`mark_soon`, then `commit_waiting()`), and calls `flush_waiting()` itself whenever it has nothing
else to do, which makes one flush for every connection waiting then, without handing the
interpreter lock back and forth with a second thread. Its marks' outcomes are the writer's own
(`_OneThreadMark`, no lock each); whoever waits on one (`result()`) commits and flushes it at once.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

from newsletter.store import Mark, Store


class Outcome(Protocol):
    """What `mark()` returns: a concurrent.futures.Future, or, when one thread drives the run,
    the writer's own lighter `_OneThreadMark` (no lock or condition of its own to make)."""

    def done(self) -> bool:
        """Committed (durable: flushed), or failed."""

    def result(self, timeout: float | None = None) -> None:
        """Wait until done; raises what the commit or the flush raised."""

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Wait until done; what the commit or the flush raised, or None."""

    def set_result(self, result: None) -> None:
        """Done (the writer's)."""

    def set_exception(self, exception: BaseException) -> None:
        """Failed (the writer's)."""


@dataclass
class _Pending:
    mark: Mark
    durable: bool
    done: Outcome
    committed: bool = False  # by whichever connection held the lock (a durable one is done only once flushed)


class LedgerWriter:
    """The only writer of the store while a run sends; `mark()` may be called from any thread.

    `mark()` returns a future that is done once the mark is committed (durable: on disk) and raises
    what the commit or the flush raised. `close()` waits for the last flush and stops the flusher.
    """

    def __init__(self, store: Store, month: str, *, flusher: bool = True) -> None:
        self.store, self.month = store, month
        self.marks = 0
        self.flushes = 0  # fsyncs: fewer than durable marks when connections wait together
        self.commits = 0  # transactions: fewer than marks when connections commit at the same moment
        self._lock = threading.Lock()  # one SQLite connection: one commit at a time
        self._queue_lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._committed: queue.SimpleQueue[Outcome | None] = queue.SimpleQueue()
        self._deferred = store.flushes_deferred()
        self._deferred.__enter__()
        self._unflushed: list[Outcome] = []  # without a flusher thread: committed, for flush_waiting()
        self._flusher: threading.Thread | None = None
        if flusher:
            self._flusher = threading.Thread(target=self._flush, name="ledger-flusher", daemon=True)
            self._flusher.start()

    def mark(self, recipient: str, status: str, *, durable: bool = True, error: str | None = None,
             message_id: str | None = None, detail: str | None = None, attempted: bool = False,
             untried: bool = False) -> Outcome:
        mine = self._enqueue(Mark(recipient, status, error, message_id, detail, attempted, untried), durable)
        with self._lock:  # whoever holds it commits every mark waiting then: one transaction for them all
            if not mine.committed:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._commit(batch)
        return mine.done

    def mark_later(self, recipient: str, status: str, *, message_id: str | None = None) -> Outcome:
        """A durable mark that waits for the next `mark()` or `commit_waiting()` to be committed:
        a pool driving every connection from one thread commits what each turn of its loop recorded
        in one transaction (smtp_loop.py). Waiting on its outcome commits it (and flushes it)."""
        return self._enqueue(Mark(recipient, status, None, message_id, None, False), durable=True).done

    def mark_soon(self, recipient: str, status: str, *, detail: str | None = None) -> Outcome:
        """A quick mark that waits for the next `mark()` or `commit_waiting()` to be committed with
        it, in one transaction: a connection's `sent` rides with its next person's `sending`, which
        is still committed before that person's message is built."""
        return self._enqueue(Mark(recipient, status, None, None, detail, False), durable=False).done

    def _enqueue(self, mark: Mark, durable: bool) -> _Pending:
        """`mark` waiting for the next commit, with its outcome: the writer's own when one thread
        drives the run (no flusher thread), else a Future other threads can wait on."""
        pending = _Pending(mark, durable, _OneThreadMark(self) if self._flusher is None else Future())
        with self._queue_lock:
            self._queue.append(pending)
        return pending

    def commit_waiting(self) -> None:
        """Commit every mark waiting (mark_soon's, mark_later's), now; raises what the commit raised
        (a durable mark's future raises it too)."""
        with self._lock:
            with self._queue_lock:
                batch, self._queue = self._queue, []
            if batch:
                self._commit(batch)
        for pending in batch:
            if not pending.durable:  # a durable one may wait for its flush: its waiter sees the error
                pending.done.result()

    def _commit(self, batch: list[_Pending]) -> None:
        """Commit `batch` without an fsync of its own where the flusher makes it durable."""
        later = self.store.flushes_itself
        for p in batch:
            p.committed = True  # or failed: either way not to be committed again
        try:
            self.store.mark_many(self.month, [p.mark for p in batch],
                                 durable=any(p.durable for p in batch) and not later)
        except Exception as exc:  # each waiter raises it: the run stops, nothing is sent unrecorded
            for p in batch:
                p.done.set_exception(exc)
            return
        except BaseException:  # an interrupt: rolled back, the marks wait again (abandon() records them)
            for p in batch:
                p.committed = False
            with self._queue_lock:
                self._queue[:0] = batch
            raise
        self.marks += len(batch)
        self.commits += 1
        for p in batch:
            if p.durable and later:
                (self._committed.put if self._flusher is not None else self._unflushed.append)(p.done)
            else:
                p.done.set_result(None)

    def flush_waiting(self) -> None:
        """Without a flusher thread: one flush for every durable mark committed so far, now."""
        pending, self._unflushed = self._unflushed, []
        if pending:
            self._flush_for(pending)

    def _flush_for(self, pending: list[Outcome]) -> None:
        """One flush; then each pending mark is done, or raises what the flush raised (the run
        stops: no data leaves unrecorded)."""
        try:
            self.store.flush()
        except Exception as exc:
            for done in pending:
                done.set_exception(exc)
            return
        except BaseException:  # an interrupt: not a failed mark; they wait for the next flush
            self._unflushed[:0] = pending
            raise
        self.flushes += 1
        for done in pending:
            done.set_result(None)

    def close(self) -> None:
        """Commit what is waiting, wait for the last flush and stop the flusher."""
        try:
            self.commit_waiting()
            self.flush_waiting()
        finally:
            self._stop_flusher()

    def _stop_flusher(self) -> None:
        if self._flusher is not None and self._flusher.is_alive():
            self._committed.put(None)
            self._flusher.join()
        if self._deferred is not None:
            self._deferred.__exit__(None, None, None)
            self._deferred = None

    def _flush(self) -> None:
        stop = False
        while not stop:
            waiting = _all_waiting(self._committed)
            stop = None in waiting
            pending = [done for done in waiting if done is not None]
            if pending:
                self._flush_for(pending)


class _OneThreadMark:
    """A mark's outcome when one thread drives the run (no flusher thread): done at the pool's
    next commit (durable ones: flush_waiting()), or at once by whoever waits on it (a failure
    recorded, a person held back). Everything happens in that one thread: no lock of its own."""

    __slots__ = ("_done", "_error", "_writer")

    def __init__(self, writer: LedgerWriter) -> None:
        self._writer, self._done, self._error = writer, False, None

    def done(self) -> bool:
        return self._done

    def set_result(self, result: None) -> None:
        self._done = True

    def set_exception(self, exception: BaseException) -> None:
        self._done, self._error = True, exception

    def result(self, timeout: float | None = None) -> None:
        if self.exception() is not None:
            raise self._error

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if not self._done:
            with contextlib.suppress(Exception):  # a failed commit: this mark has it too
                self._writer.commit_waiting()
        if not self._done:  # durable: committed, not yet on disk
            self._writer.flush_waiting()
        assert self._done, "committed and flushed by now"
        return self._error


def _all_waiting(waiting: queue.SimpleQueue) -> list:
    """The next item (waiting for it) and every one already behind it."""
    items = [waiting.get()]
    while True:
        try:
            items.append(waiting.get_nowait())
        except queue.Empty:
            return items
