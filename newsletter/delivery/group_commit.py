"""Group commit for the delivery ledger: one thread writes every connection's marks, as many to a
commit as are waiting, so parallel connections share the disk flushes.

A connection hands its mark over and waits on the returned future only where the promise needs it:
`sending` must be on disk before that message's data leaves (a durable mark, flushed with every
other `sending` waiting at that moment: one fsync for all of them), and `sent` must be committed
before that connection builds its next message (a quick mark: committed to the WAL, which a crash
of the process keeps; the next durable commit flushes it to disk). Quick marks are committed ahead
of durable ones, so a `sent` never waits for another connection's flush to begin.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass

from newsletter.store import Mark, Store


@dataclass(frozen=True)
class _Pending:
    mark: Mark
    durable: bool
    done: Future


class LedgerWriter:
    """The only writer of the store while a run sends; every method may be called from any thread.

    `mark()` returns a future that is done once the mark is committed (durable: on disk) and raises
    what the commit raised. `close()` writes what is waiting and stops the thread.
    """

    def __init__(self, store: Store, month: str) -> None:
        self.store, self.month = store, month
        self.commits = 0  # how many commits (a disk flush each when durable): fewer than marks
        self.marks = 0
        self._waiting: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write, name="ledger", daemon=True)
        self._thread.start()

    def mark(self, recipient: str, status: str, *, durable: bool = True, error: str | None = None,
             message_id: str | None = None, detail: str | None = None, attempted: bool = False) -> Future:
        done: Future = Future()
        self._waiting.put(_Pending(Mark(recipient, status, error, message_id, detail, attempted), durable, done))
        return done

    def close(self) -> None:
        if self._thread.is_alive():
            self._waiting.put(None)
            self._thread.join()

    def _write(self) -> None:
        stop = False
        while not stop:
            batch = [self._waiting.get()]
            while True:  # everything already waiting goes into this commit
                try:
                    batch.append(self._waiting.get_nowait())
                except queue.Empty:
                    break
            stop = None in batch
            pending = [p for p in batch if p is not None]
            self._commit([p for p in pending if not p.durable], durable=False)
            self._commit([p for p in pending if p.durable], durable=True)

    def _commit(self, pending: list[_Pending], *, durable: bool) -> None:
        if not pending:
            return
        try:
            self.store.mark_many(self.month, [p.mark for p in pending], durable=durable)
        except BaseException as exc:  # each waiter raises it: the run stops, nothing is sent unrecorded
            for p in pending:
                p.done.set_exception(exc)
            return
        self.commits += 1
        self.marks += len(pending)
        for p in pending:
            p.done.set_result(None)
