"""Build the MIME message: multipart/alternative, text first and HTML last, with list headers.

Header values are set through the email package's default policy, which refuses CR and LF in a
header; the subject is also folded to one line first, so no source text can add a header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from newsletter.compose.render import Newsletter

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")


def one_line(value: str) -> str:
    """Collapse control characters and line separators into spaces."""
    return " ".join(_CONTROL.sub(" ", value).split())


@dataclass(frozen=True)
class Envelope:
    """Who the message is from and about; the per-recipient `To` is given to `build_message`."""

    sender: str
    list_id: str | None = None
    reply_to: str | None = None

    @property
    def sender_address(self) -> str:
        return parseaddr(self.sender)[1]

    @property
    def domain(self) -> str:
        return self.sender_address.rpartition("@")[2] or "localhost"

    @property
    def list_header(self) -> str:
        return self.list_id or f"IT newsletter <newsletter.{self.domain}>"


def build_message(newsletter: Newsletter, envelope: Envelope, to: str, *, subject_prefix: str = "") -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = one_line(subject_prefix + newsletter.subject)
    message["From"] = one_line(envelope.sender)
    message["To"] = one_line(to)
    if envelope.reply_to:
        message["Reply-To"] = one_line(envelope.reply_to)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(idstring=f"newsletter.{newsletter.month}", domain=envelope.domain)
    message["List-Id"] = one_line(envelope.list_header)
    message["Auto-Submitted"] = "auto-generated"
    message["Precedence"] = "bulk"
    message["X-Auto-Response-Suppress"] = "OOF, AutoReply"  # no out-of-office storm from Exchange
    message.set_content(newsletter.text, subtype="plain", charset="utf-8")
    message.add_alternative(newsletter.html, subtype="html", charset="utf-8")
    if newsletter.images:
        html_part = message.get_payload()[-1]
        for image in newsletter.images:
            html_part.add_related(image.data, maintype="image", subtype=image.subtype, cid=f"<{image.cid}>",
                                  filename=image.filename, disposition="inline")
    return message
