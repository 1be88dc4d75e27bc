"""A Google Workspace group as recipients, through the Admin SDK Directory API.

`members.list` (`GET /admin/directory/v1/groups/{group}/members`) with
`includeDerivedMembership=true` lists the members of nested groups too; pages follow
`nextPageToken` (200 members a page at most). Members of type USER are people; a nested group
shows up as a member of type GROUP and is skipped (its people come through derived membership);
a CUSTOMER member ("everyone in the organization") cannot be listed this way and is named in a
warning. With `user_details = true` (the default) each person's account is read with `users.get`
for the name, given name, department and preferred language, and suspended or archived accounts
are left out; a person outside the domain (no account to read) keeps the member's address. With
`user_details = false` only the member's address is used and a member whose status is SUSPENDED is
left out: one call per 200 people instead of one per person.

Authentication as for the Google Workspace source: a service account with domain-wide delegation,
acting as an administrator (`admin_email`), for the scopes
`admin.directory.group.member.readonly` and (with user_details) `admin.directory.user.readonly`.
google-auth signs the token request with the key file (`key_file`) and posts it to the key's
`token_uri`. google-auth is the optional extra `google`.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from newsletter.binding import Secret
from newsletter.delivery.directories.base import (
    FIELDS,
    PREFIX,
    DirectoryError,
    DirectorySettings,
    Member,
    check_url,
    secret_key,
)
from newsletter.errors import ConfigError
from newsletter.http import HttpClient, HttpPolicy, PageGuard, make_session
from newsletter.redaction import redact

log = logging.getLogger(__name__)
MEMBERS_SCOPE = "https://www.googleapis.com/auth/admin.directory.group.member.readonly"
USERS_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.readonly"
PAGE_SIZE = 200  # members.list's maximum


@dataclass(frozen=True, kw_only=True)
class GoogleGroupSettings(DirectorySettings):
    key: Secret  # the service account's JSON key: key_file = "/etc/newsletter/google-key.json"
    admin_email: str  # an administrator the service account acts as (domain-wide delegation)
    group: str  # the group's address (all-staff@example.com) or id
    base_url: str = "https://admin.googleapis.com"
    user_details: bool = True  # users.get for name, department, language and suspension: a call per person


class GoogleGroup:
    """The people of a Google Workspace group, nested groups included, suspended accounts left out."""

    type = "google_group"
    Settings = GoogleGroupSettings

    def __init__(self, settings: GoogleGroupSettings) -> None:
        self.settings = settings
        self.policy = HttpPolicy()
        self._secrets: list[str] = []

    @property
    def scopes(self) -> list[str]:
        return [MEMBERS_SCOPE, USERS_SCOPE] if self.settings.user_details else [MEMBERS_SCOPE]

    @property
    def delegation(self) -> str:
        """The scopes as the Admin console's domain-wide delegation page wants them, for messages."""
        return ",".join(self.scopes)

    def describe(self) -> str:
        return f"google_group {self.settings.group}"

    def credential(self) -> str:
        return secret_key("key", self.settings.key)

    def secrets(self) -> list[str]:
        return list(self._secrets)

    def field_names(self) -> list[str]:
        return list(FIELDS)

    def validate(self) -> None:
        s = self.settings
        check_url("base_url", s.base_url)
        if "@" not in s.admin_email:
            raise ConfigError(f"{PREFIX}.admin_email: expected an administrator's address, got {s.admin_email!r}")
        if not s.group.strip() or "/" in s.group or any(c.isspace() for c in s.group):
            raise ConfigError(f"{PREFIX}.group: expected the group's address (such as all-staff@example.com) or id, "
                              f"got {s.group!r}")
        if importlib.util.find_spec("google.oauth2") is None:
            raise ConfigError(f"{PREFIX}.type: \"google_group\" needs google-auth (the `google` extra): "
                              "pip install google-auth")

    def members(self) -> Iterator[Member]:
        with make_session(self.policy) as session:
            token = self._token(session)
            client = HttpClient(session, self.settings.base_url, "Google Directory API",
                                credential_hint=f"{self.credential()} and its domain-wide delegation for "
                                                f"{self.delegation} as {self.settings.admin_email}",
                                headers={"Authorization": f"Bearer {token}"}, secrets=tuple(self._secrets),
                                address_key=f"{PREFIX}.base_url", ca_key=None)
            seen: set[str] = set()
            for member in self._listed(client):
                key = str(member.get("id") or member.get("email") or "")
                if key in seen:  # derived membership lists a person once per path to them
                    continue
                seen.add(key)
                yield self._person(client, member)

    def _listed(self, client: HttpClient) -> Iterator[dict[str, Any]]:
        """The group's USER members, page by page; nested GROUP entries skipped, CUSTOMER warned about."""
        s = self.settings
        path = f"/admin/directory/v1/groups/{quote(s.group, safe='@')}/members"
        params = {"includeDerivedMembership": "true", "maxResults": str(PAGE_SIZE)}
        guard = PageGuard("Google Directory API")
        guard.next_page()
        while True:
            page = client.fetch_json("GET", path, params=params, accept=(404,)).data
            if not isinstance(page, dict) or "error" in page:
                raise DirectoryError(f"Google has no group {s.group} ({_error(page)}); check {PREFIX}.group")
            listed = page.get("members") or []
            for member in listed:
                kind = member.get("type") if isinstance(member, dict) else None
                if kind == "USER":
                    yield member
                elif kind == "CUSTOMER":
                    log.warning("%s: the group has the whole organization as a member, which members.list cannot "
                                "list; add the people or their groups to %s instead", PREFIX, s.group)
            token = page.get("nextPageToken")
            if not token:
                return
            guard.next_page(token)
            guard.rows(len(listed))
            params["pageToken"] = token

    def _person(self, client: HttpClient, member: dict[str, Any]) -> Member:
        email = _text(member.get("email"))
        enabled = member.get("status") != "SUSPENDED"
        empty = dict.fromkeys(FIELDS, "")
        if not self.settings.user_details or not member.get("id"):
            return Member(email or _text(member.get("id")), email, "", empty, enabled)
        answer = client.fetch_json("GET", f"/admin/directory/v1/users/{quote(str(member['id']), safe='')}",
                                   params={"projection": "basic", "viewType": "admin_view"}, accept=(404,)).data
        if not isinstance(answer, dict) or "error" in answer:  # outside the domain: no account here to read
            return Member(email, email, "", empty, enabled)
        name = answer.get("name") if isinstance(answer.get("name"), dict) else {}
        fields = {"first_name": _text(name.get("givenName")), "department": _department(answer),
                  "language": _language(answer)}
        address = _text(answer.get("primaryEmail")) or email
        enabled = enabled and not answer.get("suspended") and not answer.get("archived")
        return Member(address, address, _text(name.get("fullName")), fields, enabled)

    def _token(self, session: requests.Session) -> str:
        """Sign a token request with the key file and exchange it at the key's token_uri, as the
        Google Workspace source does."""
        from google.auth.exceptions import GoogleAuthError, TransportError
        from google.auth.transport.requests import Request
        from google.oauth2 import service_account

        s = self.settings
        try:
            info = json.loads(s.key.reveal())
            self._secrets.append(str(info.get("private_key") or ""))
            credentials = service_account.Credentials.from_service_account_info(
                info, scopes=self.scopes, subject=s.admin_email)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise DirectoryError(f"{self.credential()} is not a Google service account JSON key; download one for "
                                 "the service account (IAM, Keys, Add key, JSON)") from None
        try:
            credentials.refresh(Request(session))
        except TransportError:
            raise DirectoryError(f"cannot reach Google's token endpoint ({info.get('token_uri')}); check the "
                                 "network") from None
        except GoogleAuthError as exc:
            reason = redact(str(exc), self._secrets).split("\n")[0][:200]
            raise DirectoryError(f"Google refused the service account ({reason}); check {self.credential()} and "
                                 f"its domain-wide delegation for {self.delegation} as {s.admin_email}"
                                 ) from None
        self._secrets.append(credentials.token)
        return credentials.token


def _department(user: dict[str, Any]) -> str:
    """The primary organization's department, else the first that has one."""
    organizations = [o for o in user.get("organizations") or [] if isinstance(o, dict)]
    organizations.sort(key=lambda o: not o.get("primary"))
    return next((_text(o.get("department")) for o in organizations if _text(o.get("department"))), "")


def _language(user: dict[str, Any]) -> str:
    """The language marked preferred ("de", "en-GB"); a custom one only when none is."""
    languages = [entry for entry in user.get("languages") or [] if isinstance(entry, dict)]
    for entry in languages:
        if entry.get("preference") == "preferred" and _text(entry.get("languageCode")):
            return _text(entry.get("languageCode"))
    return next((_text(entry.get("languageCode") or entry.get("customLanguage")) for entry in languages), "")


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _error(page: Any) -> str:
    error = page.get("error") if isinstance(page, dict) else None
    return str(error.get("message", ""))[:200] if isinstance(error, dict) else "not a member list"
