"""The workspace: the root every command opens, and nothing more.

A Workspace holds what every stage needs and owns none of the stages: the checked configuration
(newsletter.toml and sources/*.toml), the SQLite store, the collector registry, the clock (and
the pause used between delivery retries), and whether it is the built-in demo. The stages are
modules of their own that take the workspace as an argument:

    collect.py            collect a month into the store, and what a draft needs collected
    drafts.py             compose an edition from what the store holds, and check it
    editions.py           what is due and what was sent, the approval gate, the frozen content, sending
    archive.py            the archived editions on disk
    delivery/mailing.py   recipients, the delivery plan, the real send and a test copy
    operations.py         the daily `run` decision, `send`, the lock, the owners' notices
    checkup.py            what `check` checks

Opening one reads and checks the whole configuration and opens (or creates) the store, so a
mistake is a ConfigError naming the file and key before any stage starts.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from newsletter.collectors.base import utcnow
from newsletter.collectors.registry import CollectorRegistry
from newsletter.config import Config, find_config, load_config
from newsletter.errors import ConfigError
from newsletter.period import Month, Year
from newsletter.resources import BUILTIN, demo_config
from newsletter.store import Store

DEMO_STATE_DIR = ".newsletter-demo"


@dataclass
class Workspace:
    """A workspace opened for one command. `clock` and `sleep` are injected so tests control time."""

    config: Config
    store: Store
    registry: CollectorRegistry
    demo: bool = False  # the embedded demo: it makes its own history and sends to its outbox
    clock: Callable[[], datetime] = utcnow
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def open(cls, *, config_path: str | None = None, demo: bool = False, state_dir: Path | None = None,
             in_memory: bool = False, registry: CollectorRegistry | None = None) -> Workspace:
        """The demo, or the workspace of `config_path` (else $NEWSLETTER_CONFIG, else ./newsletter.toml).

        `state_dir` (else $NEWSLETTER_STATE_DIR) overrides the configured state directory (the demo's
        default is ./.newsletter-demo); `in_memory` keeps the store in memory (nothing written to
        disk); `registry` replaces the installed collectors (a program embedding this, or a test)."""
        registry = registry or CollectorRegistry.from_entry_points()
        env_state = os.environ.get("NEWSLETTER_STATE_DIR")
        if demo:
            path = demo_config()
            state_dir = state_dir or Path(env_state or DEMO_STATE_DIR)
        else:
            path = find_config(config_path)
            state_dir = state_dir or (Path(env_state) if env_state else None)
        config = load_config(path, registry, state_dir=state_dir)
        store = Store.memory() if in_memory else Store.open(config.state_dir)
        return cls(config, store, registry, demo)

    def month(self, text: str) -> Month:
        """--month as given; a month that has not begun has no numbers yet, so it is refused."""
        now = self.clock()
        try:
            month = Month.parse(text, self.config.tz, now=now)
        except ValueError as exc:
            raise ConfigError(f"--month: {exc}") from None
        if month.start > now:
            raise ConfigError(f"--month {month}: {month.name} has not begun yet (it begins on {month.first_day} "
                              f"in {self.config.newsletter.timezone}); choose a month that has")
        return month

    def period(self, month: str | None, year: str | None) -> Month | Year:
        """--month or --year (not both): the edition a command works on."""
        if year is None:
            return self.month(month or "last")
        if month is not None:
            raise ConfigError("--month and --year: give one of them, not both")
        try:
            edition = Year.parse(year, self.config.tz)
        except ValueError as exc:
            raise ConfigError(f"--year: {exc}") from None
        if edition.months[0].start > self.clock():
            raise ConfigError(f"--year {edition}: {edition} has not begun yet; choose a year that has")
        return edition


def create_workspace(directory: Path) -> Path:
    """`newsletter init`: a new workspace in `directory` (made when missing), a copy of the demo's
    newsletter.toml and sources with one sample per source type; returns its newsletter.toml.
    A folder that holds a workspace already, or cannot hold one, is a ConfigError."""
    target = directory / "newsletter.toml"
    _refuse_unusable_folder(directory)
    if target.exists():
        raise ConfigError(f"{target} exists already; choose another folder")
    try:
        _copy_demo(directory, target)
    except OSError as exc:
        raise ConfigError(f"{directory}: cannot create the workspace there ({exc.strerror or exc}); "
                          "choose a folder you can write to") from None
    return target


def _refuse_unusable_folder(directory: Path) -> None:
    """DIRECTORY, or the nearest part of its path that exists, must be a folder: a file is a mistake."""
    existing = next(p for p in (directory, *directory.parents) if p.exists() or p.is_symlink())
    if not existing.is_dir():
        what = "it" if existing == directory else str(existing)
        raise ConfigError(f"{directory}: {what} is a file, not a folder; give init a folder for the new "
                          "workspace (it is created when missing)")


def _copy_demo(directory: Path, target: Path) -> None:
    """The demo workspace's files, copied only where nothing is: a folder that holds a source or a
    highlights file of the same name is refused whole, before anything is written."""
    files = {BUILTIN / "newsletter.toml": target}
    # the demo sources and highlights, and one sample per source type, to copy up into sources/
    for pattern in ("sources/*.toml", "sources/highlights/*.md", "sources/examples/**/*"):
        files |= {path: directory / path.relative_to(BUILTIN) for path in BUILTIN.glob(pattern) if path.is_file()}
    there = sorted(str(copy.relative_to(directory)) for copy in files.values() if copy.exists() or copy.is_symlink())
    if there:
        more = f" (and {len(there) - 1} more)" if len(there) > 1 else ""
        raise ConfigError(f"{directory}: init would replace {there[0]}{more}; choose an empty folder, or move "
                          "those files aside first")
    (directory / "templates").mkdir(parents=True, exist_ok=True)
    for original, copy in files.items():
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(original, copy)
