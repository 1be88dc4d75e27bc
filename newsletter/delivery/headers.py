"""The email package's SMTP policy, with a Subject that keeps its spaces in every mail client.

Python's email package (3.11) folds a Subject whose words need encoding with the space between two
of them left between two encoded words, where RFC 2047 (section 6.2) tells readers to drop it:
"Änderungen im Büro · 470" arrives as "Änderungen im Büro· 470". `email.header.Header` keeps such
spaces inside the encoded words. The Subject header class of this policy folds through it; an ASCII
subject is folded as the email package folds it. `to_line` folds a person's To line for the
message builder, which does not go through the email package for each person.
"""

from __future__ import annotations

from email.header import Header
from email.headerregistry import Address, HeaderRegistry, UniqueUnstructuredHeader
from email.message import EmailMessage
from email.policy import SMTP, Policy
from email.utils import formataddr

LINE = 78  # RFC 5322's line length a header is folded to
WORDS = 76  # the line email.header folds encoded words to: after the fold's space, at most 75 (RFC 2047)


class _Subject(UniqueUnstructuredHeader):
    def fold(self, *, policy: Policy) -> str:
        value = str(self)
        if value.isascii():
            return super().fold(policy=policy)
        encoded = Header(value, "utf-8", maxlinelen=WORDS, header_name=self.name)
        return f"{self.name}: {encoded.encode(linesep=policy.linesep)}{policy.linesep}"


_HEADERS = HeaderRegistry()
_HEADERS.map_to_type("subject", _Subject)
SMTP_POLICY = SMTP.clone(header_factory=_HEADERS)


def to_line(name: str, address: str) -> bytes:
    """One person's To line, folded where it must be: as one line for a short ASCII name (most of
    them, cheaply), an encoded name split into words of at most 75 characters (RFC 2047) through
    email.header, a long ASCII name by the email package (rare: it costs a millisecond)."""
    if name.isascii():
        line = "To: " + formataddr((name, address))
        if len(line) <= LINE:
            return line.encode("ascii") + b"\r\n"
        head = EmailMessage(policy=SMTP_POLICY)
        head["To"] = Address(display_name=name, addr_spec=address)
        return SMTP_POLICY.fold_binary("To", head["To"])
    encoded = Header(name, "utf-8", maxlinelen=WORDS, header_name="To").encode(linesep="\r\n")
    last = encoded.rsplit("\r\n", 1)[-1]
    gap = " " if len(last) + len(address) + 3 <= LINE else "\r\n "
    return f"To: {encoded}{gap}<{address}>\r\n".encode("ascii")
