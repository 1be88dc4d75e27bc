"""A fresh threaded HTTP server on 127.0.0.1 per test, so a slow handler left sleeping by a
timeout test never answers the next test's requests."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer


class QuickServer(HTTPServer):
    """Polls for shutdown every 20 ms instead of 500 ms: stopping costs nothing per test."""

    def thread_target(self) -> None:
        assert self.server is not None
        self.server.serve_forever(poll_interval=0.02)


@pytest.fixture
def httpserver():
    server = QuickServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()
