"""The email package's SMTP policy, with a Subject that keeps its spaces in every mail client.

Python's email package (3.11) folds a Subject whose words need encoding with the space between two
of them left between two encoded words, where RFC 2047 (section 6.2) tells readers to drop it:
"Änderungen im Büro · 470" arrives as "Änderungen im Büro· 470". `email.header.Header` keeps such
spaces inside the encoded words. The Subject header class of this policy folds through it; an ASCII
subject is folded as the email package folds it.
"""

from __future__ import annotations

from email.header import Header
from email.headerregistry import HeaderRegistry, UniqueUnstructuredHeader
from email.policy import SMTP, Policy


class _Subject(UniqueUnstructuredHeader):
    def fold(self, *, policy: Policy) -> str:
        value = str(self)
        if value.isascii():
            return super().fold(policy=policy)
        encoded = Header(value, "utf-8", maxlinelen=policy.max_line_length or 78, header_name=self.name)
        return f"{self.name}: {encoded.encode(linesep=policy.linesep)}{policy.linesep}"


_HEADERS = HeaderRegistry()
_HEADERS.map_to_type("subject", _Subject)
SMTP_POLICY = SMTP.clone(header_factory=_HEADERS)
