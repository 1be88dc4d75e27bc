"""Shared test conventions.

- Nothing leaves 127.0.0.1: connecting a socket anywhere else fails the test.
- `require_program("rspamd")`: skip with a clear reason when a program is missing, or fail when
  NEWSLETTER_REQUIRE_INTEGRATION=1 (as CI sets it), so an integration test never skips silently.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytest_plugins = [
    "tests.fixtures.browser", "tests.fixtures.distributions", "tests.fixtures.http", "tests.fixtures.smtp",
    "tests.fixtures.workspace",
]


def _is_loopback(address: object) -> bool:
    if not isinstance(address, tuple):  # unix sockets and the like
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_connect(self, address):
    if not _is_loopback(address):
        raise AssertionError(f"test tried to connect to {address!r}: tests stay on 127.0.0.1")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if not _is_loopback(address):
        raise AssertionError(f"test tried to connect to {address!r}: tests stay on 127.0.0.1")
    return _real_connect_ex(self, address)


def pytest_configure(config):
    socket.socket.connect = _guarded_connect
    socket.socket.connect_ex = _guarded_connect_ex


def integration_required() -> bool:
    return os.environ.get("NEWSLETTER_REQUIRE_INTEGRATION") == "1"


def require_program(program: str, why: str = "") -> str:
    """Path of `program`, or skip (fail under NEWSLETTER_REQUIRE_INTEGRATION=1) with the reason."""
    found = shutil.which(program) or (program if os.path.isabs(program) and os.access(program, os.X_OK) else None)
    if found:
        return found
    reason = f"{program} is not installed{': ' + why if why else ''} (bash .ci/install-deps installs it)"
    if integration_required():
        pytest.fail(f"NEWSLETTER_REQUIRE_INTEGRATION=1 but {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
