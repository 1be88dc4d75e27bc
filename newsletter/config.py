"""Load and validate a workspace: newsletter.toml plus sources/*.toml, into frozen dataclasses.

Paths are relative to the file that names them. Secrets come only from `*_env` / `*_file` keys.
Every mistake raises ConfigError naming the file, the key and what was expected.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from newsletter.collectors.registry import CollectorRegistry
from newsletter.errors import ConfigError
from newsletter.limits import DEFAULT_DEADLINE_S, DEFAULT_MAX_PAGES, MAX_DEADLINE_S
from newsletter.model import kind_title
from newsletter.period import load_timezone
from newsletter.settings import Secret, Where, bind

CONFIG_NAME = "newsletter.toml"
SOURCE_KEYS = ("type", "name", "title", "required", "enabled", "deadline_s", "max_pages")
# The body's sections in order: blocks of the theme's newsletter.mjml.j2 (header and footer always show).
DEFAULT_SECTIONS = ("hero", "highlights", "ticketing", "mail_security", "uptime", "trends", "metrics", "thanks", "tip")


@dataclass(frozen=True)
class NewsletterSettings:
    """[newsletter]: who sends it, in which zone, where its files live."""

    company: str = "Example Corp"
    team: str = "IT"
    timezone: str = "UTC"
    language: str = "en"
    theme: str = "default"
    templates: Path = Path("templates")
    sources: Path = Path("sources")
    state_dir: Path = Path(".newsletter")
    history_months: int = 12
    sections: list[str] = field(default_factory=lambda: list(DEFAULT_SECTIONS))


@dataclass(frozen=True)
class SmtpSettings:
    """[delivery.smtp]: one connection reused for the whole run."""

    host: str = "localhost"
    port: int | None = None  # 587 for starttls, 465 for tls, 25 for none
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: Secret | None = None
    timeout_s: float = 30.0
    ca_file: Path | None = None  # a private CA to trust besides the system's
    messages_per_connection: int = 0  # reconnect after this many (0: never); for servers that limit it

    @property
    def effective_port(self) -> int:
        return self.port or {"starttls": 587, "tls": 465, "none": 25}[self.security]


@dataclass(frozen=True)
class GraphSettings:
    """[delivery.graph]: Microsoft Graph sendMail as the `from` mailbox, OAuth client credentials."""

    tenant_id: str = ""
    client_id: str = ""
    client_secret: Secret | None = None
    authority: str = "https://login.microsoftonline.com"  # + /<tenant_id>
    graph_url: str = "https://graph.microsoft.com"
    per_minute: int = 30  # Exchange Online's limit for one mailbox
    timeout_s: float = 30.0
    ca_file: Path | None = None  # a private CA to trust besides the system's (proxies, tests)
    max_retry_after_s: float = 300.0  # a longer throttling wait stops the run; a later run goes on


@dataclass(frozen=True)
class OutboxSettings:
    """[delivery.outbox]: .eml files instead of sending; the default, and safe to try."""

    dir: Path | None = None  # default: <state_dir>/outbox


@dataclass(frozen=True)
class DeliverySettings:
    """[delivery]: who receives the newsletter and how it leaves."""

    sender: str = field(default="IT Team <it@example.com>", metadata={"key": "from"})
    to: list[str] = field(default_factory=list)
    recipients: Path | None = None  # a CSV file: email, name, any other columns; one message each
    reply_to: str | None = None
    list_id: str | None = None
    transport: Literal["outbox", "smtp", "graph"] = "outbox"
    max_errors: int = 10
    require_approval: bool = False  # `run` and `send` wait until `newsletter approve` records this content
    reviewers: list[str] = field(default_factory=list)  # emailed when a draft waits for approval
    rate_per_s: float = 0.0  # messages per second at most (0: as fast as the server takes them)
    retry_rounds: int = 2  # in-run retries of temporary refusals, after retry_backoff_s, doubling
    retry_backoff_s: float = 60.0
    retry_until_days: float = 3.0  # later runs retry temporary refusals until this long after the first try
    ledger_sync: Literal["full", "normal"] = "full"  # normal: faster; survives a crash, not a power cut
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    graph: GraphSettings = field(default_factory=GraphSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
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
class Config:
    path: Path
    newsletter: NewsletterSettings
    delivery: DeliverySettings
    sources: tuple[SourceConfig, ...]
    tz: ZoneInfo
    run: RunSettings = field(default_factory=RunSettings)
    directory: Any = None  # delivery/directories/registry.DirectoryConfig, when [delivery.directory] is set

    @property
    def state_dir(self) -> Path:
        return self.newsletter.state_dir

    @property
    def outbox_dir(self) -> Path:
        return self.delivery.outbox.dir or self.state_dir / "outbox"


def find_config(explicit: str | None, cwd: Path | None = None) -> Path:
    """--config, then NEWSLETTER_CONFIG, then ./newsletter.toml."""
    chosen = explicit or os.environ.get("NEWSLETTER_CONFIG")
    if chosen:
        path = Path(chosen).expanduser()
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
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text") from exc


def load_config(path: Path, registry: CollectorRegistry, *, state_dir: Path | None = None) -> Config:
    """Read and check the whole workspace. `state_dir` overrides the configured one (demo, tests)."""
    path = path.absolute()
    workspace = bind(WorkspaceSettings, read_toml(path), Where(path))
    settings = workspace.newsletter
    try:
        tz = load_timezone(settings.timezone)
    except ValueError as exc:
        raise ConfigError(f"{path}: newsletter.timezone: {exc}") from exc
    if state_dir is not None:
        settings = replace(settings, state_dir=state_dir.absolute())
    delivery = workspace.delivery
    _check_delivery(delivery, path)
    _check_run(workspace.run, path)
    directory = _load_directory(delivery, path)
    sources = load_sources(settings.sources, registry)
    return Config(path, settings, delivery, sources, tz, workspace.run, directory)


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
    for key in ("rate_per_s", "retry_rounds", "retry_backoff_s", "retry_until_days"):
        if getattr(delivery, key) < 0:
            raise ConfigError(f"{path}: delivery.{key}: expected a number of at least 0")
    if delivery.recipients is not None and not delivery.recipients.is_file():
        raise ConfigError(f"{path}: delivery.recipients: {delivery.recipients} not found")
    if delivery.transport == "smtp":
        _check_smtp(delivery.smtp, path)
    graph = delivery.graph
    if delivery.transport == "graph":
        for key in ("tenant_id", "client_id"):
            if not getattr(graph, key):
                raise ConfigError(f"{path}: delivery.graph.{key}: missing (the app registration's {key})")
        if graph.client_secret is None:
            raise ConfigError(f"{path}: delivery.graph.client_secret_env: missing: set client_secret_env = "
                              "\"VAR\" or client_secret_file = \"path\"")
        if graph.per_minute < 1:
            raise ConfigError(f"{path}: delivery.graph.per_minute: expected an integer of at least 1")


def _check_smtp(smtp: SmtpSettings, path: Path) -> None:
    """A host is a name or an address, nothing more: "127.0.0.1:8025" would pass here and fail at
    the first `run`, so the port goes in `port`. IPv6 literals ("::1") have colons and are fine.
    A password goes in clear text only to this machine, as plain http:// goes only to loopback."""
    _check_smtp_host(smtp, path)
    if smtp.security == "none" and smtp.username and not is_loopback(smtp.host):
        raise ConfigError(f"{path}: delivery.smtp.security: \"none\" would send the password of {smtp.username} "
                          f"in clear text to {smtp.host}; set security = \"starttls\" (port 587) or \"tls\" (465), "
                          "or remove username for a relay that accepts this host without a login")


def _check_smtp_host(smtp: SmtpSettings, path: Path) -> None:
    import re

    host, key = smtp.host.strip(), f"{path}: delivery.smtp.host: {smtp.host!r}"
    with_port = re.fullmatch(r"\[([^\]]*)\]:(\d+)|([^:\[\]]+):(\d+)", host)
    if with_port:
        name, port = (with_port[1], with_port[2]) if with_port[2] else (with_port[3], with_port[4])
        raise ConfigError(f'{key} has a port in it: write host = "{name}" and port = {port}')
    if host.startswith("[") and host.endswith("]"):
        raise ConfigError(f'{key}: write an IPv6 address without brackets: host = "{host[1:-1]}"')
    if "/" in host:
        raise ConfigError(f'{key}: expected a host name or address, not a URL (e.g. "smtp.example.com")')
    if not host or any(c.isspace() for c in host) or (":" in host and not _is_ipv6(host)):
        raise ConfigError(f'{key}: expected a host name or address (e.g. "smtp.example.com"); a port goes '
                          "in `port`")
    if smtp.port is not None and not 1 <= smtp.port <= 65535:
        raise ConfigError(f"{path}: delivery.smtp.port: expected a TCP port from 1 to 65535, got {smtp.port}")


def _is_ipv6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host.split("%")[0])  # a zone ("fe80::1%eth0") is for the socket
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1: traffic that never leaves this machine."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
    max_pages = _pop_limit(table, "max_pages", DEFAULT_MAX_PAGES, where, whole=True, high=1_000_000)
    settings = bind(collector.Settings, table, where)
    return SourceConfig(file, name, type_, required, enabled, settings, float(deadline_s), int(max_pages), title)


def _pop_limit(table: dict[str, Any], key: str, default: float, where: Where, *, whole: bool,
               high: float) -> float:
    """A limit above 0 and at most `high`: a whole number (`whole`) or a number of seconds."""
    value = table.pop(key, default)
    right_kind = isinstance(value, int) if whole else isinstance(value, int | float)
    if isinstance(value, bool) or not right_kind or not 0 < value <= high:
        expected = (f"a whole number from 1 to {high:,.0f}" if whole
                    else f"a number of seconds above 0, at most {high:,.0f}")
        raise where.error(key, f"expected {expected}, got {value!r}")
    return value


def _pop(table: dict[str, Any], key: str, kind: type, default: Any, where: Where) -> Any:
    value = table.pop(key, default)
    if not isinstance(value, kind):
        raise where.error(key, f"expected {'true or false' if kind is bool else 'a string'}, got {value!r}")
    return value
