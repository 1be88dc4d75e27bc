"""The one foundation of HTTP sources, and the range check every collector's `validate` uses.

Every HTTP source (DESIGN.md, "The collector contract") takes the same keys, checked the same way:
- `base_url`: https://, or plain http:// only to this machine (localhost, 127.0.0.0/8, ::1),
  because a token must not cross the network in clear text; no query string (options have keys);
- `ca_bundle`: a PEM file with the CA that base_url's certificate is checked against, for a
  server with a private CA. Certificates are always verified; the bundle is for base_url only,
  so a token service elsewhere (Entra ID, Google) keeps the system's CAs;
- `deadline_s` and `max_pages`: keys of every source file (config.py), which bound every request
  made through the collector's session (limits.py, http.py);
- secrets only as `*_env` / `*_file` (settings.Secret), kept out of every error by HttpClient.

A collector gets them by deriving its Settings from `HttpSourceSettings` and itself from
`HttpSource`, whose `validate` checks them and whose `http_client` builds the HttpClient for
base_url. This module imports no HTTP library: offline collectors use `check_range` too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from newsletter.collectors.base import Collector
from newsletter.errors import ConfigError
from newsletter.hosts import is_loopback, url_host

if TYPE_CHECKING:
    from newsletter.binding import Secret
    from newsletter.http import HttpClient

PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True, kw_only=True)
class HttpSourceSettings:
    """The keys every HTTP source takes. A subclass may give `base_url` a default (the vendor's cloud
    API) by declaring it again: `base_url: str = "https://api.example.com/v2"`."""

    base_url: str
    ca_bundle: Path | None = None  # a PEM CA file for a server with a private CA (relative to the source file)


class HttpSource(Collector):
    """A collector that reads one HTTP API at `settings.base_url` (an `HttpSourceSettings`).

    Subclasses set `vendor` (the name people read in errors: "Pingdom"), call `super().validate()`
    from their own `validate`, and build their client with `http_client` or `bearer_client`, so the
    base URL, the CA bundle and the redaction of credentials are the same for every source.
    """

    vendor: ClassVar[str]
    example_url: ClassVar[str] = ""  # shown when base_url is no URL; default: the Settings' default base_url
    # The API's version path ("/v2"), added to a base_url that lacks it, so the address people copy
    # from their browser works as well as the API root; and what a 404 asks them to check.
    api_root: ClassVar[str] = ""
    not_found_hint: ClassVar[str] = "check base_url and the configured project or ids"

    def validate(self) -> None:
        check_http_source(self.name, self.settings, self.example_url or default_base_url(self.Settings))

    def http_client(self, *, credential_hint: str = "the credentials", secrets: tuple[str, ...] = (),
                    auth: Any = None, headers: dict[str, str] | None = None) -> HttpClient:
        """The client for base_url: this source's CA bundle, and `secrets` kept out of every message."""
        from newsletter.http import HttpClient

        ca = self.settings.ca_bundle
        return HttpClient(self.session, with_api_root(self.settings.base_url, self.api_root), self.vendor,
                          credential_hint=credential_hint, headers=headers or {}, auth=auth, secrets=secrets,
                          ca_bundle=str(ca) if ca else None, not_found_hint=self.not_found_hint)

    def bearer_client(self, token: Secret | None, *, hint: str = "the credentials") -> HttpClient:
        """A client sending `Authorization: Bearer <token>` when a token is set; `hint` names what to
        check on a 401 when none is (the token's variable or file otherwise)."""
        value = token.reveal() if token is not None else None
        return self.http_client(credential_hint=token.hint if token is not None else hint,
                                headers={"Authorization": f"Bearer {value}"} if value else {},
                                secrets=(value,) if value else ())


def with_api_root(url: str, root: str) -> str:
    """`url` with the API's version path `root` ("/api/v2") at its end: added when missing, or
    completed when only its start is there ("…/api"); unchanged when present or `root` is empty."""
    wanted = [part for part in root.split("/") if part]
    if not wanted:
        return url
    parts = urlsplit(url)
    have = [part for part in parts.path.split("/") if part]
    for kept in range(len(wanted), 0, -1):
        if have[-kept:] == wanted[:kept]:
            if kept == len(wanted):
                return url
            break
    else:
        kept = 0
    return urlunsplit(parts._replace(path="/" + "/".join([*have, *wanted[kept:]])))


def uptime_not_found_hint(default_url: str) -> str:
    """The 404 hint of an uptime API: base_url, with its documented form."""
    return f"check base_url (the API root, such as {default_url}, or the bare address)"


def check_http_source(name: str, settings: HttpSourceSettings, example: str) -> None:
    """The checks of every HTTP source's common keys (ConfigError naming the source and the key)."""
    check_base_url(name, settings.base_url, example)
    check_ca_bundle(name, settings.ca_bundle)


def check_base_url(name: str, url: str, example: str, key: str = "base_url") -> None:
    """https with a host; plain http only on loopback, because a token must not travel in clear text."""
    try:
        parts = urlsplit(url)
        host, _ = url_host(url), parts.port  # a port that is no number raises here, not at collect time
    except ValueError:  # "https://[not-an-address]", "https://host:http"
        parts, host = urlsplit(""), None
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(f"source {name}: {key}: expected a URL such as {example!r}, got {url!r}")
    if parts.scheme == "http" and not is_loopback(host):
        raise ConfigError(f"source {name}: {key}: use https:// (plain http:// is only for this machine: "
                          "localhost, 127.0.0.0/8, ::1; credentials must not travel in clear text)")
    if parts.query or parts.fragment:
        raise ConfigError(f"source {name}: {key}: remove the query string; put scope options in their keys")


def check_ca_bundle(name: str, path: Path | None) -> None:
    """An existing, readable PEM file with at least one certificate, or None."""
    if path is None:
        return
    if not path.is_file():
        raise ConfigError(f"source {name}: ca_bundle: {path} is not a file")
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"source {name}: ca_bundle: cannot read {path} ({exc.strerror})") from None
    if PEM_CERTIFICATE not in text:
        raise ConfigError(f"source {name}: ca_bundle: {path} holds no PEM certificate "
                          f"({PEM_CERTIFICATE.decode()}); give the CA's certificate in PEM form")


def check_range(name: str, key: str, value: float, low: float, high: float | None = None) -> None:
    """A numeric key within [low, high] (no upper bound when `high` is None): page sizes, timeouts,
    thresholds. The one message every collector gives for a number out of range."""
    if value < low or (high is not None and value > high):
        expected = f"from {_number(low)} to {_number(high)}" if high is not None else f"of at least {_number(low)}"
        raise ConfigError(f"source {name}: {key}: expected a value {expected}, got {_number(value)}")


def whole_count(value: Any) -> int | None:
    """A vendor's count, sent as a number or as a string of one ("42"), when it is whole and not
    negative; None otherwise: 12.5, NaN, an infinity, a boolean or -3 is no count of anything, and
    not one to cut to a whole number."""
    if isinstance(value, bool):
        return None
    try:
        count = int(value) if not isinstance(value, float) or value.is_integer() else None
    except (TypeError, ValueError, OverflowError):
        return None
    return count if count is not None and count >= 0 else None


def _number(value: float) -> str:
    """1000000 and 0.5 as people write them (`:g` alone would write 1e+06)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value) if isinstance(value, int) else f"{value:g}"


def default_base_url(settings_class: type) -> str:
    """The default `base_url` of a Settings class, or a generic example when it has none."""
    for field in dataclasses.fields(settings_class):
        if field.name == "base_url" and isinstance(field.default, str):
            return field.default
    return "https://host.example.com"
