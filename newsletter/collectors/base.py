"""The collector contract. Built-in collectors and third-party plugins implement the same class
(docs/writing-a-collector.md).

A collector turns one system's API into its kind's typed result per month (newsletter/results.py:
TicketStats, MailStats, UptimeStats, CustomMetrics or MonthHighlights). It:
- declares `type` (the `type =` in sources/*.toml), `kind` and a frozen dataclass `Settings`
  whose fields are its config keys (a `Secret` field `token` is configured as `token_env`/`token_file`);
- receives its dependencies (HTTP session, clock, `state`: the SnapshotState it may keep between
  runs, not the whole store) instead of creating them, so tests pass their own;
- when its system only knows rolling windows or cumulative counters, sets `needs_snapshots` and
  implements `take_snapshot()`: the daily `run` and `newsletter snapshot` store a reading every day,
  and `collect()` builds the month from them (newsletter/snapshots.py);
- reports config problems from `validate()` before any network call (raise ConfigError);
- raises SourceError with a message a person can act on when the system fails, and SourceSkipped
  when the month has nothing to report; the runner turns them into a failed or skipped result, and
  any other exception, or a result that is not its kind's type, into a failed one naming the plugin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from newsletter.model import Snapshot  # one stored reading; here too, as part of the collector contract

if TYPE_CHECKING:
    import requests

    from newsletter.period import Month
    from newsletter.results import Result


def utcnow() -> datetime:
    return datetime.now(UTC)


class SnapshotState(Protocol):
    """What a collector may keep between runs: readings of its system, by source name (rspamd's
    cumulative counters, Uptime Kuma's rolling-window ratios). The workspace's store implements it,
    in a table of its own; tests pass their own. Safe to call from a worker thread."""

    def save_snapshot(self, source: str, taken_at: datetime, reading: Mapping[str, Any]) -> None:
        """Keep `reading` (JSON-able: str keys; numbers, strings, bools, None, lists, dicts) of
        `source` (the source's name) as it was at `taken_at`; a second snapshot of the same source at
        the same moment replaces the first. Never put a secret in a reading."""

    def snapshots(self, source: str, since: datetime, until: datetime) -> list[Snapshot]:
        """The snapshots of `source` taken in [since, until], oldest first."""


@dataclass(frozen=True)
class NoSettings:
    """For collectors that take no keys of their own."""


class Collector:
    """Base class for every collector; subclasses override `collect` and usually `validate`."""

    type: ClassVar[str]
    kind: ClassVar[str]
    Settings: ClassVar[type] = NoSettings
    # True for a collector that never touches the network and finishes quickly (demo data, a
    # local file): the runner calls these one after another in one thread (under their deadlines)
    # instead of giving each a worker thread.
    offline: ClassVar[bool] = False
    # True for a collector whose system cannot answer for a past month (rolling windows, counters
    # since a restart): `newsletter snapshot` and the daily `run` call take_snapshot() every day and
    # keep the reading in `state`; collect() then builds the month from them (newsletter/snapshots.py).
    needs_snapshots: ClassVar[bool] = False
    # The rolling window one reading covers (Uptime Kuma's 1-day ratio: timedelta(days=1)); zero for a
    # reading of the state at that moment. A reading stands for the day its window's middle falls in.
    snapshot_window: ClassVar[timedelta] = timedelta(0)

    def __init__(
        self,
        settings: Any,
        *,
        name: str,
        session: requests.Session | None = None,
        clock: Callable[[], datetime] = utcnow,
        state: SnapshotState | None = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self._session = session
        self.clock = clock
        self.state = state

    @property
    def session(self) -> requests.Session:
        """The shared HTTP session; created on first use so offline collectors never import requests."""
        if self._session is None:
            from newsletter.http import make_session

            self._session = make_session()
        return self._session

    def validate(self) -> None:
        """Raise ConfigError for settings that cannot work. Must not touch the network."""

    def check_content(self) -> None:
        """`newsletter check` only: raise ConfigError for what a file the team edits holds (a row of a
        metrics file), naming the file and the row. Runs never call it: there such a row fails this
        source alone, which keeps its last good values, so one typo does not hold the edition back."""

    def collect(self, month: Month) -> Result:
        """The month's figures: an instance of the kind's type (results.KIND_TYPES). Raise SourceError
        when the system fails, SourceSkipped when the month has nothing to report."""
        raise NotImplementedError

    def take_snapshot(self) -> Mapping[str, Any]:
        """Only for `needs_snapshots`: read the system now and return what collect() will need of
        today, JSON-able and without any secret. The caller stores it under the source's name at
        `self.clock()`. Raise SourceError when the system fails, as collect() does."""
        raise NotImplementedError(f"collector {self.type!r} sets needs_snapshots but has no take_snapshot()")
