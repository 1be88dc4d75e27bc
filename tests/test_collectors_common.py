"""The one HTTP-source foundation's checks (collectors/common.py), on their own; every registered
HTTP source is put through them in tests/contract/test_http_sources.py."""

from __future__ import annotations

import pytest

from newsletter.collectors.common import check_base_url, check_range, is_loopback, with_api_root
from newsletter.errors import ConfigError


@pytest.mark.parametrize(("url", "message"), [
    ("acme.example.com", "expected a URL such as 'https://acme.example.com', got 'acme.example.com'"),
    ("ftp://acme.example.com", "expected a URL such as"),
    ("https://", "expected a URL such as"),
    ("https://[not-an-address]/", "expected a URL such as"),
    ("https://acme.example.com:https/", "expected a URL such as"),
    ("http://acme.example.com", "use https://"),
    ("http://127.0.0.1.acme.example.com", "use https://"),
    ("http://0.0.0.0:8080", "use https://"),  # every address of this machine, including its public ones
    # urlsplit reads 127.0.0.1 (user info "other\\"), urllib3 connects to `other`: the token would go there in clear
    ("http://other\\@127.0.0.1:8080/", "expected a URL such as"),
    ("https://other\\@acme.example.com/", "expected a URL such as"),
    ("https://acme.example.com/?token=x", "remove the query string"),
    ("https://acme.example.com/#top", "remove the query string"),
])
def test_bad_base_url(url, message):
    with pytest.raises(ConfigError, match=f"^source helpdesk: base_url: {message}"):
        check_base_url("helpdesk", url, "https://acme.example.com")


@pytest.mark.parametrize("url", ["https://acme.example.com", "http://127.0.0.1:8080", "http://127.200.0.9/rt",
                                 "http://localhost/rt", "http://LOCALHOST./rt", "http://[::1]:9090"])
def test_good_base_url(url):
    check_base_url("helpdesk", url, "https://acme.example.com")


def test_another_key_is_named_as_such():
    with pytest.raises(ConfigError, match=r"^source defender: authority: use https://"):
        check_base_url("defender", "http://login.example.com", "https://login.example.com", "authority")


@pytest.mark.parametrize(("host", "loopback"), [
    ("localhost", True), ("127.0.0.1", True), ("127.255.255.254", True), ("::1", True), ("[::1]", True),
    ("128.0.0.1", False), ("localhost.example.com", False), ("::2", False), ("", False),
])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_check_range_gives_one_message_for_every_number():
    check_range("jira", "page_size", 100, 1, 100)
    check_range("demo", "messages_per_day", 10**9, 1)  # no upper bound
    for value, low, high, expected in ((500, 1, 100, "expected a value from 1 to 100, got 500"),
                                       (0, 1, 10_000, "expected a value from 1 to 10000, got 0"),
                                       (0.5, 1.0, 3600.0, "expected a value from 1 to 3600, got 0.5"),
                                       (2_000_000, 1, 1_000_000, "expected a value from 1 to 1000000, got 2000000"),
                                       (0, 1, None, "expected a value of at least 1, got 0")):
        with pytest.raises(ConfigError, match=f"^source s: key: {expected}$"):
            check_range("s", "key", value, low, high)


@pytest.mark.parametrize(("url", "root", "expected"), [
    ("https://api.uptimerobot.com", "/v2", "https://api.uptimerobot.com/v2"),
    ("https://api.uptimerobot.com/", "/v2", "https://api.uptimerobot.com/v2"),
    ("https://api.uptimerobot.com/v2", "/v2", "https://api.uptimerobot.com/v2"),
    ("https://api.uptimerobot.com/v2/", "/v2", "https://api.uptimerobot.com/v2/"),
    ("https://uptime.betterstack.com", "/api/v2", "https://uptime.betterstack.com/api/v2"),
    ("https://uptime.betterstack.com/api", "/api/v2", "https://uptime.betterstack.com/api/v2"),  # half of it
    ("https://api.pingdom.com/api/3.1", "/api/3.1", "https://api.pingdom.com/api/3.1"),
    ("http://127.0.0.1:8080/proxy", "/api/3.1", "http://127.0.0.1:8080/proxy/api/3.1"),  # under a prefix
    ("https://acme.example.com/rt", "", "https://acme.example.com/rt"),  # no API root: as given
])
def test_the_api_root_is_added_when_base_url_lacks_it(url, root, expected):
    assert with_api_root(url, root) == expected
