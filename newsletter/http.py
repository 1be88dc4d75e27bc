"""The one HTTP layer every collector uses: timeouts, retries, Retry-After, rate limits, paging
guard, the source's deadline, and errors a person can act on, with secrets kept out of logs and
messages.

Collectors call `HttpClient.request_json()`; failures arrive as SourceError with a message such
as "Zendesk answered 401 Unauthorized: check ZENDESK_TOKEN".
"""

from __future__ import annotations

import base64
import email.utils
import logging
import os
import random
import ssl
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import DecodeError, HTTPError, InvalidHeader, ReadTimeoutError
from urllib3.util.retry import Retry

from newsletter import __version__, limits
from newsletter.errors import SourceError
from newsletter.redaction import header_secrets, redact

log = logging.getLogger(__name__)
USER_AGENT = f"newsletter/{__version__}"
RETRY_STATUSES = (429, 500, 502, 503, 504)
ERROR_CHARS = 200  # how much of a vendor's error body a message quotes
BODY_CHUNK = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024  # an API page of 999 users is about 1 MB: far more is not a page


def rate_limit_backoff(attempt: int, first_s: float, cap_s: float, jitter: float, draw: float) -> float:
    """The wait after the `attempt`-th 429 in a row that gave no Retry-After: `first_s`, doubling
    each time, at most `cap_s`, then moved by up to ±`jitter` of itself (`draw` in [0, 1) picks
    where), never past `cap_s`. The jitter keeps several sources sharing one account from
    retrying in step and tripping the limit again together."""
    base = min(first_s * 2 ** max(attempt - 1, 0), cap_s)
    return min(base * (1 + jitter * (2 * draw - 1)), cap_s)


class CappedRetry(Retry):
    """urllib3 Retry that caps Retry-After (seconds or HTTP date), backs off exponentially with
    jitter after a 429 that says nothing (`rate_limit_backoff`), and treats an unreadable
    Retry-After as absent instead of failing. No wait outlasts the source's deadline, and no retry
    starts after it."""

    rate_limit_wait_s: float = 2.0
    rate_limit_jitter: float = 0.25
    max_retry_after: float = 60.0
    draw: Callable[[], float] = staticmethod(random.random)

    def get_retry_after(self, response):  # type: ignore[override]
        try:
            value = super().get_retry_after(response)
        except InvalidHeader:
            value = None
        if value is None and response.status == 429:
            in_a_row = sum(1 for past in self.history if past.status == 429)
            value = rate_limit_backoff(in_a_row, self.rate_limit_wait_s, self.max_retry_after,
                                       self.rate_limit_jitter, self.draw())
        return None if value is None else min(value, self.max_retry_after, limits.current().remaining())

    def get_backoff_time(self) -> float:
        return min(super().get_backoff_time(), limits.current().remaining())

    def increment(self, *args, **kwargs):  # type: ignore[override]
        """No retry once the source's deadline has passed: it is reported as such, not as the last error."""
        limits.current().check("while retrying")
        return super().increment(*args, **kwargs)

    def new(self, **kw):  # keep the settings on the copies urllib3 makes per attempt
        retry = super().new(**kw)
        retry.rate_limit_wait_s = self.rate_limit_wait_s
        retry.rate_limit_jitter = self.rate_limit_jitter
        retry.max_retry_after = self.max_retry_after
        retry.draw = self.draw
        return retry


@dataclass(frozen=True)
class HttpPolicy:
    """Timeouts, retries and caps. Tests pass a policy with tiny waits through `make_session`."""

    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    retries: int = 4
    backoff_s: float = 0.5
    max_retry_after_s: float = 60.0
    rate_limit_wait_s: float = 2.0  # the first wait after a 429 without Retry-After; doubles each time
    rate_limit_jitter: float = 0.25  # each such wait moved by up to ±25 %


def make_session(policy: HttpPolicy | None = None, ca_file: str | os.PathLike[str] | None = None) -> requests.Session:
    """A session with retries on connection errors, 5xx and 429 (Retry-After honoured, capped).

    The policy travels with the session (`session.policy`), so an HttpClient built on it uses the
    same timeouts and caps. `ca_file`, a private CA, is trusted besides the default CAs by every
    request on the session (libraries such as msal call it too): `TrustingAdapter`.
    """
    policy = policy or HttpPolicy()
    retry = CappedRetry(
        total=policy.retries, connect=policy.retries, read=policy.retries, status=policy.retries,
        backoff_factor=policy.backoff_s, backoff_max=policy.max_retry_after_s, status_forcelist=RETRY_STATUSES,
        allowed_methods=None, respect_retry_after_header=True, raise_on_status=False,
    )
    retry.rate_limit_wait_s = policy.rate_limit_wait_s
    retry.rate_limit_jitter = policy.rate_limit_jitter
    retry.max_retry_after = policy.max_retry_after_s
    session = BoundedSession()
    adapter = HTTPAdapter(max_retries=retry) if not ca_file else TrustingAdapter(ca_file, max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept"] = "application/json"
    session.verify = True
    session.policy = policy  # type: ignore[attr-defined]
    return session


class TrustingAdapter(HTTPAdapter):
    """An adapter whose TLS trusts a private CA (a proxy's, a test's) besides the default CAs.

    The CA goes into the SSL context of every pool, to which requests still adds the default bundle
    (or REQUESTS_CA_BUNDLE): `verify=<file>` would instead trust that file alone, and hosts the
    default CAs vouch for (a proxy that lets Microsoft's sign-in through untouched) would fail."""

    def __init__(self, ca_file: str | os.PathLike[str], **kwargs: Any) -> None:
        self.context = ssl.create_default_context()
        self.context.load_verify_locations(cafile=os.fspath(ca_file))
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, ssl_context=self.context, **kwargs)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        return super().proxy_manager_for(proxy, ssl_context=self.context, **kwargs)


class BoundedSession(requests.Session):
    """A Session whose every request keeps within the source's deadline (limits.current()).

    Past the deadline no request starts; timeouts are no longer than the time left; and the body is
    read piece by piece with the deadline checked in between, because requests' timeouts bound each
    read, not the request: a server that sends a byte every few seconds would hold it for ever. With
    or without a deadline, no body is read past MAX_BODY_BYTES.
    Collectors' HttpClients and the libraries given the session (msal, google-auth) all come here.
    """

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        budget = limits.current()
        where = redact_url(url)
        budget.check(f"before {method} {where}")
        if budget.bounded:
            kwargs["timeout"] = _capped(kwargs.get("timeout"), budget.remaining())
        stream = kwargs.pop("stream", False)
        try:
            response = super().request(method, url, stream=True, **kwargs)
        except requests.exceptions.RequestException:
            budget.check(f"while waiting for {where}")  # a timeout cut short by the deadline says so
            raise
        if not stream:
            _read_within(response, budget, where)
        return response

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        """A redirect to another server is refused: requests drops only Authorization there, and would
        send a key in any other header (X-Api-Key, Password) or in a form body (a 307) to it."""
        if self.should_strip_auth(response.request.url, prepared_request.url):
            moved = urlsplit(prepared_request.url)
            raise SourceError(f"{redact_url(response.request.url)} redirected to another server "
                              f"({moved.scheme}://{moved.hostname}); stopped so the credentials are not sent there: "
                              "check the configured address (set it to the server's own)")
        super().rebuild_auth(prepared_request, response)


def _capped(timeout: Any, left: float) -> Any:
    """(connect, read) timeouts no longer than `left` seconds (and not 0, which would mean no wait)."""
    left = max(left, 0.001)
    if isinstance(timeout, tuple):
        return tuple(left if t is None else min(t, left) for t in timeout)
    return left if timeout is None else min(timeout, left)


def _read_within(response: requests.Response, budget: limits.Budget, where: str) -> None:
    """Read the whole body, checking the deadline between pieces, and at most MAX_BODY_BYTES of it
    (a page that never ends must not fill the memory before the deadline); errors as requests raises them."""
    pieces, size = [], 0
    try:
        while True:
            budget.check(f"while reading {where}")
            piece = response.raw.read1(BODY_CHUNK, decode_content=True)  # returns what has arrived
            if not piece:
                break
            pieces.append(piece)
            size += len(piece)
            if size > MAX_BODY_BYTES:
                response.close()
                raise SourceError(f"the answer is more than {MAX_BODY_BYTES // 2**20:,} MB from {where}, far more "
                                  "than an API's page; check the address configured for it")
    except (HTTPError, OSError) as exc:
        response.close()
        budget.check(f"while reading {where}")
        if isinstance(exc, ReadTimeoutError):
            raise requests.exceptions.ConnectionError(exc) from None
        if isinstance(exc, DecodeError):
            raise requests.exceptions.ContentDecodingError(exc) from None
        raise requests.exceptions.ChunkedEncodingError(exc) from None
    except limits.DeadlineExceeded:
        response.close()
        raise
    # What Response.content would have done; it has no public way to be handed the bytes.
    response._content = b"".join(pieces)
    response._content_consumed = True


def redact_url(url: str) -> str:
    """Scheme, host and path only: query strings may hold keys and are never logged."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}{parts.path}"


@dataclass
class JsonPage:
    """A decoded JSON answer with the headers paging loops need (Link, X-Total-Count)."""

    data: Any
    headers: Mapping[str, str]
    links: dict[str, dict[str, str]]
    status: int = 200  # the HTTP status: another than 200 only for one the caller `accept`ed

    def next_link(self) -> str | None:
        return self.links.get("next", {}).get("url")


@dataclass
class HttpClient:
    """A vendor's API as seen by one collector: base URL, auth, and who to blame in messages."""

    session: requests.Session
    base_url: str
    vendor: str  # "Zendesk": the name people see in an error
    credential_hint: str = "the credentials"  # "ZENDESK_TOKEN": what to check on 401/403
    headers: dict[str, str] = field(default_factory=dict)
    auth: Any = None
    policy: HttpPolicy | None = None  # None: the session's policy (make_session), else the defaults
    secrets: tuple[str, ...] = ()  # values that must never appear in an error or a log line
    sleep: Callable[[float], None] = time.sleep
    ca_bundle: str | None = None  # a CA file for self-hosted servers; verification is never turned off
    not_found_hint: str = "check base_url and the configured project or ids"  # what a 404 asks to check
    address_key: str = "base_url"  # the key that sets the address, named when it cannot be reached
    ca_key: str | None = "ca_bundle"  # the key that adds a CA, named when TLS fails (None: there is none)

    def __post_init__(self) -> None:
        if self.policy is None:
            self.policy = getattr(self.session, "policy", None) or HttpPolicy()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.fetch_json(method, path, **kwargs).data

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.request_json("GET", path, **kwargs)

    def fetch_json(self, method: str, path: str, **kwargs: Any) -> JsonPage:
        """Like request_json, keeping the headers; `accept=(404,)` returns those statuses unraised."""
        return self.decode(self.request(method, path, **kwargs))

    def decode(self, response: requests.Response) -> JsonPage:
        """The JSON of an answer already received (say one `request(accept=...)` let through)."""
        try:
            data = response.json()
        except ValueError:
            raise SourceError(
                f"{self.vendor} returned a response that is not JSON from {redact_url(response.url)}"
                f" (HTTP {response.status_code}); check {self.address_key}"
            ) from None
        return JsonPage(data, response.headers, response.links, response.status_code)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = self.url(path)
        headers = {**self.headers, **kwargs.pop("headers", {})}
        accept = kwargs.pop("accept", ())
        policy = self.policy or HttpPolicy()
        timeout = (policy.connect_timeout_s, policy.read_timeout_s)
        log.debug("%s %s", method, self._clean(redact_url(url)))  # a URL may be a secret itself (a ping URL)
        try:
            response = self.session.request(method, url, headers=headers, auth=self.auth, timeout=timeout,
                                            verify=self.ca_bundle or True, **kwargs)
        except requests.exceptions.InvalidHeader:  # a secret read with a "\r" or a space: nothing was sent
            raise SourceError(f"a credential for {self.vendor} holds a line break or a space at its start or end "
                              f"(read from a file with Windows line ends?); check {self.credential_hint}") from None
        except requests.exceptions.SSLError:
            ca = f" (or set {self.ca_key})" if self.ca_key else ""
            raise SourceError(f"TLS verification failed for {redact_url(url)}; check {self.address_key} and the "
                              f"server's certificate{ca}") from None
        except requests.exceptions.RequestException as exc:
            if _is_read_timeout(exc):
                raise SourceError(f"{self.vendor} did not answer within {policy.read_timeout_s:g} s "
                                  f"({redact_url(url)}); try again later") from None
            raise SourceError(f"cannot reach {self.vendor} at {redact_url(url)} "
                              f"({self._clean(type(exc).__name__)}); check {self.address_key} and the network"
                              ) from None
        if response.status_code not in accept:
            self._check(response)
        self._respect_rate_limit(response)
        return response

    def _check(self, response: requests.Response) -> None:
        code = response.status_code
        # The reason phrase is the server's words too: redacted (and cut after) like its body
        reason = " ".join(redact(response.reason or "", self._secrets(response.request)).split())[:ERROR_CHARS]
        status = f"{self.vendor} answered {code} {reason}".rstrip()
        if code < 400:
            return
        where = redact_url(response.url)
        if code in (401, 403):
            raise SourceError(f"{status}: check {self.credential_hint} and its permissions")
        if code == 404:
            raise SourceError(f"{status} for {where}: {self.not_found_hint}")
        if code == 429:
            raise SourceError(f"{status}: rate limit still exceeded after retries; try again later")
        # Redact the whole body first: a secret cut in two by the truncation would no longer match.
        detail = " ".join(redact(response.text, self._secrets(response.request)).split())[:ERROR_CHARS]
        raise SourceError(f"{status} for {where}" + (f": {detail}" if detail else ""))

    def _respect_rate_limit(self, response: requests.Response) -> None:
        """When the vendor says the budget is spent, wait (capped) until it resets."""
        remaining = _first_header(response, REMAINING_HEADERS)
        if remaining is None or not remaining.strip().isdigit() or int(remaining) > 0:
            return
        reset = _first_header(response, RESET_HEADERS)
        wait = _seconds_until(reset) if reset else 1.0
        wait = min(max(wait, 0.0), (self.policy or HttpPolicy()).max_retry_after_s)
        if wait:
            log.info("%s rate limit reached; waiting %.1f s", self.vendor, wait)
            self.sleep(wait)

    def _clean(self, text: str) -> str:
        return redact(text, self._secrets())

    def _secrets(self, sent: requests.PreparedRequest | None = None) -> list[str]:
        """The configured secrets plus the credential headers as built here and as actually sent."""
        headers = list(self.headers.items())
        if isinstance(self.auth, tuple) and len(self.auth) == 2:
            user_password = f"{self.auth[0]}:{self.auth[1]}".encode("latin-1", "replace")
            headers.append(("Authorization", "Basic " + base64.b64encode(user_password).decode()))
        if sent is not None:
            headers.extend(sent.headers.items())
        return [*self.secrets, *header_secrets(headers)]


REMAINING_HEADERS = ("X-RateLimit-Remaining", "X-Rate-Limit-Remaining", "RateLimit-Remaining")
RESET_HEADERS = ("X-RateLimit-Reset", "X-Rate-Limit-Reset", "RateLimit-Reset", "Retry-After")


def _is_read_timeout(exc: BaseException) -> bool:
    """requests reports a read timeout after the last retry as a ConnectionError wrapping it."""
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return True
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        reason = getattr(seen, "reason", None)
        if isinstance(seen, ReadTimeoutError) or isinstance(reason, ReadTimeoutError):
            return True
        args = getattr(seen, "args", ())
        seen = args[0] if args and isinstance(args[0], BaseException) else reason
    return False


def _first_header(response: requests.Response, names: Iterable[str]) -> str | None:
    for name in names:
        if name in response.headers:
            return response.headers[name]
    return None


def _seconds_until(value: str) -> float:
    """Seconds from a delta ('30'), a unix time, an ISO 8601 time or an HTTP date."""
    value = value.strip()
    now = time.time()
    try:
        number = float(value)
        return number - now if number > 1_000_000_000 else number
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() - now
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 1.0  # unreadable: wait a little rather than not at all
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp() - now


class PageGuard:
    """Stops runaway paging: a page cap (the source's `max_pages` unless given), a repeated page token
    or cursor, and a run of empty pages that still claim more follow are errors, never an endless loop."""

    max_empty_pages = 3

    def __init__(self, vendor: str, max_pages: int | None = None) -> None:
        self.vendor = vendor
        self.max_pages = max_pages or limits.current().max_pages
        self.pages = 0
        self._seen: set[Hashable] = set()
        self._empty_run = 0

    def next_page(self, token: Hashable | None = None) -> None:
        """Call before fetching each page with the token/offset/URL that selects it."""
        self.pages += 1
        if self.pages > self.max_pages:
            raise SourceError(f"{self.vendor} paging stopped after {self.max_pages} pages; "
                              "narrow the query or raise max_pages")
        if token is not None:
            if token in self._seen:
                raise SourceError(f"{self.vendor} returned the same page token twice; stopped to avoid a loop")
            self._seen.add(token)

    def rows(self, count: int) -> None:
        """Call with the number of rows of a page that says more pages follow."""
        self._empty_run = self._empty_run + 1 if count == 0 else 0
        if self._empty_run >= self.max_empty_pages:
            raise SourceError(f"{self.vendor} sent {self._empty_run} empty pages that claim more follow; "
                              "stopped to avoid a loop")
