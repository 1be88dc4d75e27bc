"""Hosts: which are this machine (the one rule behind "plain http:// only to loopback" for sources
and "a password in clear text only to loopback" for SMTP), and whether a vendor's next-page URL stays
on the server the token was meant for."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from newsletter.errors import SourceError


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1: traffic that never leaves this machine."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def same_origin(next_url: str, base_url: str, vendor: str) -> str:
    """A next-page URL from the vendor, refused when it points elsewhere: the token must not follow it."""
    a, b = urlsplit(next_url), urlsplit(base_url)
    if (a.scheme, a.hostname, a.port) != (b.scheme, b.hostname, b.port):
        raise SourceError(f"{vendor} pointed the next page at another server ({a.scheme}://{a.hostname}); "
                          "stopped so the token is not sent there")
    return next_url
