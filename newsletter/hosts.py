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


def url_host(url: str) -> str | None:
    """The host a URL names, or None when urlsplit (which the checks use) and urllib3 (which
    connects) read different ones: "http://other\\@127.0.0.1/" is 127.0.0.1 to the one and `other`
    to the other, so a check of the one must not pass for the other. ValueError as urlsplit raises it."""
    from urllib3.util import parse_url  # 30 ms to import: only where a URL is checked (no preview of the demo)

    host = urlsplit(url).hostname
    try:
        connects = (parse_url(url).host or "").strip("[]").lower() or None
    except ValueError:
        return None
    return host if host == connects else None


def same_origin(next_url: str, base_url: str, vendor: str) -> str:
    """A next-page URL from the vendor, refused when it points elsewhere: the token must not follow it.
    It is read as urlsplit reads it and as urllib3 does, which connects: "http://other\\@vendor/" is the
    vendor to the one (user info "other\\") and the other server to the other (the host ends at "\\")."""
    from urllib3.util import parse_url  # only while paging, where requests has imported it already

    b, shown = urlsplit(base_url), "an address that cannot be read"
    try:
        a, connects = urlsplit(next_url), parse_url(next_url)
        shown = f"{connects.scheme}://{connects.host}"
        same = (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port) == (
            connects.scheme, (connects.host or "").strip("[]").lower() or None, connects.port)
    except ValueError:  # a port that is no number, an unclosed "[": no server at all
        same = False
    if not same:
        raise SourceError(f"{vendor} pointed the next page at another server ({shown}); "
                          "stopped so the token is not sent there")
    return next_url
