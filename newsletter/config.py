"""Load and validate a workspace: newsletter.toml plus sources/*.toml, into frozen dataclasses.

Paths are relative to the file that names them. Secrets come only from `*_env` / `*_file` keys.
Every mistake raises ConfigError naming the file, the key and what was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from newsletter.binding import Secret, Where, bind, expand_home, key_of
from newsletter.delivery.registry import TransportRegistry
from newsletter.errors import ConfigError
from newsletter.limits import DEFAULT_DEADLINE_S, DEFAULT_MAX_PAGES, MAX_DEADLINE_S, MAX_PAGES, limit_problem
from newsletter.model import kind_title
from newsletter.period import load_timezone
from newsletter.sections import DEFAULT_SECTIONS

if TYPE_CHECKING:  # the registry is handed in where sources are bound: the composer and transports never load it
    from newsletter.collectors.registry import CollectorRegistry
    from newsletter.delivery.base import Transport
    from newsletter.plugins import Provider

CONFIG_NAME = "newsletter.toml"
# [delivery]'s numbers and their highest: 0 means none (no rate limit, no retry)
DELIVERY_LIMITS = {"rate_per_s": 100_000, "retry_rounds": 100, "retry_backoff_s": 86_400, "retry_until_days": 366}
SOURCE_KEYS = ("type", "name", "title", "required", "enabled", "deadline_s", "max_pages")
MAX_HISTORY_MONTHS = 240  # earlier months read (history_months, collect --backfill): twenty years is plenty


@dataclass(frozen=True)
class NewsletterSettings:
    """[newsletter]: who sends it, in which zone, where its files live."""

    company: str = "Example Corp"
    team: str = "IT"
    timezone: str = "UTC"
    language: str = "en"
    # per-person language: the other languages an edition is composed in, besides `language` (default:
    # those of the recipients file's `language` column); each person gets theirs (docs/languages.md)
    languages: list[str] = field(default_factory=list)
    theme: str = "default"
    templates: Path = Path("templates")
    sources: Path = Path("sources")
    state_dir: Path = Path(".newsletter")
    history_months: int = 12
    sections: list[str] = field(default_factory=lambda: list(DEFAULT_SECTIONS))
    # where `newsletter publish` output is served (https://...): each email then links to its own page
    archive_url: str = ""


@dataclass(frozen=True)
class DeliverySettings:
    """[delivery]: who receives the newsletter and how it leaves."""

    sender: str = field(default="IT Team <it@example.com>", metadata={"key": "from"})
    to: list[str] = field(default_factory=list)
    recipients: Path | None = None  # a CSV file: email, name, any other columns; one message each
    reply_to: str | None = None
    list_id: str | None = None
    transport: str = "outbox"  # a name in the newsletter.transports group; its keys in [delivery.<transport>]
    max_errors: int = 10
    require_approval: bool = False  # `run` and `send` wait until `newsletter approve` records this content
    reviewers: list[str] = field(default_factory=list)  # emailed when a draft waits for approval
    rate_per_s: float = 0.0  # messages per second at most (0: as fast as the server takes them)
    retry_rounds: int = 2  # in-run retries of temporary refusals, after retry_backoff_s, doubling
    retry_backoff_s: float = 60.0
    retry_until_days: float = 3.0  # later runs retry temporary refusals until this long after the first try
    ledger_sync: Literal["full", "normal"] = "full"  # normal: faster; survives a crash, not a power cut
    # [delivery.directory]: `type` and that directory's keys, bound in load_config (docs/directory.md)
    directory: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSettings:
    """[run]: the unattended monthly job."""

    send_day: int = 1  # last month's edition is due from this day of the month
    max_days_late: int = 10  # an edition due longer ago than this is not sent without --force
    owners: list[str] = field(default_factory=list)  # told by email when a run fails or stops
    ping_url: Secret | None = None  # healthchecks-style: <url>/start, <url>, <url>/fail


@dataclass(frozen=True)
class WorkspaceSettings:
    newsletter: NewsletterSettings = field(default_factory=NewsletterSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    run: RunSettings = field(default_factory=RunSettings)


@dataclass(frozen=True)
class SourceConfig:
    """One sources/*.toml: common keys plus the collector's own bound Settings.

    `name` is the source's id (the store, logs, `collect`); `title` is what people read in the
    email ("Help desk"), by default a readable form of the collector's kind.
    """

    file: Path
    name: str
    type: str
    required: bool
    enabled: bool
    settings: Any
    deadline_s: float = DEFAULT_DEADLINE_S  # the whole collection of a month, retries and waits included
    max_pages: int = DEFAULT_MAX_PAGES  # pages of one listing before paging is stopped as runaway
    title: str = ""


@dataclass(frozen=True)
class TransportConfig:
    """`delivery.transport` resolved: the class that sends, the distribution that provides it, and
    its keys ([delivery.<name>]) bound by the class's own Settings and validated by it."""

    name: str
    cls: type[Transport]
    settings: Any
    provider: Provider


@dataclass(frozen=True)
class Config:
    path: Path
    newsletter: NewsletterSettings
    delivery: DeliverySettings
    sources: tuple[SourceConfig, ...]
    tz: ZoneInfo
    transport: TransportConfig
    run: RunSettings = field(default_factory=RunSettings)
    # every [delivery.<transport>] table of the file, bound (the one in use always, with its defaults)
    transport_settings: Mapping[str, Any] = field(default_factory=dict)
    directory: Any = None  # delivery/directories/registry.DirectoryConfig, when [delivery.directory] is set

    @property
    def state_dir(self) -> Path:
        return self.newsletter.state_dir

    @property
    def outbox_dir(self) -> Path:
        """Where the outbox transport writes its batches: [delivery.outbox] dir, or outbox/ in the state folder."""
        outbox = self.transport_settings.get("outbox")
        return outbox.folder(self.state_dir) if hasattr(outbox, "folder") else self.state_dir / "outbox"


def find_config(explicit: str | None, cwd: Path | None = None) -> Path:
    """--config, then NEWSLETTER_CONFIG, then ./newsletter.toml."""
    chosen = explicit or os.environ.get("NEWSLETTER_CONFIG")
    if chosen:
        path = expand_home(chosen, lambda why: ConfigError(f"--config (or NEWSLETTER_CONFIG): {why}"))
        if path.is_dir():
            path = path / CONFIG_NAME
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        return path.absolute()
    path = (cwd or Path.cwd()) / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(
            f"no {CONFIG_NAME} in {path.parent}: pass --config FILE, set NEWSLETTER_CONFIG, "
            "create one with 'newsletter init DIR', or try --demo"
        )
    return path.absolute()


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))  # Notepad writes a byte order mark
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text") from exc


def load_config(path: Path, registry: CollectorRegistry, *, state_dir: Path | None = None,
                transports: TransportRegistry | None = None) -> Config:
    """Read and check the whole workspace. `state_dir` overrides the configured one (demo, tests);
    `transports` defaults to the installed ones."""
    path = path.absolute()
    transports = transports or TransportRegistry.from_entry_points()
    raw, tables = _transport_tables(read_toml(path), path, transports)
    workspace = bind(WorkspaceSettings, raw, Where(path))
    settings = workspace.newsletter
    try:
        tz = load_timezone(settings.timezone)
    except ValueError as exc:
        raise ConfigError(f"{path}: newsletter.timezone: {exc}") from exc
    _check_archive_url(settings.archive_url, path)
    if not 0 <= settings.history_months <= MAX_HISTORY_MONTHS:  # each is read, and check makes a demo one each
        raise ConfigError(f"{path}: newsletter.history_months: expected a number of months from 0 to "
                          f"{MAX_HISTORY_MONTHS}, got {settings.history_months}")
    if state_dir is not None:
        settings = replace(settings, state_dir=state_dir.absolute())
    delivery = workspace.delivery
    _check_delivery(delivery, path)
    transport = _chosen_transport(delivery.transport, tables, path, transports)
    _check_run(workspace.run, path)
    directory = _load_directory(delivery, path)
    sources = load_sources(settings.sources, registry)
    return Config(path, settings, delivery, sources, tz, transport, workspace.run,
                  {**tables, transport.name: transport.settings}, directory)


def _transport_tables(raw: dict[str, Any], path: Path, transports: TransportRegistry
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The file without its [delivery.<transport>] tables, and those tables bound by each transport's
    own Settings: a mistake in one is an error even while another transport is in use, as any key's.
    A table whose plugin failed to load is left out (the registry warned); it fails only if used."""
    delivery = raw.get("delivery")
    if not isinstance(delivery, dict):
        return raw, {}
    own = {key_of(f) for f in dataclasses.fields(DeliverySettings)}
    known = transports.names()
    tables = {key: value for key, value in delivery.items()
              if key not in own and (isinstance(value, dict) or key in known)}
    bound = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: delivery.{name}: expected a table [delivery.{name}] of its keys")
        cls = transports.get(name)
        if cls is not None:
            bound[name] = bind(cls.Settings, table, Where(path, f"delivery.{name}"))
        elif transports.broken(name) is None:
            close = difflib.get_close_matches(name, known, n=1)
            hint = (f"did you mean [delivery.{close[0]}]?" if close
                    else f"expected a table of one of the transports: {', '.join(known)}")
            raise ConfigError(f"{path}: delivery.{name}: unknown table; {hint}")
    rest = {key: value for key, value in delivery.items() if key not in tables}
    return {**raw, "delivery": rest}, bound


def _chosen_transport(name: str, tables: dict[str, Any], path: Path, transports: TransportRegistry
                      ) -> TransportConfig:
    """The transport in use, its settings (defaults for a table not written) checked by its `validate`."""
    cls = transports.get(name)
    if cls is None:
        reason = transports.broken(name)
        problem = (f"its plugin failed to load ({reason})" if reason else
                   f"expected one of {', '.join(repr(n) for n in transports.names())}, got {name!r}")
        raise ConfigError(f"{path}: delivery.transport: {problem}")
    where = Where(path, f"delivery.{name}")
    settings = tables[name] if name in tables else bind(cls.Settings, {}, where)
    cls.validate(settings, where)
    return TransportConfig(name, cls, settings, transports.provider(name))


def _load_directory(delivery: DeliverySettings, path: Path) -> Any:
    """[delivery.directory] bound to its plugin's Settings and validated, before any network call."""
    if not delivery.directory:
        return None
    from newsletter.delivery.directories.registry import load_directory

    return load_directory(delivery.directory, Where(path, "delivery.directory"))


def _check_delivery(delivery: DeliverySettings, path: Path) -> None:
    addresses = {"from": [delivery.sender], "to": delivery.to, "reviewers": delivery.reviewers,
                 "reply_to": [delivery.reply_to] if delivery.reply_to is not None else []}
    for key, values in addresses.items():
        _check_addresses(path, f"delivery.{key}", values)
    if delivery.max_errors < 1:
        raise ConfigError(f"{path}: delivery.max_errors: expected an integer of at least 1")
    for key, high in DELIVERY_LIMITS.items():  # NaN and infinity are neither: a send would crash on them
        value = getattr(delivery, key)
        if not 0 <= value <= high:
            raise ConfigError(f"{path}: delivery.{key}: expected a number from 0 to {high:,}, got {value!r}")
    if delivery.recipients is not None and not delivery.recipients.is_file():
        raise ConfigError(f"{path}: delivery.recipients: {delivery.recipients} not found")


def _check_archive_url(url: str, path: Path) -> None:
    """The published site's address: an https:// (or http://) page every email links to, or none."""
    if url and not re.match(r"^https?://[^/\s?#]+(/[^\s?#]*)?$", url):
        raise ConfigError(f"{path}: newsletter.archive_url: expected the address where `newsletter publish` "
                          f"output is served, as https://host/path/, got {url!r}")


def _check_run(run: RunSettings, path: Path) -> None:
    if not 1 <= run.send_day <= 28:
        raise ConfigError(f"{path}: run.send_day: expected a day from 1 to 28, got {run.send_day}")
    if run.max_days_late < 0:
        raise ConfigError(f"{path}: run.max_days_late: expected a number of days of at least 0")
    _check_addresses(path, "run.owners", run.owners)


def _check_addresses(path: Path, key: str, values: list[str]) -> None:
    """Each value one address, "Name <user@example.com>" or the address alone (delivery/addresses.py)."""
    from newsletter.delivery.addresses import check_address  # the email package: only once there is mail

    for value in values:
        checked = check_address(value, named=True)
        if not checked.ok:
            raise ConfigError(f"{path}: {key}: {value!r} {checked.reason}")


def shared_titles(config: Config) -> list[str]:
    """A warning for each enabled source whose title another one has already: readers of the email
    could not tell the two apart."""
    first: dict[str, Path] = {}
    problems = []
    for source in (s for s in config.sources if s.enabled):
        if source.title in first:
            problems.append(f"{source.file}: title: {source.title!r} is also the title of {first[source.title]}; "
                            "set title = \"...\" in one of them so readers can tell them apart")
        first.setdefault(source.title, source.file)
    return problems


def load_sources(folder: Path, registry: CollectorRegistry) -> tuple[SourceConfig, ...]:
    if not folder.is_dir():
        raise ConfigError(f"{folder}: sources folder not found (newsletter.sources)")
    sources = [load_source(file, registry) for file in sorted(folder.glob("*.toml"))]
    names: dict[str, Path] = {}
    for source in sources:
        if source.name in names:
            raise ConfigError(f"{source.file}: name: {source.name!r} is also used by {names[source.name]}")
        names[source.name] = source.file
    return tuple(sources)


def load_source(file: Path, registry: CollectorRegistry) -> SourceConfig:
    table = read_toml(file)
    where = Where(file)
    type_ = table.pop("type", None)
    if not isinstance(type_, str):
        raise where.error("type", "missing: set type = \"...\" (one of: " + ", ".join(registry.types()) + ")")
    collector = registry.get(type_)
    if collector is None:
        reason = registry.broken(type_)
        hint = f"its plugin failed to load ({reason})" if reason else "expected one of: " + ", ".join(
            registry.types()
        )
        raise where.error("type", f"unknown source type {type_!r}; {hint}")
    name = _pop(table, "name", str, file.stem, where)
    default_title = kind_title(getattr(collector, "kind", ""))
    title = " ".join(_pop(table, "title", str, default_title, where).split())
    if not title:
        raise where.error("title", f"expected the name people know this source by (such as {default_title!r})")
    required = _pop(table, "required", bool, False, where)
    enabled = _pop(table, "enabled", bool, True, where)
    deadline_s = _pop_limit(table, "deadline_s", DEFAULT_DEADLINE_S, where, whole=False, high=MAX_DEADLINE_S)
    max_pages = _pop_limit(table, "max_pages", DEFAULT_MAX_PAGES, where, whole=True, high=MAX_PAGES)
    try:
        settings = bind(collector.Settings, table, where)
    except ConfigError:
        raise
    except Exception as exc:  # a plugin's Settings that is no dataclass, or names a type it never imports
        from newsletter.collectors.registry import describe_plugin

        plugin = describe_plugin(collector, registry.provider(type_))
        raise where.error("type", f"collector {type_!r} ({plugin}) could not read its keys: {type(exc).__name__}: "
                                  f"{exc}; the collector needs fixing (tell its authors)") from None
    return SourceConfig(file, name, type_, required, enabled, settings, float(deadline_s), int(max_pages), title)


def _pop_limit(table: dict[str, Any], key: str, default: float, where: Where, *, whole: bool,
               high: float) -> float:
    """A limit above 0 and at most `high`: a whole number (`whole`) or a number of seconds."""
    value = table.pop(key, default)
    if problem := limit_problem(value, whole=whole, high=high):
        raise where.error(key, problem)
    return value


def _pop(table: dict[str, Any], key: str, kind: type, default: Any, where: Where) -> Any:
    value = table.pop(key, default)
    if not isinstance(value, kind):
        raise where.error(key, f"expected {'true or false' if kind is bool else 'a string'}, got {value!r}")
    return value
