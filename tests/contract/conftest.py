"""Contract tests: each collector talks real HTTP to a server on 127.0.0.1 serving the vendor's
documented response shapes (pytest-httpserver, a fresh server per test). Retries are real but their
waits are tiny."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from newsletter.errors import SourceError
from newsletter.http import HttpPolicy, make_session
from newsletter.period import Month

BERLIN = ZoneInfo("Europe/Berlin")
# October 2026 in Berlin: 2026-09-30 22:00 UTC to 2026-10-31 23:00 UTC (summer time ends on the 25th),
# so it has 31 days and one hour: 2_682_000 seconds.
OCTOBER = Month(2026, 10, BERLIN)
AFTER_OCTOBER = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
FAST = HttpPolicy(retries=2, backoff_s=0.0, max_retry_after_s=0.01, connect_timeout_s=2, read_timeout_s=5)


@pytest.fixture
def session():
    return make_session(FAST)


def check_faults(httpserver, *, serve: Callable[[], None], path: str, method: str = "GET",
                 collect: Callable[[], object], hint: str, secret: str | None = None) -> object:
    """The HTTP failures every collector must survive or explain, on the request to `path`.

    `serve()` registers the normal answers; `collect()` runs a fresh collector. 429 with Retry-After
    and 503 are retried to the same result; 401 and a malformed body fail naming what to check.
    """
    httpserver.clear()
    serve()
    good = collect()  # a SourceError here fails the test with its message
    for status, headers in ((429, {"Retry-After": "1"}), (503, {})):
        httpserver.clear()
        httpserver.expect_oneshot_request(path, method=method).respond_with_data("busy", status, headers)
        serve()
        assert collect() == good
        assert not httpserver.oneshot_handlers, f"the {status} answer was never served"
    httpserver.clear()
    httpserver.expect_request(path, method=method).respond_with_data("denied", 401)
    serve()
    with pytest.raises(SourceError, match=f"401.*{hint}") as info:
        collect()
    assert secret is None or secret not in str(info.value)
    httpserver.clear()
    httpserver.expect_request(path, method=method).respond_with_data('{"truncated": [', 200,
                                                                     content_type="application/json")
    serve()
    with pytest.raises(SourceError, match="not JSON"):
        collect()
    httpserver.clear()
    return good
