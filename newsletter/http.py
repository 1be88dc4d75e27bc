"""The one HTTP layer every collector uses: timeouts, retries, Retry-After, rate limits, paging
guard, the source's deadline, and errors a person can act on, with secrets kept out of logs and
messages.

Collectors call `HttpClient.request_json()`; failures arrive as SourceError with a message such
as "Zendesk answered 401 Unauthorized: check ZENDESK_TOKEN". The session under it (retries, TLS
trust, the deadline on every read, redirects) is `newsletter.http_session`.
"""

from __future__ import annotations

import base64
import email.utils
import logging
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from urllib3.exceptions import ReadTimeoutError

from newsletter import limits
from newsletter.errors import SourceError
from newsletter.http_session import HttpPolicy, make_session, redact_url
from newsletter.redaction import header_secrets, redact

__all__ = ["ERROR_CHARS", "HttpClient", "HttpPolicy", "JsonPage", "PageGuard", "make_session", "redact_url"]

log = logging.getLogger(__name__)
ERROR_CHARS = 200  # how much of a vendor's error body a message quotes


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
