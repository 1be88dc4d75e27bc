"""The directory contract: what `[delivery.directory]` plugins implement, and the one way they are read.

A directory lists the people of one group, nested groups included, as `Member` records. Reading
is all or nothing: a directory that cannot be read whole (refused credentials, a lost connection,
paging stopped halfway, the deadline passed) raises DirectoryError and the send stops before
anyone is mailed, because a half-read group would look like people who left. Disabled accounts
come back with `enabled=False` and are left out here, counted for `newsletter check`.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

from newsletter import limits
from newsletter.binding import Secret
from newsletter.errors import ConfigError, NewsletterError
from newsletter.hosts import is_loopback, url_host
from newsletter.redaction import redact, redacted_traceback

log = logging.getLogger(__name__)
PREFIX = "delivery.directory"  # where the keys live, for messages
DEFAULT_DEADLINE_S = 300.0
# The per-person fields a directory fills in, beside the address and the name (templates: recipient.<field>).
FIELDS = ("first_name", "department", "language")


class DirectoryError(NewsletterError):
    """The directory could not be read whole; exit 1, naming the directory and the credential key."""

    exit_code = 1


@dataclass(frozen=True)
class Member:
    """One person of the group as the directory has them.

    `id` is the directory's own name for the entry (a DN, an object id), what messages show;
    `email` is "" when the directory has no address; `fields` holds FIELDS (and any a
    configuration maps), each "" when the directory has no value.
    """

    id: str
    email: str
    name: str = ""
    fields: dict[str, str] = field(default_factory=dict, compare=False)
    enabled: bool = True


@dataclass(frozen=True, kw_only=True)
class DirectorySettings:
    """Keys every directory has: how long one reading may take and how many pages it may read."""

    deadline_s: float = DEFAULT_DEADLINE_S
    max_pages: int = limits.DEFAULT_MAX_PAGES


class Directory(Protocol):
    """A plugin of the `newsletter.directories` group: `type = "..."` in [delivery.directory].

    The constructor takes the bound Settings and does no I/O; `validate()` refuses a configuration
    that cannot work (ConfigError naming the key) before any network call; `members()` reads the
    whole group and raises DirectoryError (or any NewsletterError) when it cannot.
    """

    type: ClassVar[str]
    Settings: ClassVar[type]
    settings: Any

    def __init__(self, settings: Any) -> None: ...

    def validate(self) -> None: ...

    def describe(self) -> str:
        """The directory as a person knows it: "ldap group cn=staff,... on ldaps://dc1.corp:636"."""

    def credential(self) -> str:
        """The key to check when the directory refuses us: "delivery.directory.bind_password_env (VAR)"."""

    def secrets(self) -> list[str]:
        """Values that must never appear in a message (revealed secrets, tokens)."""

    def field_names(self) -> list[str]:
        """The per-person fields every member has (FIELDS and any configured), known without reading."""

    def members(self) -> Iterable[Member]: ...


def check_url(key: str, url: str) -> None:
    """https, or http to this machine only: a token never crosses the network in clear."""
    parts, host = urlsplit(url), url_host(url)
    if not host or parts.scheme not in ("https", "http") or (parts.scheme == "http" and not is_loopback(host)):
        raise ConfigError(f"{PREFIX}.{key}: expected an https:// URL with a host, got {url!r}")


def check_connection_keys(timeout_s: object, ca_file: str | os.PathLike[str] | None) -> None:
    """`timeout_s` a number of seconds (not NaN, not infinite) and `ca_file`, when set, a file that
    can be read: found before any network call rather than blamed on the credential after one."""
    if problem := limits.limit_problem(timeout_s, whole=False, high=limits.MAX_TIMEOUT_S):
        raise ConfigError(f"{PREFIX}.timeout_s: {problem}")
    if ca_file is not None and not (Path(ca_file).is_file() and os.access(ca_file, os.R_OK)):
        raise ConfigError(f"{PREFIX}.ca_file: cannot read {str(ca_file)!r}; give the PEM file of the private CA "
                          "that signed the server's certificate, or leave ca_file out")


def secret_key(key: str, secret: Secret | None) -> str:
    """"delivery.directory.client_secret_env (VAR)" or "..._file (/path)": where the credential is set."""
    if secret is None:
        return f"{PREFIX}.{key}_env"
    if secret.env:
        return f"{PREFIX}.{key}_env ({secret.env})"
    return f"{PREFIX}.{key}_file ({secret.file})"


@dataclass
class Roster:
    """One reading of the directory: the enabled members, and what `check` reports about them."""

    directory: str  # Directory.describe()
    members: list[Member]
    disabled: int = 0

    @property
    def without_address(self) -> list[Member]:
        return [m for m in self.members if not m.email.strip()]

    @property
    def duplicates(self) -> list[str]:
        """Addresses (lower case) that more than one member has."""
        counts = Counter(m.email.strip().lower() for m in self.members if m.email.strip())
        return sorted(address for address, n in counts.items() if n > 1)

    def summary(self) -> str:
        parts = [f"{len(self.members)} member{'s' if len(self.members) != 1 else ''}"]
        parts.append(f"{len(self.without_address)} without an address")
        parts.append(f"{len(self.duplicates)} duplicate address{'es' if len(self.duplicates) != 1 else ''}")
        if self.disabled:
            parts.append(f"{self.disabled} disabled left out")
        return ", ".join(parts)


def read_roster(directory: Directory) -> Roster:
    """Read the whole group once, within the directory's deadline_s and max_pages.

    Every failure becomes one line naming the directory and the credential key, with every secret
    masked; an unexpected exception from a directory library is such a failure too (the send must
    stop, not crash). A group with nobody enabled in it is a failure: it is far likelier a wrong
    group or a directory half down than a company without staff.
    """
    settings = directory.settings
    where = f"{PREFIX} ({directory.describe()})"
    try:
        with limits.budget(deadline_s=settings.deadline_s, max_pages=settings.max_pages):
            everyone = list(directory.members())
    except ConfigError as exc:
        raise ConfigError(f"{where}: {_clean(str(exc), directory)}") from None
    except limits.DeadlineExceeded as exc:
        raise DirectoryError(f"{where}: cannot read the members: {_clean(str(exc), directory)}; the directory "
                             f"answers too slowly: try again later, or raise {PREFIX}.deadline_s") from None
    except NewsletterError as exc:
        raise DirectoryError(_failure(where, str(exc), directory)) from None
    except Exception as exc:  # a library's own error: still one clear line, never a traceback (but with -vv)
        log.debug("reading %s failed:\n%s", where, redacted_traceback(exc, directory.secrets()))
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise DirectoryError(_failure(where, detail, directory)) from None
    enabled = [m for m in everyone if m.enabled]
    if not enabled:
        raise DirectoryError(f"{where}: the group has no enabled members; check the group in {PREFIX} "
                             f"and {directory.credential()} (an account that may not read the members sees none)")
    roster = Roster(directory.describe(), enabled, len(everyone) - len(enabled))
    log.info("%s: %s", where, roster.summary())
    return roster


def _failure(where: str, detail: str, directory: Directory) -> str:
    text = _clean(detail, directory)
    check = directory.credential()
    # a message that already says what to do keeps to it; any other one names the credential
    said = any(word in text for word in ("check ", "grant ", "try again"))
    return f"{where}: cannot read the members: {text}" + ("" if said else f"; check {check}")


def _clean(text: str, directory: Directory) -> str:
    """Redacted first, then cut: a secret cut in two would no longer be found."""
    return " ".join(redact(text, directory.secrets()).split())[:600]
