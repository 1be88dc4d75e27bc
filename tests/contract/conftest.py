"""Contract tests: each collector talks real HTTP to a server on 127.0.0.1 serving the vendor's
documented response shapes (pytest-httpserver, a fresh server per test). Retries are real but their
waits are tiny. The HTTP faults every collector must survive or explain are in helpers.py (check_fault)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

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
