"""Collectors that read Microsoft Graph as an Entra ID app: their common keys, their checks and their
token, through the one client-credentials path (newsletter/entra.py). m365_defender and intune.

msal is the optional extra `m365` (or pip install msal), imported only when such a source runs.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from typing import ClassVar

from newsletter.binding import Secret
from newsletter.collectors.common import HttpSource, HttpSourceSettings, check_base_url
from newsletter.entra import EntraApp, EntraRefused, EntraUnreachable, client_credentials_token
from newsletter.errors import ConfigError, SourceError
from newsletter.http import HttpClient
from newsletter.redaction import redact


@dataclass(frozen=True, kw_only=True)
class EntraSourceSettings(HttpSourceSettings):
    tenant_id: str
    client_id: str
    client_secret: Secret  # client_secret_env = "M365_CLIENT_SECRET"
    authority: str = "https://login.microsoftonline.com"
    base_url: str = "https://graph.microsoft.com/v1.0"


class EntraSource(HttpSource):
    """An HttpSource whose requests carry a Graph token of the configured app registration."""

    vendor = "Microsoft Graph"
    permission: ClassVar[str] = "the app's application permissions (admin consent)"  # what a 401/403 asks

    def validate(self) -> None:
        super().validate()
        check_base_url(self.name, self.settings.authority, "https://login.microsoftonline.com", "authority")
        if not self.settings.authority.startswith("https://"):
            raise ConfigError(f"source {self.name}: authority: msal accepts only https authorities")
        for key in ("tenant_id", "client_id"):
            if not re.fullmatch(r"[A-Za-z0-9.-]+", getattr(self.settings, key)):
                raise ConfigError(f"source {self.name}: {key}: expected a GUID or a domain name")
        if importlib.util.find_spec("msal") is None:
            raise ConfigError(f"source {self.name}: {self.type} needs msal (the `m365` extra): pip install msal")

    def graph_client(self) -> HttpClient:
        """The client for base_url with a fresh token; the token is kept out of every message."""
        token = self.access_token()
        return self.http_client(credential_hint=self.permission, headers={"Authorization": f"Bearer {token}"},
                                secrets=(token,))

    def access_token(self) -> str:
        settings = self.settings
        secret = settings.client_secret.reveal()
        app = EntraApp(settings.client_id, secret, settings.authority, settings.tenant_id, validate_authority=False)
        try:
            token, _ = client_credentials_token(self.session, app, graph_scope(settings.base_url))
        except EntraUnreachable as exc:  # the authority's metadata is missing or unreadable
            reason = redact(str(exc.cause), [secret]).split(". ")[0][:200]  # redacted before it is cut
            raise SourceError(f"cannot get a token from {settings.authority} ({reason}); check authority and "
                              "tenant_id") from None
        except EntraRefused as exc:
            detail = redact(exc.description, [secret]).split("\n")[0].split("\r")[0][:160]
            raise SourceError(f"Microsoft Entra refused the client credentials ({exc.code}: {detail}): check "
                              f"client_id, {settings.client_secret.hint} and tenant_id") from None
        return token


def graph_scope(base_url: str) -> str:
    """https://graph.microsoft.com/v1.0 -> https://graph.microsoft.com/.default"""
    match = re.match(r"https?://[^/]+", base_url)
    return (match[0] if match else "https://graph.microsoft.com") + "/.default"
