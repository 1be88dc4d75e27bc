"""Find directories through the `newsletter.directories` entry-point group, built-ins included,
and bind `[delivery.directory]` to the chosen one's Settings before any network call.

As with collectors, only the entry point of the configured `type` is loaded: a broken plugin
that is not used costs nothing, and one that is used is a warning plus a clear config error.
Loading, broken plugins, duplicate names and which distribution provides each: newsletter/plugins.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint
from typing import Any

from newsletter.binding import Where, bind
from newsletter.delivery.directories.base import Directory
from newsletter.errors import ConfigError
from newsletter.limits import MAX_DEADLINE_S, MAX_PAGES, limit_problem
from newsletter.plugins import PluginRegistry

GROUP = "newsletter.directories"


class DirectoryRegistry(PluginRegistry[type[Directory]]):
    """Maps a directory `type` to its class. Tests build their own from a dict."""

    group = GROUP
    noun = "directory"

    def types(self) -> list[str]:
        return self.names()

    def accept(self, loaded: object, entry: EntryPoint) -> type[Directory]:
        if not (isinstance(loaded, type) and hasattr(loaded, "Settings") and hasattr(loaded, "members")):
            raise TypeError(f"{entry.value} is not a directory (it needs Settings and members())")
        return loaded


@dataclass(frozen=True)
class DirectoryConfig:
    """[delivery.directory], checked: the plugin's class and its bound Settings."""

    type: str
    cls: type
    settings: Any

    def open(self) -> Directory:
        return self.cls(self.settings)

    @property
    def fields(self) -> list[str]:
        """The per-person fields its members have: what a preview's sample person gets, empty."""
        return self.open().field_names()


def load_directory(table: dict[str, Any], where: Where, registry: DirectoryRegistry | None = None
                   ) -> DirectoryConfig:
    """Bind and validate [delivery.directory]; ConfigError (exit 2) naming the file and key otherwise."""
    registry = registry or DirectoryRegistry.from_entry_points()
    table = dict(table)
    type_ = table.pop("type", None)
    known = ", ".join(repr(t) for t in registry.types()) or "none installed"
    if not isinstance(type_, str):
        raise where.error("type", f"missing: set type = \"...\" (one of: {known})")
    cls = registry.get(type_)
    if cls is None:
        reason = registry.broken(type_)
        hint = f"its plugin failed to load ({reason})" if reason else f"expected one of: {known}"
        raise where.error("type", f"unknown directory type {type_!r}; {hint}")
    settings = bind(cls.Settings, table, where)
    for key, whole, high in (("deadline_s", False, MAX_DEADLINE_S), ("max_pages", True, MAX_PAGES)):
        if problem := limit_problem(getattr(settings, key), whole=whole, high=high):
            raise where.error(key, problem)
    try:
        cls(settings).validate()
    except ConfigError as exc:  # validate() names the key (delivery.directory.host); this adds the file
        raise ConfigError(f"{where.file}: {exc}") from None
    return DirectoryConfig(type_, cls, settings)
