"""Plugins through entry-point groups (`newsletter.collectors`, `newsletter.transports`), built-ins included.

Each group maps a name (a source `type`, a `delivery.transport`) to an object. Entry points load
lazily, one per name actually used, so an unrelated broken plugin costs nothing and a broken one
that is used becomes a warning plus a clear config error. Every plugin keeps the distribution
(name, version) that provides it, so `check` and error messages can say whom to ask.

Two distributions may offer the same name. One of them is used, the same one on every machine
whatever the install order: this project's own distribution first (nothing replaces a built-in
`smtp` by being installed), then the distribution whose name sorts first. A warning names both.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import (
    EntryPoint,
    PackageNotFoundError,
    distributions,
    entry_points,
    packages_distributions,
    version,
)
from typing import ClassVar, Generic, Self, TypeVar

log = logging.getLogger(__name__)
HOME = "it-newsletter"  # this project's distribution (setup.cfg): its built-ins win a clash of names
T = TypeVar("T")
_UNREADABLE: set[Provider] = set()  # the distributions already warned about (installed)


@dataclass(frozen=True)
class Provider:
    """The installed distribution a plugin comes from; both None when it comes from none (a class
    handed to a registry directly, code on sys.path without metadata)."""

    distribution: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        if self.distribution is None:
            return "no installed distribution"
        return f"{self.distribution} {self.version}" if self.version else self.distribution


def provider_of(entry: EntryPoint) -> Provider:
    """The distribution that declares `entry` (importlib.metadata sets `dist` on what it finds)."""
    dist = getattr(entry, "dist", None)
    if dist is None:
        return Provider()
    return Provider(dist.name, dist.version)


def provider_of_object(obj: object) -> Provider:
    """The distribution that installed the module `obj` is defined in, found by its top-level package."""
    top = getattr(obj, "__module__", "").split(".")[0]
    for name in dict.fromkeys(packages_distributions().get(top, [])):
        try:
            return Provider(name, version(name))
        except PackageNotFoundError:
            continue
    return Provider()


def installed(group: str) -> list[EntryPoint]:
    """The installed entry points of `group`. One distribution whose entry_points.txt cannot be read
    (edited by hand, half written) makes importlib.metadata fail for all of them: then each
    distribution is read alone, that one warned about by name and left out, the others kept."""
    try:
        return list(entry_points(group=group))
    except Exception:  # what a broken file raises is importlib's detail: find which one below
        pass
    found, seen = [], set()
    for dist in distributions():
        name = dist.metadata["Name"]
        canonical = re.sub(r"[-_.]+", "-", name).lower() if name else None
        if canonical in seen:  # the first of a name on sys.path is the installed one, as entry_points() has it
            continue
        seen.add(canonical)
        try:
            found += dist.entry_points.select(group=group)
        except Exception as exc:
            if (provider := Provider(name, dist.version)) in _UNREADABLE:  # once, not once per group
                continue
            _UNREADABLE.add(provider)
            log.warning("the distribution %s cannot be read (its entry_points.txt: %s: %s), so none of its plugins "
                        "is used; reinstall or uninstall it", provider, type(exc).__name__, exc)
    return found


def unique(found: Iterable[EntryPoint], noun: str) -> dict[str, EntryPoint]:
    """One entry point per name. A name that more than one distribution offers is warned about,
    naming each, and the one `_rank` puts first is used; the same entry twice is not a clash."""
    by_name: dict[str, list[EntryPoint]] = {}
    for entry in found:
        same = by_name.setdefault(entry.name, [])
        if not any(e.value == entry.value and provider_of(e) == provider_of(entry) for e in same):
            same.append(entry)
    chosen = {}
    for name, candidates in by_name.items():
        ranked = sorted(candidates, key=_rank)
        chosen[name] = ranked[0]
        if len(ranked) > 1:
            offers = " and ".join(f"{provider_of(e)} ({e.value})" for e in ranked)
            log.warning("%s %r is offered by %s; using the one from %s (this project's own wins, then "
                        "the distribution whose name sorts first); uninstall all but one of them to silence this",
                        noun, name, offers, provider_of(ranked[0]))
    return chosen


def _rank(entry: EntryPoint) -> tuple[bool, str, str]:
    name = provider_of(entry).distribution
    canonical = re.sub(r"[-_.]+", "-", name).lower() if name else "\uffff"  # none: last
    return canonical != HOME, canonical, entry.value


class PluginRegistry(Generic[T]):
    """Maps a name to its plugin, loaded on first use. Tests build their own from a dict of entry
    points and objects; `from_entry_points` reads the installed ones. Subclasses name their group
    and check what a loaded entry point gave them (`accept`)."""

    group: ClassVar[str]
    noun: ClassVar[str]  # what a message calls one: "collector", "transport"

    def __init__(self, entries: Mapping[str, EntryPoint | T]) -> None:
        self._entries: dict[str, EntryPoint | T] = dict(entries)
        self._broken: dict[str, str] = {}
        self._providers: dict[str, Provider] = {}

    @classmethod
    def from_entry_points(cls, found: Iterable[EntryPoint] | None = None) -> Self:
        """The installed plugins of the group (or the entry points `found`), one per name."""
        return cls(unique(installed(cls.group) if found is None else found, cls.noun))

    def names(self) -> list[str]:
        return sorted(name for name in self._entries if name not in self._broken)

    def broken(self, name: str) -> str | None:
        """Why the plugin for `name` could not be loaded, if it could not."""
        return self._broken.get(name)

    def get(self, name: str) -> T | None:
        """The plugin for `name`; None when there is none or it failed to load (then `broken` says why)."""
        entry = self._entries.get(name)
        if entry is None or name in self._broken:
            return None
        if isinstance(entry, EntryPoint):
            provider = self._providers.setdefault(name, provider_of(entry))
            try:
                loaded = self.accept(entry.load(), entry)
            except Exception as exc:  # a broken plugin warns; the rest carries on
                self._broken[name] = f"{type(exc).__name__}: {exc}"
                log.warning("%s plugin %r (%s from %s) failed to load: %s", self.noun, name, entry.value,
                            provider, exc)
                return None
            self._entries[name] = entry = loaded
        return entry

    def provider(self, name: str) -> Provider:
        """The distribution that provides `name`: recorded from its entry point when it was loaded,
        otherwise looked up from the module of the object given."""
        if name not in self._providers:
            entry = self._entries.get(name)
            self._providers[name] = provider_of(entry) if isinstance(entry, EntryPoint) else provider_of_object(entry)
        return self._providers[name]

    def accept(self, loaded: object, entry: EntryPoint) -> T:
        """What `entry` loaded, checked to be this group's kind of plugin; raise TypeError if it is not."""
        raise NotImplementedError


def listing(plugins: Iterable[tuple[str, Provider]]) -> str:
    """'rt (it-newsletter 0.4), acme (acme-desk 1.2)': what `check` prints for the plugins in use."""
    return ", ".join(f"{name} ({provider})" for name, provider in plugins) or "none"
