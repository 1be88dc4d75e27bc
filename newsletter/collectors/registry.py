"""Find collectors through the `newsletter.collectors` entry-point group, built-ins included.

Entry points are loaded lazily, one per `type` actually used, so an unrelated broken plugin
costs nothing and a broken one that is used becomes a warning plus a clear config error.
"""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint, PackageNotFoundError, entry_points, packages_distributions, version

from newsletter.collectors.base import Collector

log = logging.getLogger(__name__)
GROUP = "newsletter.collectors"


class CollectorRegistry:
    """Maps a source `type` to its Collector class. Tests build their own from a dict."""

    def __init__(self, entries: dict[str, EntryPoint | type[Collector]]) -> None:
        self._entries = dict(entries)
        self._broken: dict[str, str] = {}

    @classmethod
    def from_entry_points(cls) -> CollectorRegistry:
        return cls({ep.name: ep for ep in entry_points(group=GROUP)})

    def types(self) -> list[str]:
        return sorted(t for t in self._entries if t not in self._broken)

    def broken(self, type_: str) -> str | None:
        """Why the plugin for `type_` could not be loaded, if it could not."""
        return self._broken.get(type_)

    def get(self, type_: str) -> type[Collector] | None:
        entry = self._entries.get(type_)
        if entry is None or type_ in self._broken:
            return None
        if isinstance(entry, EntryPoint):
            try:
                loaded = entry.load()
                if not (isinstance(loaded, type) and issubclass(loaded, Collector)):
                    raise TypeError(f"{entry.value} is not a Collector subclass")
            except Exception as exc:  # a broken plugin warns; the rest carries on
                self._broken[type_] = f"{type(exc).__name__}: {exc}"
                log.warning("collector plugin %r (%s) failed to load: %s", type_, entry.value, exc)
                return None
            self._entries[type_] = entry = loaded
        return entry


def describe_plugin(cls: type) -> str:
    """'acme_desk.collector.Desk from the distribution acme-desk 1.2', or just the class when its
    distribution is unknown: what a message about a plugin's mistake names, so people know whom to ask."""
    where = f"{cls.__module__}.{cls.__qualname__}"
    top = cls.__module__.split(".")[0]
    for name in dict.fromkeys(packages_distributions().get(top, [])):
        try:
            return f"{where} from the distribution {name} {version(name)}"
        except PackageNotFoundError:
            continue
    return where
