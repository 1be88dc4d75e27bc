"""The session every vendor request goes through: retries on connection errors, 5xx and 429
(Retry-After honoured and capped), a private CA trusted besides the default ones, the source's
deadline and a size cap on every body read, and no credential sent on to another server by a
redirect. `newsletter.http` builds the clients collectors use on top of it.
"""

from __future__ import annotations

import os
import random
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import DecodeError, HTTPError, InvalidHeader, ReadTimeoutError
from urllib3.util.retry import Retry

from newsletter import __version__, limits
from newsletter.errors import SourceError

USER_AGENT = f"newsletter/{__version__}"
RETRY_STATUSES = (429, 500, 502, 503, 504)
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

    def resolve_redirects(self, resp: requests.Response, req: requests.PreparedRequest, *args: Any,
                          yield_requests: bool = False, **kwargs: Any) -> Iterator[Any]:
        """With allow_redirects=False requests still prepares the next request (Response.next),
        and rebuild_auth would refuse one to another server before the caller could read the
        redirect: that request is not made here, so `next` is None and the caller gets the answer."""
        if yield_requests:
            return iter(())
        return super().resolve_redirects(resp, req, *args, **kwargs)

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
