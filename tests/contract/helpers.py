"""Shared machinery of the contract tests: build a collector as a user would configure it, run it
the way `newsletter collect` does, serve answers from a handler, and inject the usual faults.

The fault harness (FAULTS, Faults, check_fault) is the one every HTTP collector's contract test
goes through: 429 with and without Retry-After, 5xx once and for ever, a read timeout, a body that
is not JSON, wrong credentials (401/403) and 404, each served on one endpoint of the vendor while
the others answer as usual."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, unquote_plus

import pytest
import requests
from werkzeug import Request, Response

from newsletter.binding import Where, bind
from newsletter.collect import collect_month
from newsletter.collectors.base import Collector
from newsletter.collectors.ticketing import TicketingCollector
from newsletter.config import SourceConfig
from newsletter.http import HttpPolicy, make_session
from newsletter.model import SourceResult
from newsletter.period import Month

# Retries and waits small enough for a test, large enough to be real: 2 retries, 10 ms backoff.
FAST = HttpPolicy(connect_timeout_s=2.0, read_timeout_s=0.4, retries=2, backoff_s=0.01,
                  max_retry_after_s=0.3, rate_limit_wait_s=0.05)
SECRET = "s3cr3t-T0KEN-value-9f8e7d"

Handler = Callable[[Request], Response]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")


@dataclass
class Case:
    """How one vendor is configured and where its list endpoint lives."""

    cls: type[TicketingCollector]
    settings: dict[str, Any]  # the source file's keys, secrets as *_env naming ENV
    env: str  # the variable that holds SECRET
    path: str  # the list endpoint
    page: Callable[[Request], Response]  # a good single-page answer (for fault tests)
    extra: dict[str, Any] = field(default_factory=dict)

    def build(self, base_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
              policy: HttpPolicy = FAST, session: requests.Session | None = None,
              **overrides: Any) -> TicketingCollector:
        monkeypatch.setenv(self.env, SECRET)
        table = {"base_url": base_url, **self.settings, **overrides}
        settings = bind(self.cls.Settings, table, Where(tmp_path / "helpdesk.toml"))
        collector = self.cls(settings, name="helpdesk", session=session or make_session(policy))
        collector.validate()
        return collector

    def faults(self, httpserver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, month: Month) -> Faults:
        """This help desk for check_fault: its single good page on `path`, its variable as the hint."""
        return Faults(
            path=self.path, month=month, hint=self.env, secret=SECRET,
            serve=lambda: httpserver.expect_request(self.path).respond_with_handler(self.page),
            build=lambda session: self.build(httpserver.url_for("/"), monkeypatch, tmp_path, session=session))


def run(collector: Collector, month: Month, **keys: Any) -> SourceResult:
    """Collect as the runner does: a failure becomes a failed result, never an exception. `keys`:
    common source keys (deadline_s, max_pages)."""
    source = SourceConfig(Path(f"{collector.name}.toml"), collector.name, collector.type, False, True,
                          collector.settings, **keys)
    [result] = collect_month([(source, collector)], month)
    return result


class Sequence:
    """A handler that answers with the given handlers in turn, repeating the last; counts calls."""

    def __init__(self, *handlers: Handler) -> None:
        self.handlers = handlers
        self.calls = 0

    def __call__(self, request: Request) -> Response:
        handler = self.handlers[min(self.calls, len(self.handlers) - 1)]
        self.calls += 1
        return handler(request)


def status(code: int, headers: dict[str, str] | None = None, body: Any = None) -> Handler:
    return lambda request: json_response(body or {"error": "fault"}, code, headers)


def slow(request: Request) -> Response:
    time.sleep(FAST.read_timeout_s * 2.5)
    return json_response({})


def trickle(*, every_s: float = 0.3, count: int = 40, sized: bool = True):
    """An answer of one byte every `every_s` seconds, `count` of them: bounded, it stops by itself."""
    def handle(request):
        def body():
            for _ in range(count):
                yield b" "
                time.sleep(every_s)
        headers = {"Content-Length": str(count)} if sized else {}
        return Response(body(), headers=headers, content_type="application/json")
    return handle


def not_json(request: Request) -> Response:
    return Response("<html><body>Sign in</body></html>", status=200, content_type="application/json")


def echo_secret_401(request: Request) -> Response:
    """A server that echoes the credentials it got: they must still not reach an error or a log."""
    return json_response({"message": f"Unauthorized {request.headers.get('Authorization')}"}, 401)


# name -> (answers in turn on the faulty endpoint, expected status, words the error must contain, calls
# made there). A fault that ends in "ok" is survived: the result is the clean run's, after one more
# call per fault; the others fail at the first call (3 calls: the first and two retries).
FAULTS: dict[str, tuple[tuple[str, ...], str, tuple[str, ...], int | None]] = {
    "429 with Retry-After, then ok": (("429ra", "ok"), "ok", (), 1),
    "429 without Retry-After, then ok": (("429", "ok"), "ok", (), 1),
    "500 then ok": (("500", "ok"), "ok", (), 1),
    "503 twice then ok": (("503", "503", "ok"), "ok", (), 2),
    "500 every time": (("500",), "failed", ("500",), 3),
    "read timeout": (("slow",), "failed", ("did not answer within",), None),
    "malformed JSON": (("notjson",), "failed", ("not JSON",), 1),
    "401": (("401",), "failed", ("401", "check"), 1),
    "403": (("403",), "failed", ("403", "check"), 1),
    "404": (("404",), "failed", ("404", "base_url"), 1),
}
FAULT_HANDLERS: dict[str, Handler] = {
    "429ra": status(429, {"Retry-After": "1"}), "429": status(429), "500": status(500), "503": status(503),
    "slow": slow, "notjson": not_json, "401": echo_secret_401, "403": status(403), "404": status(404),
}


@dataclass
class Faults:
    """One vendor as check_fault puts it through FAULTS.

    `serve()` registers the vendor's usual answers on the test's server; `build(session)` makes a
    fresh collector pointed at it, on the session given (FAST retries and timeouts; a test may add
    trust in a private CA for a token service). The faults are served on `path` (and `method`).
    """

    path: str
    serve: Callable[[], None]
    build: Callable[[requests.Session], Collector]
    month: Month
    hint: str  # what a 401 or 403 must tell people to check: the variable, the permission
    secret: str  # a credential that must show nowhere: not in the result, not in the log
    method: str = "GET"

    def calls(self, httpserver) -> int:
        return sum(1 for request, _ in httpserver.log if request.path == self.path and request.method == self.method)


def serve_faults(target: Faults, names: tuple[str, ...], httpserver) -> None:
    """The faults on the target's endpoint, ahead of the usual answers: a fault followed by "ok"
    answers once each, then the usual answer takes over; a lone fault answers every time."""
    *faults, last = names
    if last == "ok":
        for name in faults:
            httpserver.expect_oneshot_request(target.path, method=target.method).respond_with_handler(
                FAULT_HANDLERS[name])
    else:
        httpserver.expect_request(target.path, method=target.method).respond_with_handler(FAULT_HANDLERS[last])
    target.serve()


def debug_everything(caplog) -> None:
    """DEBUG from every logger, including ours and urllib3's, whatever level an earlier CLI run left on them."""
    caplog.set_level("DEBUG")
    caplog.set_level("DEBUG", logger="newsletter")
    caplog.set_level("DEBUG", logger="urllib3")


def check_fault(target: Faults, fault: str, httpserver, caplog) -> SourceResult:
    """Run the vendor clean, then with `fault` on its endpoint, through the runner; returns the clean result."""
    names, expected, words, calls = FAULTS[fault]
    httpserver.clear()
    target.serve()
    good = run(target.build(make_session(FAST)), target.month)
    assert good.status == "ok", good.error
    clean_calls = target.calls(httpserver)
    httpserver.clear()
    serve_faults(target, names, httpserver)
    debug_everything(caplog)
    result = run(target.build(make_session(FAST)), target.month)
    assert result.status == expected, result.error
    if expected == "ok":
        assert (result.metrics, result.warnings) == (good.metrics, good.warnings)
        assert target.calls(httpserver) == clean_calls + calls
    else:
        assert calls is None or target.calls(httpserver) == calls
        assert result.metrics == {}
        for word in words:
            assert word in result.error
        if fault in ("401", "403"):
            assert target.hint in result.error  # names what to fix
        if fault in ("malformed JSON", "404"):
            assert target.path in result.error  # names the endpoint
        assert "Traceback" not in result.error and "\n" not in result.error
    assert leaks(result.error or "", target.secret) == []
    assert f"{target.method} {httpserver.url_for('/').rstrip('/')}" in caplog.text  # DEBUG was captured ...
    assert leaks(caplog.text, target.secret) == []  # ... and held no secret
    return good


def leaks(text: str, secret: str) -> list[str]:
    """Pieces of `secret` (8 characters or more) found in `text` in any form it takes on the wire: raw,
    URL-encoded, JSON-escaped, or inside something base64 (a Basic credential, at any alignment)."""
    pieces = {secret[i:i + 8] for i in range(len(secret) - 7)}
    plain = text.replace("\\/", "/")
    views = {text, plain, unquote(plain), unquote_plus(plain)}
    for token in re.findall(r"(?:[A-Za-z0-9+/_=-]|%[0-9A-Fa-f]{2}){8,}", plain):
        token = unquote(token).rstrip("=")
        for skip in range(4):
            body = token[skip:]
            body = body[: len(body) - len(body) % 4] if len(body) % 4 == 1 else body + "=" * (-len(body) % 4)
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                with contextlib.suppress(ValueError):
                    views.add(decode(body).decode("latin-1"))
    return sorted({piece for piece in pieces for view in views if piece in view})


def echo_credentials(code: int) -> Handler:
    """A vendor's error page that quotes what it was sent (Authorization and Password headers, query
    string, form body): at the start, in the middle, across the 200th character (where an error message
    is cut) and far past it; raw, URL-encoded and JSON-escaped, as servers write it."""
    def handle(request: Request) -> Response:
        sent = [request.headers.get("Authorization"), request.headers.get("Password"),
                request.query_string.decode(), request.get_data(as_text=True)]
        said = " ".join(s for s in sent if s)
        body = ""
        for at, form in ((0, said), (100, quote(said, safe="")), (184, said), (450, said),
                         (700, json.dumps({"auth": said}).replace("/", "\\/"))):
            body = (body + " ").ljust(at, "x") + form
        return Response(body, status=code, content_type="text/plain")
    return handle
