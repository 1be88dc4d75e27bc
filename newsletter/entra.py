"""Microsoft Entra ID client credentials through msal: the one way the Graph transport, the Defender
collector and the graph_group directory get a token. Each caller words the failure for its own keys;
this module only says which failure it was (EntraUnreachable, EntraRefused)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EntraApp:
    """An app registration's client credentials and where to ask for a token."""

    client_id: str
    secret: str
    authority: str  # https://login.microsoftonline.com, or a national cloud's, or a test's
    tenant_id: str
    timeout_s: float | None = None
    validate_authority: bool = True


class EntraUnreachable(Exception):
    """The authority could not be asked (unreachable, unreadable metadata); `cause` says why."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class EntraRefused(Exception):
    """The authority answered without a token: `code` (invalid_client, …) and its description."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(code)
        self.code = code
        self.description = description


def client_credentials_token(session: Any, app: EntraApp, scope: str, *, client: Any = None) -> tuple[str, Any]:
    """(access token, msal client) for `scope` through `session` (its deadline, CA and retries).

    Pass the returned client back as `client` to reuse msal's token cache across calls."""
    import msal
    from msal.exceptions import MsalError

    try:
        if client is None:
            client = msal.ConfidentialClientApplication(
                app.client_id, client_credential=app.secret, http_client=session, instance_discovery=False,
                authority=f"{app.authority.rstrip('/')}/{app.tenant_id}", timeout=app.timeout_s,
                validate_authority=app.validate_authority)
        result = client.acquire_token_for_client(scopes=[scope])
    except (ValueError, OSError, MsalError) as exc:  # requests' errors are OSErrors too
        raise EntraUnreachable(exc) from None
    if "access_token" not in result:
        raise EntraRefused(str(result.get("error", "error")), str(result.get("error_description", "")))
    return result["access_token"], client
