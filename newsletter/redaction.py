"""Keep secrets out of text that people or files will see: errors, logs, stored results.

A vendor's error page may quote what it was sent, and a secret travels in more than one form: raw
(`Bearer x`, `token x`, a Password header), URL-encoded (a query string or form body), JSON-escaped,
and base64 inside a Basic credential whose user part we may not know. `redact` masks all of them.
It must run on the whole text, before the text is cut to length: a cut secret no longer matches.

This module imports nothing heavy, so the runner can use it for sources that never touch HTTP.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import traceback
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote

MASK = "***"
MIN_SECRET = 4  # shorter values would mask ordinary words; no real credential is this short
# A run of base64 (standard or URL-safe), possibly URL-encoded or JSON-escaped: where a Basic
# credential hides. Decoded at every alignment, since a prefix may be glued to it.
_BASE64_RUN = re.compile(r"(?:[A-Za-z0-9+/_-]|\\/|%[0-9A-Fa-f]{2}){8,}={0,2}(?:%3[Dd]){0,2}")


def wire_forms(value: str) -> set[str]:
    """The forms `value` takes on the wire and in an echo of it."""
    forms = {value, quote(value, safe=""), quote_plus(value), quote(value), json.dumps(value)[1:-1],
             html.escape(value)}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(value.encode()).decode()
        forms |= {encoded, encoded.rstrip("=")}
    forms |= {form.replace("/", "\\/") for form in forms}
    return {form for form in forms if len(form) >= MIN_SECRET}


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every form of every secret (and every base64 run that decodes to hold one) masked."""
    values = sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True)
    if not values or not text:
        return text
    forms = sorted({form for value in values for form in wire_forms(value)}, key=len, reverse=True)
    text = re.sub("|".join(_pattern(form) for form in forms), MASK, text)
    return _BASE64_RUN.sub(lambda match: MASK if _hides(match.group(), values) else match.group(), text)


def redacted_traceback(exc: BaseException, secrets: Iterable[str | None]) -> str:
    """The traceback of `exc` (its causes too) with every form of every secret masked: what `-vv`
    logs of an unforeseen failure, whose text a library may have filled with the request it sent."""
    return redact("".join(traceback.format_exception(exc)).rstrip(), secrets)


def header_secrets(headers: Iterable[tuple[str, str]]) -> list[str]:
    """Values of credential headers as sent, and their credential part (`Basic <this>`)."""
    found = []
    for name, value in headers:
        lowered = name.lower()
        if lowered in ("authorization", "proxy-authorization", "cookie", "password") or any(
                word in lowered for word in ("token", "secret", "key", "password", "auth")):
            found.append(value)
            found.extend(part for part in value.split()[1:] if len(part) >= MIN_SECRET)
    return found


def _pattern(form: str) -> str:
    """A regex for `form` in which %XX escapes match in either case (servers differ)."""
    return re.sub(r"%([0-9A-F]{2})", lambda m: f"%(?i:{m[1]})", re.escape(form))


def _hides(run: str, values: list[str]) -> bool:
    """Whether a base64 run, read at any alignment, decodes to text holding one of `values`."""
    token = unquote(run.replace("\\/", "/")).rstrip("=")
    for skip in range(4):
        body = token[skip:]
        if len(body) % 4 == 1:
            body = body[:-1]
        body += "=" * (-len(body) % 4)
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                decoded = decode(body).decode("latin-1")
            except (binascii.Error, ValueError):
                continue
            if any(value in decoded for value in values):
                return True
    return False
