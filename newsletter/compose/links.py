"""Which links and image addresses can go out in an email, and why the others cannot.

Every reader's mail client follows http, https and mailto links; a `javascript:` link is a script
(never run, and spam filters distrust it), `data:` is blocked, `file:`, `ftp:`, intranet schemes
and relative paths lead nowhere from an inbox. Images load from http(s), or from `cid:` (sent
inside the email). The composer records what people wrote that breaks these rules as a
`BadReference` with where it was written; the email checks (checks.py) refuse to send it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LINK_SCHEMES = ("http", "https", "mailto")
IMAGE_SCHEMES = ("http", "https", "cid")
_SCHEME = re.compile(r"^\s*([a-zA-Z][a-zA-Z0-9+.-]*):")
_WHY = {
    "javascript": "is a script: scripts never run in email and spam filters distrust them",
    "vbscript": "is a script: scripts never run in email and spam filters distrust them",
    "data": "is a data: URI: Gmail and Outlook block them",
    "file": "is a file on one computer: nobody else can open it",
}


@dataclass(frozen=True)
class BadReference:
    """A link or picture someone wrote that cannot go out as written."""

    origin: str  # where it was written: 'sources/highlights/2026-10.md ("New printers")'
    url: str
    problem: str  # what is wrong and what to do instead
    picture: bool = False


def scheme(url: str) -> str:
    """'HTTPS://x' -> 'https'; '' for a relative address."""
    match = _SCHEME.match(url)
    return match[1].lower() if match else ""


def link_problem(url: str) -> str:
    """Why `url` cannot be a link in an email; '' when it can."""
    kind = scheme(url)
    if kind in LINK_SCHEMES and (kind == "mailto" or url.split(":", 1)[1].startswith("//")):
        return ""
    return f"{_shown(url)} {_reason(kind)}; link to a web page (https://...) or an address (mailto:...)"


def image_problem(src: str) -> str:
    """Why `src` cannot be an image address in an email; '' when it can."""
    kind = scheme(src)
    if kind in IMAGE_SCHEMES and (kind not in ("http", "https") or src.split(":", 1)[1].startswith("//")):
        return ""
    return (f"{_shown(src)} {_reason(scheme(src))}; save the picture beside the highlights file and write "
            "![Alt](file.png)")


def _reason(kind: str) -> str:
    if kind in _WHY:
        return _WHY[kind]
    if not kind:
        return "is not a full address: nobody can follow it from an inbox"
    return f"is a {kind}: address: only {', '.join(LINK_SCHEMES)} work for every reader"


def _shown(url: str) -> str:
    return repr(url if len(url) <= 60 else url[:57] + "...")
