"""An LDAP group as recipients: Active Directory or OpenLDAP, through ldap3.

The connection is encrypted before the password leaves: StartTLS (port 389) or LDAPS (636), the
server's certificate checked against the system's CAs plus `ca_file`, and its name against
`host`. Then a simple bind as a read-only account (`bind_dn`, `bind_password_env` / `_file`).

Nested groups: Active Directory answers the whole nesting in one search with the
LDAP_MATCHING_RULE_IN_CHAIN filter (`memberOf:1.2.840.113556.1.4.1941:=<group>`). Other servers
have no such rule: the groups under `base_dn` are read with their `member` values and the nesting
is walked here (cycles included), then the people under `base_dn` are read and kept when the
walk reached them. `nested = "auto"` takes the rule when the root DSE says Active Directory.
Every search is paged (RFC 2696, `page_size` entries a page), so a server's size limit (500 in
OpenLDAP, 1000 in Active Directory) never cuts the list short; a server that does cut it short
fails the reading, it never passes for the whole group.

Disabled accounts are left out: AD's userAccountControl bit 2 (ACCOUNTDISABLE), and whatever
`exclude_filter` matches, for directories that mark it their own way (OpenLDAP has no standard
flag: `(employeeType=disabled)`, or `(pwdAccountLockedTime=*)` with the ppolicy overlay).
ldap3 is the optional extra `ldap`, imported only when a directory is read.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import math
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from newsletter import limits
from newsletter.binding import Secret
from newsletter.delivery.directories.base import (
    PREFIX,
    DirectoryError,
    DirectorySettings,
    Member,
    check_connection_keys,
    secret_key,
)
from newsletter.errors import ConfigError
from newsletter.http import PageGuard

IN_CHAIN = "1.2.840.113556.1.4.1941"  # LDAP_MATCHING_RULE_IN_CHAIN
ACTIVE_DIRECTORY = "1.2.840.113556.1.4.800"  # LDAP_CAP_ACTIVE_DIRECTORY_OID, in the root DSE's supportedCapabilities
PAGED_RESULTS = "1.2.840.113556.1.4.319"  # RFC 2696's control
ACCOUNTDISABLE = 0x2  # userAccountControl
AD_USERS = "(&(objectCategory=person)(objectClass=user))"  # AD's computers are of class person too
DEFAULT_ATTRIBUTES = {"email": "mail", "name": "displayName", "first_name": "givenName", "department": "department",
                      "language": "preferredLanguage"}
_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9-]*|\d+(\.\d+)+")
_RDN_SPLIT = re.compile(r"(?<!\\),")


@dataclass(frozen=True, kw_only=True)
class LdapSettings(DirectorySettings):
    host: str
    group_dn: str  # the group whose members (nested ones too) get the edition
    base_dn: str  # where the people and the nested groups are searched
    bind_dn: str  # a read-only account
    bind_password: Secret
    port: int | None = None  # 389 for starttls, 636 for ldaps
    security: Literal["starttls", "ldaps"] = "starttls"
    ca_file: Path | None = None  # a private CA to trust besides the system's
    nested: Literal["auto", "in_chain", "walk"] = "auto"
    user_filter: str | None = None  # default: AD's users (not its computers, persons too) or (objectClass=person)
    exclude_filter: str | None = None  # accounts to leave out, such as "(employeeType=disabled)"
    group_filter: str = "(|(objectClass=group)(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"
    member_attribute: str = "member"  # "uniqueMember" for groupOfUniqueNames
    attributes: dict[str, str] = field(default_factory=dict)  # per-person field -> attribute, over the defaults
    page_size: int = 500
    timeout_s: float = 30.0

    @property
    def effective_port(self) -> int:
        return self.port or (636 if self.security == "ldaps" else 389)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'ldaps' if self.security == 'ldaps' else 'ldap'}://{host}:{self.effective_port}"


def normalize_dn(dn: str) -> str:
    """A DN as compared here: attribute types and values in lower case, no spaces around `,` and `=`
    (directories differ in both; `uniqueMember` may carry a `#'0101'B` uid, dropped)."""
    dn = re.sub(r"#'[01]*'B$", "", dn.strip())
    parts = []
    for rdn in _RDN_SPLIT.split(dn):
        name, _, value = rdn.partition("=")
        parts.append(f"{name.strip().lower()}={value.strip().lower()}")
    return ",".join(parts)


def user_filter(settings: LdapSettings, active_directory: bool) -> str:
    """Who is a person: `user_filter`, else AD's users or the standard `person` class.

    Not one filter for both: OpenLDAP reads a class it does not know, `(objectClass=computer)` or
    `(objectCategory=person)`, as undefined, and so `(!(objectClass=computer))` would match nobody.
    """
    return settings.user_filter or (AD_USERS if active_directory else "(objectClass=person)")


def people_filter(settings: LdapSettings, active_directory: bool, in_chain: bool) -> str:
    """The people search: who is a person, and with the AD rule only the group's members, nested ones too."""
    people = user_filter(settings, active_directory)
    if not in_chain:
        return people
    from ldap3.utils.conv import escape_filter_chars

    return f"(&{people}(memberOf:{IN_CHAIN}:={escape_filter_chars(settings.group_dn)}))"


def is_disabled(user_account_control: Any) -> bool:
    """AD's ACCOUNTDISABLE bit; an entry without the attribute (OpenLDAP) is not disabled by it."""
    try:
        return bool(int(str(user_account_control)) & ACCOUNTDISABLE)
    except ValueError:
        return False


class Ldap:
    """The members of `group_dn`, nested groups included, disabled accounts left out."""

    type = "ldap"
    Settings = LdapSettings

    def __init__(self, settings: LdapSettings) -> None:
        self.settings = settings
        self.mapping = {**DEFAULT_ATTRIBUTES, **settings.attributes}
        self._password: str | None = None

    def describe(self) -> str:
        return f"ldap group {self.settings.group_dn} on {self.settings.url}"

    def credential(self) -> str:
        return secret_key("bind_password", self.settings.bind_password)

    def secrets(self) -> list[str]:
        return [self._password] if self._password else []

    def field_names(self) -> list[str]:
        return [name for name in self.mapping if name not in ("email", "name")]

    def validate(self) -> None:
        s = self.settings
        if importlib.util.find_spec("ldap3") is None:
            raise ConfigError(f"{PREFIX}.type: \"ldap\" needs ldap3 (the `ldap` extra): pip install ldap3")
        if not s.host.strip() or "/" in s.host or any(c.isspace() for c in s.host) or (
                s.host.count(":") == 1):
            raise ConfigError(f"{PREFIX}.host: {s.host!r}: expected a host name or address alone (such as "
                              "\"dc1.corp.example\"); the port goes in `port`, the scheme in `security`")
        if s.port is not None and not 1 <= s.port <= 65535:
            raise ConfigError(f"{PREFIX}.port: expected a TCP port from 1 to 65535, got {s.port}")
        for key in ("group_dn", "base_dn", "bind_dn"):
            _check_dn(key, getattr(s, key))
        for key in ("user_filter", "group_filter", "exclude_filter"):
            if getattr(s, key) is not None:
                _check_filter(key, getattr(s, key))
        for name, attribute in {"member_attribute": s.member_attribute, **s.attributes}.items():
            if not _ATTRIBUTE.fullmatch(attribute):
                raise ConfigError(f"{PREFIX}.attributes.{name}: {attribute!r} is not an attribute name")
            if name != "member_attribute" and not name.isidentifier():
                raise ConfigError(f"{PREFIX}.attributes: {name!r}: a field name is letters, digits and _")
        if not 1 <= s.page_size <= 10_000:
            raise ConfigError(f"{PREFIX}.page_size: expected 1 to 10000 entries a page, got {s.page_size}")
        check_connection_keys(s.timeout_s, s.ca_file)

    def members(self) -> Iterator[Member]:
        from ldap3.core.exceptions import LDAPException

        connection = None
        try:
            connection = self._connect()
            yield from self._read(connection)
        except LDAPException as exc:
            raise DirectoryError(self._explain(exc)) from None
        finally:
            if connection is not None:
                with contextlib.suppress(LDAPException):
                    connection.unbind()

    def _read(self, connection: Any) -> Iterator[Member]:
        s = self.settings
        active_directory = self._is_active_directory(connection)
        in_chain = s.nested == "in_chain" or (s.nested == "auto" and active_directory)
        wanted = None if in_chain else self._walk(connection)
        excluded = self._excluded(connection, user_filter(s, active_directory))
        attributes = sorted({*self.mapping.values(), "userAccountControl"})
        for entry in self._search(connection, people_filter(s, active_directory, in_chain), attributes):
            key = normalize_dn(entry["dn"])
            if wanted is None or key in wanted:
                yield self._member(entry, enabled=key not in excluded)

    def _member(self, entry: dict[str, Any], *, enabled: bool) -> Member:
        values = {name: _first(entry["attributes"], attribute) for name, attribute in self.mapping.items()}
        enabled = enabled and not is_disabled(_first(entry["attributes"], "userAccountControl"))
        fields = {name: value for name, value in values.items() if name not in ("email", "name")}
        return Member(entry["dn"], values.get("email", ""), values.get("name", ""), fields, enabled)

    # the connection ---------------------------------------------------------------------------
    def _connect(self) -> Any:
        import ldap3

        s = self.settings
        self._password = s.bind_password.reveal()
        tls = _verified_tls()(validate=ssl.CERT_REQUIRED, ca_certs_file=str(s.ca_file) if s.ca_file else None)
        server = ldap3.Server(s.host, port=s.effective_port, use_ssl=s.security == "ldaps", tls=tls,
                              get_info=ldap3.NONE, connect_timeout=s.timeout_s)
        connection = ldap3.Connection(server, user=s.bind_dn, password=self._password,
                                      authentication=ldap3.SIMPLE, auto_bind=ldap3.AUTO_BIND_NONE,
                                      raise_exceptions=True, receive_timeout=math.ceil(s.timeout_s), read_only=True,
                                      auto_referrals=False, auto_escape=False, check_names=False)
        connection.open()
        if s.security == "starttls" and not connection.start_tls():  # before the bind: never a password in clear
            raise DirectoryError(f"{s.url} did not start TLS; the password was not sent")
        connection.bind()
        return connection

    def _is_active_directory(self, connection: Any) -> bool:
        connection.search("", "(objectClass=*)", search_scope="BASE", attributes=["supportedCapabilities"])
        entries = [e for e in connection.response if e.get("type") == "searchResEntry"]
        capabilities = entries[0]["attributes"].get("supportedCapabilities", []) if entries else []
        return ACTIVE_DIRECTORY in [str(c) for c in _values(capabilities)]

    def _search(self, connection: Any, search_filter: str, attributes: list[str]) -> Iterator[dict[str, Any]]:
        """Every entry under base_dn that matches, page by page (RFC 2696 cookies)."""
        s, cookie = self.settings, None
        guard = PageGuard(f"LDAP server {s.url}")
        while True:
            guard.next_page(cookie)
            limits.current().check(f"while reading {s.url}")
            connection.search(s.base_dn, search_filter, search_scope="SUBTREE", attributes=attributes,
                              paged_size=s.page_size, paged_cookie=cookie)
            _refuse_a_cut_list(connection.result, s.url)
            entries = [e for e in connection.response if e.get("type") == "searchResEntry"]
            yield from entries
            control = (connection.result.get("controls") or {}).get(PAGED_RESULTS)
            cookie = control["value"]["cookie"] if control else None
            if not cookie:
                return
            guard.rows(len(entries))

    def _walk(self, connection: Any) -> set[str]:
        """The people `group_dn` holds, through every nested group under base_dn (normalized DNs)."""
        s = self.settings
        attribute = s.member_attribute
        groups = {normalize_dn(e["dn"]): [normalize_dn(v) for v in _values(e["attributes"].get(attribute, []))]
                  for e in self._search(connection, s.group_filter, [attribute])}
        top = normalize_dn(s.group_dn)
        if top not in groups:
            connection.search(s.group_dn, "(objectClass=*)", search_scope="BASE", attributes=[attribute])
            found = [e for e in connection.response if e.get("type") == "searchResEntry"]
            groups[top] = [normalize_dn(v) for v in _values(found[0]["attributes"].get(attribute, []))] if found else []
        people: set[str] = set()
        seen, todo = {top}, [top]
        while todo:
            for dn in groups.get(todo.pop(), []):
                if dn in groups and dn not in seen:
                    seen.add(dn)
                    todo.append(dn)
                elif dn not in groups:
                    people.add(dn)
        return people

    def _excluded(self, connection: Any, people: str) -> set[str]:
        """DNs that `exclude_filter` matches among the people: counted as disabled, never sent to."""
        s = self.settings
        if not s.exclude_filter:
            return set()
        found = self._search(connection, f"(&{people}{s.exclude_filter})", ["1.1"])  # 1.1: no attributes
        return {normalize_dn(e["dn"]) for e in found}

    def _explain(self, exc: Exception) -> str:
        """One line for what ldap3 raised: what failed and which key to look at."""
        from ldap3.core import exceptions as e

        s, text = self.settings, str(exc).split("\n")[0][:200]
        if isinstance(exc, e.LDAPInvalidCredentialsResult):
            return f"{s.url} refused the bind as {s.bind_dn} (invalid credentials); check {self.credential()} " \
                   "and bind_dn"
        if isinstance(exc, e.LDAPCertificateError) or "CERTIFICATE_VERIFY_FAILED" in text or \
                isinstance(exc, e.LDAPStartTLSError):
            return f"TLS with {s.url} failed ({text}); check ca_file (a private CA) and that host is the name " \
                   "in the server's certificate"
        if isinstance(exc, e.LDAPSocketOpenError):
            return f"cannot connect to {s.url} ({text}); check host, port and security"
        if isinstance(exc, e.LDAPSocketReceiveError):
            return f"no answer from {s.url} within {s.timeout_s:g} s (delivery.directory.timeout_s)"
        if isinstance(exc, e.LDAPNoSuchObjectResult):
            return f"{s.url} has no such entry ({text}); check group_dn and base_dn"
        if isinstance(exc, e.LDAPInsufficientAccessRightsResult):
            return f"{s.bind_dn} may not read this ({text}); grant it read access or check bind_dn"
        return f"{s.url}: {type(exc).__name__}: {text}"


def _refuse_a_cut_list(result: dict[str, Any], url: str) -> None:
    """ldap3 raises for no limit the server hit: a list cut at sizeLimitExceeded (4) or
    timeLimitExceeded (3) would pass for the whole group, and everyone after the cut for people who left."""
    if result.get("result", 0) == 4:
        raise DirectoryError(f"{url} stopped the list at its size limit (sizeLimitExceeded) although it was "
                             "paged; let bind_dn page past it (OpenLDAP: limits dn.exact=\"<bind_dn>\" "
                             "size.prtotal=unlimited; AD pages past MaxPageSize by itself)")
    if result.get("result", 0) == 3:
        raise DirectoryError(f"{url} stopped the list at its time limit (timeLimitExceeded); raise the "
                             "server's time limit for bind_dn, or try again when it is less busy")


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else ([] if value in (None, "") else [value])


def _first(attributes: dict[str, Any], name: str) -> str:
    """The first value of an attribute, as text ("" when the entry has none); names match in any case."""
    for key, value in attributes.items():
        if key.lower() == name.lower():
            values = _values(value)
            return str(values[0]).strip() if values else ""
    return ""


def _check_dn(key: str, dn: str) -> None:
    rdns = _RDN_SPLIT.split(dn.strip()) if dn.strip() else []
    if not rdns or any(not name.strip() or not value.strip() for name, _, value in (r.partition("=") for r in rdns)):
        raise ConfigError(f"{PREFIX}.{key}: {dn!r} is not a DN (such as \"cn=staff,ou=groups,dc=example,dc=com\")")


def _check_filter(key: str, text: str) -> None:
    from ldap3.core.exceptions import LDAPException
    from ldap3.operation.search import parse_filter

    if not (text.startswith("(") and text.endswith(")")):
        raise ConfigError(f"{PREFIX}.{key}: {text!r}: an LDAP filter is written in parentheses, such as "
                          "\"(objectClass=person)\"")
    try:
        parse_filter(text, None, False, True, None, False)
    except LDAPException as exc:
        raise ConfigError(f"{PREFIX}.{key}: {text!r} is not a valid LDAP filter ({exc})") from None


@functools.cache
def _verified_tls() -> type:
    """ldap3's Tls, wrapping with the standard library's checks: CA and host name, IP addresses too.

    ldap3 turns the context's own host name check off and matches names itself, with a fallback
    that knows no IP addresses; here the handshake itself checks the name, as for SMTP and HTTPS.
    """
    import ldap3

    class VerifiedTls(ldap3.Tls):
        def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
            context = ssl.create_default_context()
            if self.ca_certs_file:
                context.load_verify_locations(self.ca_certs_file)
            connection.socket = context.wrap_socket(connection.socket, server_hostname=connection.server.host,
                                                    do_handshake_on_connect=do_handshake)

    return VerifiedTls
