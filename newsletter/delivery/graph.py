"""Microsoft Graph sendMail: for Microsoft 365 tenants that have turned SMTP AUTH off.

The token comes from msal (OAuth client credentials; the app needs the Mail.Send application
permission). The message goes as MIME (base64 in the body), so it is the very message the other
transports send. Graph answers 202 Accepted: taken for delivery, not delivered, and the ledger
says `accepted`. 429 is throttling: wait Retry-After and try the same message again (it was not
taken). A 5xx or a lost answer may have been taken: unknown, never re-sent automatically. A 3xx
(no answer sendMail documents) was not taken: not followed, and left for a later run. Another 2xx
is not sendMail's either (a proxy's page): the run stops, that person unknown, the others queued.
"""

from __future__ import annotations

import base64
import collections
import logging
import re
import ssl
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urljoin, urlsplit

import requests
import urllib3

from newsletter import limits
from newsletter.binding import Secret
from newsletter.delivery.addresses import check_address
from newsletter.delivery.base import (
    NotTakenInterrupt,
    PermFailure,
    ServerUnavailable,
    Transport,
    TransportContext,
    TransportError,
    UnknownOutcome,
)
from newsletter.entra import EntraApp, EntraRefused, EntraUnreachable, client_credentials_token
from newsletter.errors import ConfigError
from newsletter.hosts import is_loopback, url_host
from newsletter.http import HttpPolicy, make_session, redact_url
from newsletter.redaction import header_secrets, redact

if TYPE_CHECKING:
    from newsletter.binding import Where
    from newsletter.delivery.message import Outgoing

log = logging.getLogger(__name__)
ACCEPTED_NOTE = "202 Accepted by Microsoft Graph (taken for delivery; delivery itself not confirmed)"


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


class MinuteLimit:
    """At most `per_minute` sends in any 60 seconds: the mailbox's own limit, respected before Graph throttles."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.per_minute = per_minute
        self.clock, self.sleep = clock, sleep
        self.recent: collections.deque[float] = collections.deque()

    def wait(self) -> None:
        now = self.clock()
        while self.recent and now - self.recent[0] >= 60:
            self.recent.popleft()
        if len(self.recent) >= self.per_minute:
            pause = 60 - (now - self.recent[0])
            log.info("Graph: %d messages in the last minute (delivery.graph.per_minute); waiting %.0f s",
                     len(self.recent), pause)
            self.sleep(pause)
            self.recent.popleft()
            now = self.clock()
        self.recent.append(now)


class GraphTransport(Transport):
    """sendMail as the `from` mailbox, one message per recipient, at most `per_minute` a minute."""

    name = "graph"
    Settings = GraphSettings
    done_status = "accepted"

    def __init__(self, settings: GraphSettings, sender: str, *, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.mailbox = check_address(sender, named=True).address
        # no automatic retries: a POST retried after a lost answer could send twice
        self.session = session or make_session(HttpPolicy(retries=0), settings.ca_file)
        self.sleep = sleep
        self.limit = MinuteLimit(settings.per_minute, sleep=sleep)
        self._app = None

    @classmethod
    def create(cls, settings: GraphSettings, context: TransportContext) -> GraphTransport:
        return cls(settings, context.sender)

    @classmethod
    def validate(cls, settings: GraphSettings, where: Where) -> None:
        for key in ("tenant_id", "client_id"):
            if not getattr(settings, key):
                raise where.error(key, f"missing (the app registration's {key})")
        if settings.client_secret is None:
            raise where.error("client_secret_env", "missing: set client_secret_env = \"VAR\" or "
                              "client_secret_file = \"path\"")
        if settings.per_minute < 1:
            raise where.error("per_minute", "expected an integer of at least 1")
        for key in ("timeout_s", "max_retry_after_s"):  # 0, NaN or infinity would fail or hang the run
            if problem := limits.limit_problem(getattr(settings, key), whole=False, high=limits.MAX_TIMEOUT_S):
                raise where.error(key, problem)
        for key in ("authority", "graph_url"):  # the secret and the token never cross the network in clear
            url = getattr(settings, key)
            try:
                parts, host = urlsplit(url), url_host(url)
            except ValueError:
                parts, host = urlsplit(""), None
            if not host or parts.scheme not in ("https", "http") or (parts.scheme == "http" and not is_loopback(host)):
                raise where.error(key, f"expected an https:// URL with a host, got {url!r}")

    @property
    def endpoint(self) -> str:
        return f"{self.settings.graph_url.rstrip('/')}/v1.0/users/{quote(self.mailbox, safe='@')}/sendMail"

    def open(self) -> None:
        self._token()  # fail early: a wrong secret stops the run before anyone is marked

    def _token(self) -> str:
        s = self.settings
        assert s.client_secret is not None
        try:
            import msal  # noqa: F401  (only to say which extra is missing)
        except ImportError:
            raise ConfigError("delivery.transport = \"graph\" needs msal (the `m365` extra): "
                              "pip install msal") from None
        app = EntraApp(s.client_id, s.client_secret.reveal(), s.authority, s.tenant_id, s.timeout_s)
        try:
            token, self._app = client_credentials_token(self.session, app, f"{s.graph_url.rstrip('/')}/.default",
                                                        client=self._app)
        except EntraUnreachable as exc:
            cause = type(exc.cause).__name__
            raise TransportError(f"Microsoft identity platform at {redact_url(s.authority)}: cannot get a token "
                                 f"({cause}); check delivery.graph.authority and tenant_id") from None
        except EntraRefused as exc:
            raise TransportError(f"Microsoft identity platform refused the app {s.client_id} "
                                 f"({exc.code}); check {s.client_secret.hint} and client_id") from None
        return token

    def send(self, out: Outgoing, before_data: Callable[[], None]) -> str:
        body = base64.b64encode(out.data)
        waited = 0.0  # in all, for this message: throttling asked again and again must end too
        headers = self._ready()
        while True:  # 429 means "not taken": the same message again, after the wait Graph asks for
            before_data()  # after the minute's wait and the token: a run stopped in them sent nothing
            try:
                response = self.session.post(self.endpoint, data=body, headers=headers, allow_redirects=False,
                                             timeout=(10, self.settings.timeout_s))
            except requests.ConnectionError as exc:
                if _untrusted(exc):  # the handshake failed: no byte of the message left, nor will any
                    raise TransportError(f"Microsoft Graph at {redact_url(self.settings.graph_url)}: its TLS "
                                         "certificate is not trusted; check delivery.graph.ca_file (the CA of a "
                                         "proxy that inspects TLS) and graph_url", not_sent=True) from None
                if isinstance(exc, requests.exceptions.ProxyError):  # raised only before the tunnel opened
                    raise TransportError("Microsoft Graph: cannot connect through the proxy (HTTPS_PROXY or "
                                         f"https_proxy: {_cause(exc)}); check it, or unset it", not_sent=True) from None
                if handshake := _handshake_failure(exc):  # https:// to a port without TLS, no common version
                    raise TransportError(f"Microsoft Graph at {redact_url(self.settings.graph_url)}: the TLS "
                                         f"handshake failed ({handshake}); check delivery.graph.graph_url",
                                         not_sent=True) from None
                if _never_connected(exc):
                    raise ServerUnavailable("Microsoft Graph unreachable; the message was not sent") from None
                raise UnknownOutcome("connection to Microsoft Graph lost while sending") from None
            except requests.Timeout:
                raise UnknownOutcome(f"no answer from Microsoft Graph within {self.settings.timeout_s:g} s") from None
            except requests.RequestException as exc:  # the answer broke off (a body cut short): it may have been taken
                raise UnknownOutcome(f"the answer of Microsoft Graph broke off ({type(exc).__name__})") from None
            if response.status_code != 429:
                return self._outcome(response)
            try:  # not taken: a run stopped before the next try sent this person nothing
                waited += self._throttled(response, waited)
                headers = self._ready()
            except KeyboardInterrupt:
                raise NotTakenInterrupt from None

    def _ready(self) -> dict[str, str]:
        """The minute's wait, then the headers with a token, renewed in a run of hours."""
        self.limit.wait()
        try:
            token = self._token()
        except TransportError as exc:  # a refusal then sent nothing
            raise TransportError(str(exc), not_sent=True) from None
        return {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}

    def _throttled(self, response: requests.Response, waited: float) -> float:
        value = response.headers.get("Retry-After", "")
        wait = max(float(value), 1.0) if value.strip().isdigit() else 30.0  # "0" again and again: not a busy loop
        if waited + wait > self.settings.max_retry_after_s:
            raise ServerUnavailable(f"429 throttled by Microsoft Graph for {waited + wait:.0f} s (more than "
                                    "delivery.graph.max_retry_after_s); a later run goes on")
        log.info("Microsoft Graph throttled the mailbox (429); waiting %.0f s", wait)
        self.sleep(wait)
        return wait

    def _outcome(self, response: requests.Response) -> str:
        code = response.status_code
        if code == 202:
            return ACCEPTED_NOTE
        if 200 <= code < 300:  # not sendMail's answer: something in between, which may have passed it on or not
            kind = response.headers.get("Content-Type", "no content type").split(";")[0][:60]
            raise TransportError(f"Microsoft Graph answered {code} ({kind}), not sendMail's 202: something else "
                                 "answered (a proxy, a wrong address), so whether it sent this message is unknown; "
                                 "check delivery.graph.graph_url and any HTTPS proxy")
        if 300 <= code < 400:  # not taken there (sendMail answers 202): not sent, a later run sends it
            try:
                where = f"a redirect to {redact_url(urljoin(self.endpoint, response.headers['Location']))}"
            except (KeyError, ValueError):  # none, or no address that can be read
                where = "a redirect"
            raise ServerUnavailable(f"Microsoft Graph answered {code} ({where}): not sent; check "
                                    "delivery.graph.graph_url")
        detail = _graph_error(response)
        if code == 401 and _graph_code(response) == "InvalidAuthenticationToken":  # the token, not the permission
            raise TransportError(f"Microsoft Graph refused the token ({detail}): a token it reads as expired or "
                                 "not yet valid (check this machine's clock) or not for it (check "
                                 "that delivery.graph.authority and graph_url are of the same cloud)", not_sent=True)
        if code in (401, 403):
            raise TransportError(f"Microsoft Graph answered {code} for {self.mailbox} ({detail}); the app needs "
                                 "the Mail.Send application permission, granted by an admin", not_sent=True)
        if code == 404:  # the address names the sending mailbox; the recipients are in the message
            raise TransportError(f"Microsoft Graph answered 404 ({detail}): no mailbox {self.mailbox} it can send "
                                 "as; check delivery.from (a licensed mailbox of the tenant) and graph_url",
                                 not_sent=True)
        if code == 413:  # the edition is the same for everyone: not this person's message alone
            size = len(response.request.body or b"") / 1e6
            raise TransportError(f"Microsoft Graph answered 413 ({detail}): the message is too large for sendMail "
                                 f"({size:.1f} MB as sent); make its pictures smaller", not_sent=True)
        if code == 503:
            raise ServerUnavailable(f"{code} {detail}")
        if code >= 500:  # the message may have been taken before the failure
            raise UnknownOutcome(f"{code} {detail}")
        error = _graph_code(response)
        if not error:  # Graph says what it refused in its error object: a refusal without one is not Graph's
            raise TransportError(f"Microsoft Graph answered {code} ({detail}), not as Graph does (no error code): "
                                 "something in between refused it (a proxy, a wrong address), for everyone alike: "
                                 "not sent; check delivery.graph.graph_url and any HTTPS proxy", not_sent=True)
        if _NOT_THE_PERSON.search(error) and "Recipient" not in error:
            raise TransportError(f"Microsoft Graph answered {code} ({detail}): about the message or the mailbox "
                                 f"{self.mailbox}, not this person, so the same for everyone: not sent, and "
                                 "everyone is still queued for a later run", not_sent=True)
        raise PermFailure(f"{code} {detail}")

    def close(self) -> None:
        self.session.close()


def _never_connected(exc: requests.ConnectionError) -> bool:
    """Refused, or not answered within the connect timeout: no byte of the message left."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError)


def _untrusted(exc: requests.ConnectionError) -> bool:
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.SSLError) and any(
        isinstance(cause, ssl.SSLCertVerificationError) for cause in reason.args)


# Graph's error codes about the message (its MIME, its size) or the sending mailbox (send-as, its daily
# limit, its full mailbox), the same for every person; a code about the recipient refuses that person alone
_NOT_THE_PERSON = re.compile(r"Mime|MessageSize|SendAs|Sender|Submission|Quota")


def _cause(exc: requests.ConnectionError) -> str:
    """The class of what failed inside (no message: it may quote the proxy's address with its password)."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    inner = reason.args[1] if isinstance(reason, urllib3.exceptions.ProxyError) and len(reason.args) > 1 else reason
    if type(inner) is OSError and str(inner).startswith("Tunnel connection failed: "):  # the proxy's answer
        return str(inner).removeprefix("Tunnel connection failed: ")[:100]
    return type(inner).__name__


def _handshake_failure(exc: requests.ConnectionError) -> str | None:
    """OpenSSL's reason when the TLS handshake itself failed (before any byte of the request): an SSL
    error later, while the message was going out, may have been taken and is not one."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if not isinstance(reason, urllib3.exceptions.SSLError):
        return None
    for cause in reason.args:
        if isinstance(cause, ssl.SSLError) and any(
                frame.name == "do_handshake" for frame in traceback.extract_tb(cause.__traceback__)):
            return str(cause.reason or type(cause).__name__)
    return None


def _graph_code(response: requests.Response) -> str:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return str(error.get("code", "")) if isinstance(error, dict) else ""


def _graph_error(response: requests.Response) -> str:
    """Graph's {"error": {"code", "message"}}; whatever else answered (a gateway, a proxy) as it says it,
    with the bearer token it was sent masked (an answer may quote the request)."""
    secrets = header_secrets(response.request.headers.items())
    try:
        body = response.json()
    except ValueError:
        return redact(response.reason or "no detail", secrets)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return redact(f"{error.get('code', '')}: {error.get('message', '')}", secrets)[:200]
    return redact(str(error) if isinstance(error, str) and error else response.reason or "no detail", secrets)[:200]
