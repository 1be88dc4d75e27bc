"""Choosing and naming uptime services: include, exclude, rename over a monitor's id, name and URL."""

from __future__ import annotations

import pytest

from newsletter.collectors.services import ServiceSelection, number
from newsletter.errors import SourceError
from newsletter.hosts import same_origin


def test_include_exclude_and_rename_match_any_key():
    selection = ServiceSelection(include=["mx*", "vpn*", "https://intranet*"], exclude=["*staging*"],
                                 rename={"https://mx1.corp.example:443": "Email", "42": "VPN"})
    assert selection.display_name(["mx1", 7, "https://mx1.corp.example:443"]) == "Email"  # renamed by URL
    assert selection.display_name(["vpn gateway", 42, "vpn.corp.example"]) == "VPN"  # renamed by id
    assert selection.display_name(["Intranet", 9, "https://intranet.corp.example"]) == "Intranet"  # its own name
    assert selection.display_name(["mx-staging", 8, "https://mx.staging.example"]) is None  # excluded wins
    assert selection.display_name(["Printer", 10, "https://print.corp.example"]) is None  # not included
    assert ServiceSelection().display_name([None, "", 11]) == "11"  # nameless: its id


def test_small_helpers():
    assert number("99.980") == 99.98 and number("60", int) == 60 and number(None) is None and number("n/a") is None
    with pytest.raises(SourceError, match="another server"):
        same_origin("http://127.0.0.1:9/x", "http://127.0.0.1:8/api", "Better Stack")
