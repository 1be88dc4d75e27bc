"""A Microsoft 365 / Entra ID group as recipients, through Microsoft Graph.

`GET /v1.0/groups/{group_id}/transitiveMembers/microsoft.graph.user`: the group's users, nested
groups flattened by Graph itself, with `$select` of the fields used here. Filtering by the OData
cast is an advanced query: it takes `ConsistencyLevel: eventual` and `$count=true`. Pages follow
`@odata.nextLink` (999 users a page at most), and only to the Graph host configured. Only users
whose `accountEnabled` is true are mailed: Graph answers members the app may not read with their
id alone, every property null, and such a user may be disabled.

The token comes from msal (OAuth client credentials) as for the Graph transport: an app
registration with the `GroupMember.Read.All` (the members) and `User.Read.All` (their properties,
`accountEnabled` among them) application permissions, granted by an admin, and its secret in
`client_secret_env` / `_file`. msal is the optional extra `m365`.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from newsletter.binding import Secret
from newsletter.delivery.directories.base import (
    PREFIX,
    DirectoryError,
    DirectorySettings,
    Member,
    check_connection_keys,
    check_url,
    secret_key,
)
from newsletter.entra import EntraApp, EntraRefused, EntraUnreachable, client_credentials_token
from newsletter.errors import ConfigError
from newsletter.hosts import same_origin
from newsletter.http import HttpClient, HttpPolicy, PageGuard, make_session, redact_url

PERMISSION = "GroupMember.Read.All"
USER_PERMISSION = "User.Read.All"  # without it Graph sends each user's id alone
GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
log = logging.getLogger(__name__)
DEFAULT_PROPERTIES = {"email": "mail", "name": "displayName", "first_name": "givenName", "department": "department",
                      "language": "preferredLanguage"}


@dataclass(frozen=True, kw_only=True)
class GraphGroupSettings(DirectorySettings):
    tenant_id: str
    client_id: str
    client_secret: Secret
    group_id: str  # the group's object id, as the Entra admin center shows it
    authority: str = "https://login.microsoftonline.com"  # + /<tenant_id>
    graph_url: str = "https://graph.microsoft.com"
    ca_file: Path | None = None  # a private CA to trust besides the system's (proxies, tests)
    properties: dict[str, str] = field(default_factory=dict)  # per-person field -> user property, over the defaults
    page_size: int = 999
    timeout_s: float = 30.0


class GraphGroup:
    """The users of an Entra ID group, nested groups included, disabled accounts left out."""

    type = "graph_group"
    Settings = GraphGroupSettings

    def __init__(self, settings: GraphGroupSettings) -> None:
        self.settings = settings
        self.mapping = {**DEFAULT_PROPERTIES, **settings.properties}
        self.policy = HttpPolicy(read_timeout_s=settings.timeout_s)  # retries of GETs: 5xx, 429 with Retry-After
        self._secrets: list[str] = []

    def describe(self) -> str:
        return f"graph_group {self.settings.group_id} in tenant {self.settings.tenant_id}"

    def credential(self) -> str:
        return secret_key("client_secret", self.settings.client_secret)

    def secrets(self) -> list[str]:
        return list(self._secrets)

    def field_names(self) -> list[str]:
        return [name for name in self.mapping if name not in ("email", "name")]

    def validate(self) -> None:
        s = self.settings
        if importlib.util.find_spec("msal") is None:
            raise ConfigError(f"{PREFIX}.type: \"graph_group\" needs msal (the `m365` extra): pip install msal")
        for key in ("tenant_id", "client_id", "group_id"):
            value = getattr(s, key)
            # the group's object id is a GUID: anything else Graph answers 400 "Invalid object identifier"
            if not value.strip() or "/" in value or any(c.isspace() for c in value) or (
                    key == "group_id" and not GUID.fullmatch(value)):
                raise ConfigError(f"{PREFIX}.{key}: expected the {key.replace('_', ' ')} as the Entra admin "
                                  f"center shows it (such as 00000000-0000-0000-0000-000000000000), got {value!r}")
        for key in ("authority", "graph_url"):
            check_url(key, getattr(s, key))
        for name, prop in s.properties.items():
            if not name.isidentifier() or not prop.replace("_", "").isalnum():
                raise ConfigError(f"{PREFIX}.properties.{name}: expected a field name and a user property name")
        if not 1 <= s.page_size <= 999:
            raise ConfigError(f"{PREFIX}.page_size: expected 1 to 999 users a page (Graph's limit), got {s.page_size}")
        check_connection_keys(s.timeout_s, s.ca_file)

    def members(self) -> Iterator[Member]:
        s = self.settings
        with make_session(self.policy, s.ca_file) as session:
            token = self._token(session)
            client = HttpClient(session, s.graph_url, "Microsoft Graph",
                                credential_hint=f"{self.credential()} and the app's {PERMISSION} and "
                                                f"{USER_PERMISSION} application permissions (granted by an admin)",
                                headers={"Authorization": f"Bearer {token}", "ConsistencyLevel": "eventual"},
                                secrets=tuple(self._secrets),  # the session trusts ca_file besides the defaults
                                address_key=f"{PREFIX}.graph_url", ca_key=f"{PREFIX}.ca_file")
            yield from self._users(client)

    def _users(self, client: HttpClient) -> Iterator[Member]:
        s = self.settings
        select = ",".join(sorted({"id", "userPrincipalName", "accountEnabled", *self.mapping.values()}))
        url: str | None = (f"/v1.0/groups/{quote(s.group_id, safe='')}/transitiveMembers/microsoft.graph.user"
                           f"?$select={select}&$count=true&$top={s.page_size}")
        guard = PageGuard("Microsoft Graph")
        seen = unstated = 0
        while url:
            guard.next_page(url)
            page = client.fetch_json("GET", url, accept=(404,))
            if "error" in page.data and not page.data.get("value"):
                raise DirectoryError(f"Microsoft Graph has no group {s.group_id} in the tenant "
                                     f"({_error(page.data)}); check {PREFIX}.group_id")
            users = page.data.get("value")
            if not isinstance(users, list):
                raise DirectoryError("Microsoft Graph answered without a list of users; check graph_url")
            for user in users:
                if isinstance(user, dict):
                    seen += 1
                    unstated += not isinstance(user.get("accountEnabled"), bool)
                    yield self._member(user)
            url = page.data.get("@odata.nextLink")
            if url:
                url = same_origin(url, s.graph_url, "Microsoft Graph")
                guard.rows(len(users))
        _account_states(seen, unstated)

    def _member(self, user: dict[str, Any]) -> Member:
        values = {name: _text(user.get(prop)) for name, prop in self.mapping.items()}
        fields = {name: value for name, value in values.items() if name not in ("email", "name")}
        who = _text(user.get("userPrincipalName")) or _text(user.get("id"))
        return Member(who, values.get("email", ""), values.get("name", ""), fields,
                      enabled=user.get("accountEnabled") is True)  # not said: may be disabled

    def _token(self, session: requests.Session) -> str:
        """Client credentials through msal, on our session (its deadline and CA) as the Graph transport does."""
        s = self.settings
        secret = s.client_secret.reveal()
        self._secrets.append(secret)
        app = EntraApp(s.client_id, secret, s.authority, s.tenant_id, s.timeout_s)
        try:
            token, _ = client_credentials_token(session, app, f"{s.graph_url.rstrip('/')}/.default")
        except EntraUnreachable as exc:
            raise DirectoryError(f"Microsoft identity platform at {redact_url(s.authority)}: cannot get a token "
                                 f"({type(exc.cause).__name__}); check {PREFIX}.authority and tenant_id") from None
        except EntraRefused as exc:
            raise DirectoryError(f"Microsoft identity platform refused the app {s.client_id} "
                                 f"({exc.code}); check {self.credential()} and client_id") from None
        self._secrets.append(token)
        return token


def _account_states(seen: int, unstated: int) -> None:
    """Users Graph sent without `accountEnabled` are left out, as accounts that may be disabled;
    all of them without it is an app that may not read users, and nobody could be told enabled."""
    if seen and unstated == seen:
        raise DirectoryError(f"Microsoft Graph sends the group's users without accountEnabled (an app that may not "
                             f"read users gets only their ids); grant the app the {USER_PERMISSION} application "
                             f"permission besides {PERMISSION}")
    if unstated:
        log.warning("%d of the group's users come without accountEnabled from Microsoft Graph: left out, as "
                    "accounts that may be disabled", unstated)


def _text(value: Any) -> str:
    return str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""


def _error(data: dict[str, Any]) -> str:
    error = data.get("error")
    return f"{error.get('code', '')}: {error.get('message', '')}"[:200] if isinstance(error, dict) else "no detail"
