"""Run every enabled source for a month, in parallel; a failing or hanging source never takes the
run down. Below the runner: a workspace's months collected into its store, and what a draft needs
collected first (the `collect` stage; see workspace.py)."""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from newsletter import limits
from newsletter.binding import secret_values
from newsletter.collectors import quotes
from newsletter.collectors.base import Collector, SnapshotState, utcnow
from newsletter.collectors.registry import CollectorRegistry, describe_plugin
from newsletter.config import Config, SourceConfig
from newsletter.errors import ConfigError, NewsletterError, SourceError, SourceSkipped
from newsletter.limits import DeadlineExceeded
from newsletter.model import SourceResult
from newsletter.period import Month, Year
from newsletter.redaction import redact, redacted_traceback
from newsletter.result_checks import metrics_problem, result_problem
from newsletter.results import KIND_TYPES
from newsletter.snapshots import DailySnapshots, save_reading, stored_days

if TYPE_CHECKING:
    from newsletter.results import Result
    from newsletter.workspace import Workspace

log = logging.getLogger(__name__)
MAX_WORKERS = 8


def build_collectors(
    config: Config, registry: CollectorRegistry, *, clock: Callable[[], datetime] = utcnow,
    state: SnapshotState | None = None,
) -> list[tuple[SourceConfig, Collector]]:
    """Instantiate and validate every enabled source before any network call. `state` is what the
    collectors may keep between runs (the workspace's store implements it)."""
    built = []
    for source in config.sources:
        if not source.enabled:
            continue
        cls = registry.get(source.type)
        if cls is None:
            raise ConfigError(f"{source.file}: type: collector {source.type!r} is not available")
        try:
            collector = cls(source.settings, name=source.name, clock=clock, state=state)
            collector.validate()
        except ConfigError as exc:
            raise ConfigError(f"{source.file}: {exc}") from None
        except Exception as exc:  # a plugin's bug fails its own source; the others are collected
            collector = Unstarted(cls, source, exc, describe_plugin(cls, registry.provider(source.type)))
        built.append((source, collector))
    return built


class Unstarted(Collector):
    """Stands in for a collector whose constructor or validate() raised something other than
    ConfigError: its source fails naming the plugin and its distribution, as a failing collect() would."""

    def __init__(self, cls: type[Collector], source: SourceConfig, exc: Exception, plugin: str) -> None:
        super().__init__(source.settings, name=source.name)
        self.type = source.type
        self.offline = bool(getattr(cls, "offline", False))  # read again with the local files only if it is one
        kind = str(getattr(cls, "kind", ""))
        self.kind = kind if kind in KIND_TYPES else "custom"  # so the failure, not the kind, is reported
        self.problem = _redact(f"{source.file}: collector {source.type!r} ({plugin}) failed to start: "
                               f"{type(exc).__name__}: {exc}; the collector needs fixing (tell its authors)", source)

    def collect(self, month: Month) -> Result:
        raise SourceError(self.problem)


def collect_month(
    collectors: list[tuple[SourceConfig, Collector]], month: Month, *, progress: int = logging.INFO
) -> list[SourceResult]:
    """Results in source order; progress (at level `progress`) and failures go to the log (stderr).

    Each source has its `deadline_s` for the whole month: past it, the source is failed and the run
    goes on without waiting for it.
    """
    workers = _Workers([(index, s, c) for index, (s, c) in enumerate(collectors)], month, progress)
    workers.start_more()
    done = workers.wait()
    return [done[index] for index in range(len(collectors))]


class _Workers:
    """Threads for the sources that wait on the network, at most MAX_WORKERS at a time, each given
    up at its deadline. Daemon threads: one stuck in a read past its deadline must keep neither the
    runner waiting nor the process alive at exit (ThreadPoolExecutor joins its threads then).
    Offline sources run one at a time in a thread of their own, meanwhile: threads side by side would
    only add GIL hand-offs to CPU work (the demo's 13 months of history took a third longer), but
    one that hangs (a file on a stuck mount, a plugin wrongly saying offline) is given up at its
    deadline like any other."""

    def __init__(self, jobs: list[tuple[int, SourceConfig, Collector]], month: Month, progress: int) -> None:
        self.waiting = collections.deque(job for job in jobs if not job[2].offline)
        self.local = collections.deque(job for job in jobs if job[2].offline)
        self.running: dict[int, tuple[SourceConfig, Collector, float]] = {}  # index -> (..., ends_at)
        self.done: dict[int, SourceResult] = {}
        self.finished: queue.SimpleQueue[tuple[int, SourceResult, float]] = queue.SimpleQueue()
        self.month, self.progress = month, progress
        self.lane: queue.SimpleQueue[tuple[int, SourceConfig, Collector, float] | None] | None = None

    def start_more(self) -> None:
        while self.waiting and sum(not c.offline for _, c, _ in self.running.values()) < MAX_WORKERS:
            index, source, collector = self.waiting.popleft()
            ends_at = time.monotonic() + source.deadline_s  # from when it starts, not from when it queued
            self.running[index] = (source, collector, ends_at)
            threading.Thread(target=self._work, args=(index, source, collector, ends_at), daemon=True,
                             name=f"collect {source.name}").start()
        if self.local and not any(c.offline for _, c, _ in self.running.values()):
            index, source, collector = self.local.popleft()
            ends_at = time.monotonic() + source.deadline_s
            self.running[index] = (source, collector, ends_at)
            if self.lane is None:  # the first, or the last one is stuck in a source given up
                self.lane = queue.SimpleQueue()
                threading.Thread(target=self._lane, args=(self.lane,), daemon=True, name="collect offline").start()
            self.lane.put((index, source, collector, ends_at))

    def _work(self, index: int, source: SourceConfig, collector: Collector, ends_at: float) -> None:
        started = time.monotonic()
        result = _run_one(source, collector, self.month, ends_at)
        self.finished.put((index, result, time.monotonic() - started))

    def _lane(self, jobs: queue.SimpleQueue[tuple[int, SourceConfig, Collector, float] | None]) -> None:
        """The offline sources, one at a time as they are handed over; None: no more."""
        while (job := jobs.get()) is not None:
            self._work(*job)

    def wait(self) -> dict[int, SourceResult]:
        while self.running:
            soonest = min(ends_at for _, _, ends_at in self.running.values())
            try:
                index, result, elapsed = self.finished.get(timeout=max(0.0, soonest - time.monotonic()))
            except queue.Empty:
                self._give_up_late()
            else:
                if index in self.running:  # else it finished after it was given up
                    source, _, _ = self.running.pop(index)
                    self.done[index] = _logged(result, source, self.month, self.progress, elapsed)
            self.start_more()
        if self.lane is not None:
            self.lane.put(None)
        return self.done

    def _give_up_late(self) -> None:
        now = time.monotonic()
        for index, (source, collector, ends_at) in list(self.running.items()):
            if now >= ends_at:
                del self.running[index]
                if collector.offline and self.lane is not None:  # stuck in it: the rest get a lane of their own
                    self.lane.put(None)
                    self.lane = None
                late = SourceResult.failed(source.name, source.type, collector.kind, _late(source))
                self.done[index] = _logged(late, source, self.month, self.progress, source.deadline_s)


def _run_one(source: SourceConfig, collector: Collector, month: Month, ends_at: float) -> SourceResult:
    """One source's month under its limits; every failure becomes a failed result, never an exception."""
    kind = str(getattr(collector, "kind", ""))
    if kind not in KIND_TYPES:  # not worth a call: nothing it returns could be stored
        return _unusable(source, collector, result_problem(kind, None), "cannot be used")
    try:
        with limits.budget(deadline_s=source.deadline_s, max_pages=source.max_pages, ends_at=ends_at):
            stats = collector.collect(month)
        return _running(_stored(stats, source, collector), month, collector.clock())
    except SourceSkipped as exc:
        return SourceResult.skipped(source.name, source.type, kind, _redact(str(exc), source))
    except DeadlineExceeded as exc:
        message = _late(source, exc.doing)
    except (SourceError, ConfigError) as exc:
        message = str(exc)
    except Exception as exc:  # a bug or an unforeseen failure in one collector must not stop the others
        log.debug("source %s failed:\n%s", source.name, redacted_traceback(exc, secret_values(source.settings)))
        message = (f"collector {source.type!r} ({describe_plugin(type(collector))}) failed: unexpected "
                   f"{type(exc).__name__}: {exc}; the collector needs fixing (tell its authors)")
    return SourceResult.failed(source.name, source.type, kind, _redact(message, source))


def _late(source: SourceConfig, doing: str = "") -> str:
    where = f" (stopped {doing})" if doing else ""
    return (f"source {source.name} did not finish within deadline_s = {source.deadline_s:g} s{where}; the system "
            f"answers too slowly or not at all: try again later, or raise deadline_s in {source.file.name}")


def _logged(result: SourceResult, source: SourceConfig, month: Month, progress: int, elapsed: float
            ) -> SourceResult:
    if result.status == "failed":
        log.warning("%s %s: failed: %s", month, source.name, result.error)
    elif result.partial:
        log.warning("%s %s: partial: %s", month, source.name, "; ".join(result.warnings) or "no reason given")
    else:
        log.log(progress, "%s %s: %s (%.1f s)", month, source.name, result.status, elapsed)
    return result


def _stored(stats: object, source: SourceConfig, collector: Collector) -> SourceResult:
    """The collector's typed result as it is stored (its JSON form, under the source it ran for), or
    a failed one naming the plugin and its mistake: a result the composer cannot read must never
    count as ok and then vanish from the edition."""
    problem = result_problem(collector.kind, stats)
    if problem is not None:
        return _unusable(source, collector, problem)
    metrics = stats.metrics()  # the kind's type, checked above
    if (problem := metrics_problem(metrics)) is not None:  # a subclass's own metrics() the store cannot keep
        return _unusable(source, collector, problem)
    if collector.kind == "ticketing":  # a plugin's quotes scrubbed and bounded as the help desks' are
        metrics = quotes.bounded(metrics)
    return SourceResult.ok(source.name, source.type, collector.kind, metrics).lifted()


def _unusable(source: SourceConfig, collector: Collector, problem: str | None,
              what: str = "returned a result the newsletter cannot use") -> SourceResult:
    plugin = describe_plugin(type(collector))
    return SourceResult.failed(source.name, source.type, str(getattr(collector, "kind", "")),
                               f"collector {source.type!r} ({plugin}) {what}: {problem}; the collector needs fixing "
                               "(tell its authors)")


def _running(result: SourceResult, month: Month, now: datetime) -> SourceResult:
    """A month still running gives partial numbers, whatever the source: say so, and how much is in."""
    if result.status != "ok" or result.kind == "highlights" or now >= month.end:
        return result
    days = (now.astimezone(month.tz).date() - month.first_day).days + 1
    covered = min(days, result.metrics.get("covered_days") or days)
    return replace(result, partial=True, metrics={**result.metrics, "covered_days": covered},
                   warnings=[f"{_still_running(month)} these numbers cover {days} of its {month.days} days so far",
                             *result.warnings])


def _still_running(month: Month) -> str:
    """How the warning of numbers collected while `month` ran begins: _running writes it,
    collected_running looks for it (the store's collected_at is the real clock's, not the workspace's)."""
    return f"{month} is still running:"


def collected_running(results: list[SourceResult], month: Month) -> bool:
    """Whether some of `month`'s stored numbers were collected while it was still running (_running
    marked them): they are the days so far, not the month's."""
    marker = _still_running(month)
    return any(r.partial and any(w.startswith(marker) for w in r.warnings) for r in results)


def _redact(message: str, source: SourceConfig) -> str:
    """Belt and braces: no secret of this source, in any wire form, may appear in a stored error."""
    return redact(message, secret_values(source.settings))


# a workspace's months ---------------------------------------------------------------------------
def collect(ws: Workspace, month: Month, *, backfill: int = 0) -> list[SourceResult]:
    """Collect `month` into the store, and first the `backfill` months before it that have nothing stored."""
    collectors = build_collectors(ws.config, ws.registry, clock=ws.clock, state=ws.store)
    for earlier in month.history(backfill):
        if not ws.store.has_results(earlier.label):
            results = collect_month(collectors, earlier, progress=logging.DEBUG)
            ws.store.save_results(earlier.label, results)
    results = collect_month(collectors, month)
    ws.store.save_results(month.label, results)
    return results


def refresh_local(ws: Workspace, month: Month) -> list[SourceResult]:
    """Read the offline sources (`Collector.offline`: highlights, metrics files, demo data) again
    for `month` and store them, so a draft shows those files as they are now, not as they were
    at the last `collect`; network sources keep what `collect` stored. A source that fails now
    keeps its last good result in the store (Store.save_results); its failure is returned."""
    local = [(source, collector) for source, collector
             in build_collectors(ws.config, ws.registry, clock=ws.clock, state=ws.store)
             if collector.offline]
    results = collect_month(local, month, progress=logging.DEBUG)
    ws.store.save_results(month.label, results)
    return results


def ensure_collected(ws: Workspace, period: Month | Year) -> None:
    """What a draft is made of must be stored: the demo makes its own history; a real workspace
    reads what `collect` stored, and NewsletterError says which command to run when nothing is."""
    if isinstance(period, Year):
        if ws.demo:
            last = min(period.months[-1], ws.month("last"))
            collect(ws, last, backfill=max(0, last.month - 1) + 12)  # and a year before, for records
        elif not any(ws.store.has_results(m.label) for m in period.months):
            raise NewsletterError(f"nothing collected for {period}: collect its months first "
                                  f"('newsletter collect --month {period}-12 --backfill 11')")
        return
    if ws.demo:
        collect(ws, period, backfill=ws.config.newsletter.history_months)
    elif not ws.store.has_results(period.label):
        raise NewsletterError(f"nothing collected for {period}: run 'newsletter collect --month {period}' first")


def required_failures(config: Config, results: list[SourceResult]) -> list[str]:
    """`name: error` for each failed source marked `required = true`: these hold the edition back."""
    required = {s.name for s in config.sources if s.required}
    return [f"{r.name}: {r.error}" for r in results if r.status == "failed" and r.name in required]


# daily snapshots ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SnapshotTaken:
    """One source's snapshot of today: stored, or why not (secrets removed)."""

    source: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def snapshot_sources(config: Config, registry: CollectorRegistry) -> list[SourceConfig]:
    """The enabled sources whose collector declares `needs_snapshots`, in source order."""
    return [source for source in config.sources if source.enabled
            and getattr(registry.get(source.type), "needs_snapshots", False)]


def take_snapshots(ws: Workspace) -> list[SnapshotTaken]:
    """Read every source that needs daily snapshots now and store each reading; one source's failure
    (its config, its system, a reading that is not JSON or holds a secret) never stops the others."""
    return [_take_one(source, ws) for source in snapshot_sources(ws.config, ws.registry)]


def _take_one(source: SourceConfig, ws: Workspace) -> SnapshotTaken:
    try:
        collector = ws.registry.get(source.type)(source.settings, name=source.name, clock=ws.clock, state=ws.store)
        collector.validate()
        reading = _reading_within(source, collector)
        try:
            save_reading(collector, ws.store, collector.clock(), reading)
        except (TypeError, ValueError) as exc:  # only here: the same errors from take_snapshot() are its bugs
            raise SourceError(f"collector {source.type!r} took a snapshot that is not JSON ({exc}); the collector "
                              "needs fixing") from None
        return SnapshotTaken(source.name)
    except DeadlineExceeded as exc:
        message = _late(source, exc.doing)
    except (SourceError, ConfigError) as exc:
        message = f"{source.file.name}: {exc}" if isinstance(exc, ConfigError) else str(exc)
    except Exception as exc:  # one collector's bug must not stop the others' snapshots
        log.debug("snapshot of %s failed:\n%s", source.name,
                  redacted_traceback(exc, secret_values(source.settings)))
        message = (f"collector {source.type!r} ({describe_plugin(ws.registry.get(source.type))}) failed: "
                   f"unexpected {type(exc).__name__}: {exc}; the collector needs fixing (tell its authors)")
    return SnapshotTaken(source.name, _redact(message, source))


def _reading_within(source: SourceConfig, collector: Collector) -> Mapping[str, Any]:
    """take_snapshot() under the source's limits, in a daemon thread given up at its deadline, as
    collect() is: a reading stuck outside the HTTP layer (a plugin's own socket) must not keep the
    daily run, and its lock, waiting forever."""
    ends_at = time.monotonic() + source.deadline_s
    outcome: dict[str, Any] = {}

    def read() -> None:
        try:
            with limits.budget(deadline_s=source.deadline_s, max_pages=source.max_pages, ends_at=ends_at):
                outcome["reading"] = collector.take_snapshot()
        except Exception as exc:  # raised again below, in the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=read, daemon=True, name=f"snapshot {source.name}")
    worker.start()
    worker.join(max(0.0, ends_at - time.monotonic()))
    if worker.is_alive():
        raise DeadlineExceeded(source.deadline_s, "")
    if "error" in outcome:
        raise outcome["error"]
    if "reading" not in outcome:
        raise SourceError(f"collector {source.type!r} stopped without a reading")
    return outcome["reading"]


def snapshot_coverage(ws: Workspace, month: Month) -> list[tuple[str, DailySnapshots]]:
    """Per source that needs daily snapshots: which days of `month` have one (`history` shows it)."""
    now = ws.clock()
    return [(source.name, stored_days(ws.store, source.name, month, now,
                                      window=ws.registry.get(source.type).snapshot_window))
            for source in snapshot_sources(ws.config, ws.registry)]
