"""Contract tests talk to a fresh local HTTP server per test."""

from tests.fixtures.http import httpserver  # noqa: F401  (the fixture)
