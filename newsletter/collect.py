"""Run every enabled source for a month, in parallel; a failing source never takes the run down."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime

from newsletter.collectors.base import Collector, utcnow
from newsletter.collectors.registry import CollectorRegistry
from newsletter.config import Config, SourceConfig
from newsletter.errors import ConfigError, SourceError
from newsletter.model import SourceResult
from newsletter.period import Month
from newsletter.redaction import redact
from newsletter.settings import secrets_in

log = logging.getLogger(__name__)
MAX_WORKERS = 8


def build_collectors(
    config: Config, registry: CollectorRegistry, *, clock: Callable[[], datetime] = utcnow, state: object = None
) -> list[tuple[SourceConfig, Collector]]:
    """Instantiate and validate every enabled source before any network call."""
    built = []
    for source in config.sources:
        if not source.enabled:
            continue
        cls = registry.get(source.type)
        if cls is None:
            raise ConfigError(f"{source.file}: type: collector {source.type!r} is not available")
        collector = cls(source.settings, name=source.name, clock=clock, state=state)
        try:
            collector.validate()
        except ConfigError as exc:
            raise ConfigError(f"{source.file}: {exc}") from None
        built.append((source, collector))
    return built


def collect_month(
    collectors: list[tuple[SourceConfig, Collector]], month: Month, *, progress: int = logging.INFO
) -> list[SourceResult]:
    """Results in source order; progress (at level `progress`) and failures go to the log (stderr)."""
    remote = [(source, collector) for source, collector in collectors if not collector.offline]
    # Threads overlap network waits; an offline source runs here, where a thread would only add
    # start-up and GIL hand-offs (the demo's 13 months of history took a third longer in threads).
    with _pool(len(remote)) as pool:
        futures = {id(c): pool.submit(_run_one, s, c, month, progress) for s, c in remote}
        done = {id(c): _run_one(s, c, month, progress) for s, c in collectors if c.offline}
        return [done[id(c)] if c.offline else futures[id(c)].result() for _, c in collectors]


def _pool(sources: int):
    """Worker threads for the sources that wait on the network; without any, no pool (nor its import)."""
    if not sources:
        return contextlib.nullcontext()
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(min(MAX_WORKERS, sources))


def _run_one(source: SourceConfig, collector: Collector, month: Month, progress: int) -> SourceResult:
    started = time.monotonic()
    try:
        result = collector.collect(month)
    except (SourceError, ConfigError) as exc:
        result = SourceResult.failed(source.name, source.type, collector.kind, _redact(str(exc), source))
    except Exception as exc:  # a bug or an unforeseen failure in one collector must not stop the others
        log.debug("source %s failed", source.name, exc_info=True)
        message = f"unexpected {type(exc).__name__}: {exc}"
        result = SourceResult.failed(source.name, source.type, collector.kind, _redact(message, source))
    elapsed = time.monotonic() - started
    if result.status == "failed":
        log.warning("%s %s: failed: %s", month, source.name, result.error)
    else:
        log.log(progress, "%s %s: %s (%.1f s)", month, source.name, result.status, elapsed)
    return result


def _redact(message: str, source: SourceConfig) -> str:
    """Belt and braces: no secret of this source, in any wire form, may appear in a stored error."""
    return redact(message, _secret_values(source.settings))


def _secret_values(settings: object) -> list[str]:
    values = []
    for _, secret in secrets_in(settings):
        with contextlib.suppress(ConfigError):
            values.append(secret.reveal())
    return values
