"""A source's limits for one collection: how long it may take (`deadline_s`) and how many pages it
may read (`max_pages`), both keys of every source file.

The runner opens a budget around each source's collection, in the thread that collects it. The HTTP
layer reads it from there (a context variable, so each worker thread sees its own source's), which
bounds every request a collector makes, through HttpClient or through a library handed the session
(msal, google-auth), without each collector passing the budget along. Outside a runner (a test
calling `collect()` itself) the budget has no deadline and the default page limit.

This module imports nothing heavy: the runner uses it for sources that never touch HTTP.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from newsletter.errors import SourceError

DEFAULT_DEADLINE_S = 600.0  # ten minutes for a whole month of one source, retries and waits included
MAX_DEADLINE_S = 86_400.0
DEFAULT_MAX_PAGES = 1000  # 100,000 tickets at 100 a page; a few minutes at the usual rate limits
MAX_PAGES = 1_000_000
MAX_TIMEOUT_S = 3_600.0  # one request's wait: an hour is already far past any server's answer


def limit_problem(value: object, *, whole: bool, high: float) -> str | None:
    """What is wrong with a limit read from a file, or None: a whole number from 1 to `high`
    (`whole`), else a number of seconds above 0 and at most `high`, so neither NaN nor infinity."""
    right_kind = isinstance(value, int) if whole else isinstance(value, int | float)
    if not isinstance(value, bool) and right_kind and 0 < value <= high:  # type: ignore[operator]
        return None
    expected = f"a whole number from 1 to {high:,.0f}" if whole else f"a number of seconds above 0, at most {high:,.0f}"
    return f"expected {expected}, got {value!r}"


class DeadlineExceeded(SourceError):
    """The source's `deadline_s` passed; the runner reports it naming the source and the key."""

    def __init__(self, deadline_s: float, doing: str) -> None:
        super().__init__(f"the deadline_s ({deadline_s:g} s) passed {doing}")
        self.doing = doing  # where the work stopped: "while reading https://host/path"


@dataclass(frozen=True)
class Budget:
    """The limits of the collection running in this thread; `ends_at` is on time.monotonic()."""

    deadline_s: float = math.inf
    max_pages: int = DEFAULT_MAX_PAGES
    ends_at: float = math.inf

    @property
    def bounded(self) -> bool:
        return self.ends_at != math.inf

    def remaining(self) -> float:
        """Seconds left, never below 0 (inf without a deadline)."""
        return max(0.0, self.ends_at - time.monotonic())

    def check(self, doing: str) -> None:
        """Raise DeadlineExceeded once the deadline has passed; `doing` says where the work stopped."""
        if self.bounded and time.monotonic() >= self.ends_at:
            raise DeadlineExceeded(self.deadline_s, doing)


UNBOUNDED = Budget()  # outside a runner: no deadline, the default page limit
_current: ContextVar[Budget] = ContextVar("newsletter_source_budget", default=UNBOUNDED)


def current() -> Budget:
    """The budget of the source being collected in this thread."""
    return _current.get()


@contextmanager
def budget(*, deadline_s: float = math.inf, max_pages: int = DEFAULT_MAX_PAGES,
           ends_at: float | None = None) -> Iterator[Budget]:
    """Run the block under these limits; the deadline counts from now unless `ends_at` is given."""
    if ends_at is None:
        ends_at = time.monotonic() + deadline_s
    token = _current.set(Budget(deadline_s, max_pages, ends_at))
    try:
        yield _current.get()
    finally:
        _current.reset(token)
