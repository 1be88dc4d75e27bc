"""Build the MIME message: multipart/alternative, text first and HTML last, with list headers.

Header values are set through the email package's default policy, which refuses CR and LF in a
header; every value is also folded to one line first, and again after the policy decoded any
encoded word (`=?utf-8?q?=0D=0A...?=`), so no source text and no recipient name can add a header.
"""

from __future__ import annotations

import binascii
import email.errors
import itertools
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import formatdate, make_msgid
from functools import cached_property

from newsletter.compose.personal import Personalizer, Pieces
from newsletter.compose.pictures import InlineImage
from newsletter.compose.render import Newsletter
from newsletter.delivery.addresses import check_address
from newsletter.delivery.headers import SMTP_POLICY, to_line
from newsletter.delivery.recipients import Recipient

_PLAIN = re.compile(r"[ -<>-~]*")  # printable ASCII but "=": quoted-printable as it is
_LINE_END = re.compile(r"\r\n|\r|\n")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")


FIXED_HEADERS = (
    ("Auto-Submitted", "auto-generated"),
    ("Precedence", "bulk"),
    ("X-Auto-Response-Suppress", "OOF, AutoReply"),  # no out-of-office storm from Exchange
)


def one_line(value: str) -> str:
    """Collapse control characters and line separators into spaces."""
    return " ".join(_CONTROL.sub(" ", value).split())


@dataclass(frozen=True)
class Envelope:
    """Who the message is from and about; the per-recipient `To` is given to `build_message`."""

    sender: str
    list_id: str | None = None
    reply_to: str | None = None

    @cached_property
    def sender_address(self) -> str:
        return check_address(self.sender, named=True).address

    @cached_property
    def domain(self) -> str:
        return self.sender_address.rpartition("@")[2] or "localhost"

    @property
    def list_header(self) -> str:
        return self.list_id or f"IT newsletter <newsletter.{self.domain}>"


def set_header(message: EmailMessage, name: str, value: str | Address) -> None:
    """Set a header whose value, even once its encoded words are decoded, is one line."""
    message[name] = value if isinstance(value, Address) else one_line(value)
    for _ in range(3):  # an encoded word may decode to another encoded word
        decoded = str(message[name])
        if not _CONTROL.search(decoded):
            return
        del message[name]
        message[name] = one_line(decoded)
    raise ValueError(f"the {name} header cannot be made safe")


def safe_name(name: str) -> str:
    """A display name as one line of plain text: encoded words decoded (the email package would
    otherwise decode `=?utf-8?q?=0D=0A?=` into a raw line break when it writes an address)."""
    for _ in range(3):
        if "=?" not in name:
            break
        try:
            name = str(make_header(decode_header(name)))
        except (ValueError, LookupError, email.errors.HeaderParseError):
            break
    return one_line(name).replace("=?", "= ?")


def recipient_address(to: Recipient | str) -> Address:
    if not isinstance(to, Recipient):  # a configured address, checked when the config was read
        checked = check_address(to, named=True)
        to = Recipient(checked.address or to, checked.name)
    return Address(display_name=safe_name(to.name), addr_spec=one_line(to.email))


def build_message(newsletter: Newsletter, envelope: Envelope, to: Recipient | str, *,
                  subject_prefix: str = "", message_id: str | None = None) -> EmailMessage:
    message = EmailMessage(policy=SMTP_POLICY)  # its Subject keeps its spaces (headers.py)
    set_header(message, "Subject", subject_prefix + newsletter.subject)
    set_header(message, "From", recipient_address(envelope.sender))
    set_header(message, "To", recipient_address(to))
    if envelope.reply_to:
        set_header(message, "Reply-To", recipient_address(envelope.reply_to))
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = message_id or make_msgid(idstring=f"newsletter.{newsletter.month}",
                                                     domain=envelope.domain)
    set_header(message, "List-Id", envelope.list_header)
    for name, value in FIXED_HEADERS:
        message[name] = value
    message.set_content(newsletter.text, subtype="plain", charset="utf-8")
    message.add_alternative(newsletter.html, subtype="html", charset="utf-8")
    if newsletter.images:
        html_part = message.get_payload()[-1]
        for image in newsletter.images:
            html_part.add_related(image.data, maintype="image", subtype=image.subtype, cid=f"<{image.cid}>",
                                  filename=image.filename, disposition="inline")
    return message


def as_bytes(message: EmailMessage) -> bytes:
    """The message as it goes on the wire: CRLF line ends, long lines folded."""
    return message.as_bytes(policy=SMTP_POLICY)


class Outgoing:
    """One message ready for a transport: to whom, its id for the ledger, the bytes on the wire.

    `data` is the whole message; `for_smtp()` the same as SMTP's DATA sends it (dot-stuffed, with
    the end-of-data line). A builder that made the message from pieces gives those instead, and
    each form is joined only when a transport asks for it: an SMTP run never joins `data`, and the
    pieces' own stuffing replaces a scan of every message's 60 KB for lines that start with a dot.
    """

    __slots__ = ("_data", "_pieces", "_smtp_data", "message_id", "recipient")

    def __init__(self, recipient: str, message_id: str, data: bytes | None = None, *,
                 pieces: list[bytes] | None = None) -> None:
        assert (data is None) != (pieces is None), "the whole message or its pieces"
        self.recipient, self.message_id = recipient, message_id
        self._data, self._pieces, self._smtp_data = data, pieces, None

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = b"".join(self._pieces)
        return self._data

    def for_smtp(self) -> bytes:
        if self._smtp_data is None:
            self._smtp_data = (b"".join(stuffed(self._pieces)) + b".\r\n" if self._pieces is not None
                               else dot_stuffed(self.data))
        return self._smtp_data


def dot_stuffed(data: bytes) -> bytes:
    """RFC 5321 4.5.2: a line that starts with a dot gets another; then the end-of-data line."""
    data = _stuffed_lines(data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _stuffed_lines(data: bytes) -> bytes:
    """Each line of `data` (which starts at a line start) that starts with a dot, with one more."""
    data = data.replace(b"\r\n.", b"\r\n..")
    return b"." + data if data.startswith(b".") else data


class MessageFactory:
    """Builds each person's message fast: shared headers folded once, the template's own text
    quoted-printable-encoded once per edition, only the per-person values encoded per person.

    The inline images (charts, logo, pictures) are made into MIME parts by the email package once
    per edition, and their bytes, with the boundary of the multipart/related part around them, are
    spliced into every message: an edition's images cost a copy, not the 10 ms a message that
    folding and encoding them through the email package would (tests/test_delivery_message.py
    checks each message parses to the email package's own). Only an address that is not ASCII
    (SMTPUTF8) still goes through the email package.
    """

    def __init__(self, envelope: Envelope, personalizer: Personalizer, *, subject_prefix: str = "") -> None:
        self.envelope = envelope
        self.personalizer = personalizer
        self.subject_prefix = subject_prefix
        shared = EmailMessage()
        set_header(shared, "From", recipient_address(envelope.sender))
        if envelope.reply_to:
            set_header(shared, "Reply-To", recipient_address(envelope.reply_to))
        set_header(shared, "List-Id", envelope.list_header)
        for name, value in FIXED_HEADERS:
            shared[name] = value
        self._shared = b"".join(SMTP_POLICY.fold_binary(k, v) for k, v in shared.items())
        self._subjects: dict[str, bytes] = {}
        self._encoded: dict[int, _Encoded] = {}  # id of a static chunk -> its encoding (and dot-stuffed)
        self._token = uuid.uuid4().hex[:12].encode()
        self._numbers = itertools.count(1)  # next() is atomic: parallel connections build at once
        self._dated: tuple[int, bytes] = (-1, b"")
        self._images = image_parts(personalizer.newsletter.images, b"=_newsletter_r_%s" % self._token)

    def message_id(self) -> str:
        return make_msgid(idstring=f"newsletter.{self.personalizer.newsletter.month}", domain=self.envelope.domain)

    def build(self, to: Recipient, fields: dict[str, str], message_id: str | None = None,
              pieces: Pieces | None = None) -> Outgoing:
        """The person's message; `pieces`: their fields already filled in (Personalizer.pieces)."""
        message_id = message_id or self.message_id()
        if not to.email.isascii():
            edition = self.personalizer.for_recipient(fields)
            message = build_message(edition, self.envelope, to, subject_prefix=self.subject_prefix,
                                    message_id=message_id)
            return Outgoing(to.email, message_id, as_bytes(message))
        subject, text, html = pieces or self.personalizer.pieces(fields)
        # "=_" occurs neither in quoted-printable nor in base64: a counter is a safe boundary
        boundary = b"=_newsletter_a_%s_%d" % (self._token, next(self._numbers))
        parts = [self._subject(subject), self._to(to),
                 b"Date: %s\r\nMessage-ID:\r\n %s\r\n" % (self._date(), message_id.encode()),
                 self._shared,
                 b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary="%s"\r\n\r\n' % boundary]
        encoded = self._encoded
        for subtype, chunks in ((b"plain", text), (b"html", html)):
            parts.append(b"--%s\r\n" % boundary)
            if subtype == b"html" and self._images:
                parts.append(self._images.opening)
            parts.append(b'Content-Type: text/%s; charset="utf-8"\r\n'
                         b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" % subtype)
            # a static chunk's encoding by its id: the template keeps it alive, so no other string
            # can have that id; anything else is encoded now (and cached if it is static after all)
            parts.extend([encoded.get(id(chunk)) or self._encode(chunk) for chunk in chunks])
            parts.append(b"\r\n")
        if self._images:
            parts.append(self._images.closing)
        parts.append(b"--%s--\r\n" % boundary)
        return Outgoing(to.email, message_id, pieces=parts)

    def _encode(self, chunk: str) -> _Encoded:
        """A chunk of a part, quoted-printable: it starts and ends at a line start, so it is dot-stuffed
        alone (once per edition for the template's own text)."""
        if not self.personalizer.is_static(chunk):
            encoded = quoted_printable(chunk)
            return _Encoded(encoded)
        cached = self._encoded.get(id(chunk))
        if cached is None:
            encoded = quoted_printable(chunk)
            cached = self._encoded[id(chunk)] = _Encoded(encoded, _stuffed_lines(encoded))
        return cached

    def _date(self) -> bytes:
        """The Date header's value, formatted once a second."""
        second, dated = int(time.time()), self._dated
        if dated[0] != second:
            dated = self._dated = (second, formatdate(second, localtime=True).encode())
        return dated[1]

    def _to(self, to: Recipient) -> bytes:
        return to_line(safe_name(to.name), to.email)

    def _subject(self, subject: str) -> bytes:
        """The folded Subject line, computed once per distinct subject (once, without [[ fields ]])."""
        known = self._subjects  # replaced whole, never changed: parallel connections read it safely
        if subject in known:
            return known[subject]
        head = EmailMessage(policy=SMTP_POLICY)
        set_header(head, "Subject", self.subject_prefix + subject)
        folded = SMTP_POLICY.fold_binary("Subject", head["Subject"])
        self._subjects = {subject: folded}
        return folded


@dataclass(frozen=True)
class ImageParts:
    """An edition's inline images as the bytes around its HTML part: `opening` starts the
    multipart/related part and its first part (the HTML's headers follow), `closing` ends the HTML
    part's body and holds every image part and the related part's final boundary."""

    opening: bytes
    closing: bytes


def image_parts(images: tuple[InlineImage, ...], boundary: bytes) -> ImageParts | None:
    """The images' MIME parts, headers folded and data base64-encoded by the email package, once per
    edition. The boundary is the edition's: its parts are the same bytes in every message."""
    if not images:
        return None
    closing = []
    for image in images:
        part = MIMEPart(policy=SMTP_POLICY)
        part.set_content(image.data, maintype="image", subtype=image.subtype, cid=f"<{image.cid}>",
                         filename=image.filename, disposition="inline")
        closing.append(b"--%s\r\n%s\r\n" % (boundary, part.as_bytes(policy=SMTP_POLICY).rstrip(b"\r\n")))
    opening = b'Content-Type: multipart/related;\r\n boundary="%s"\r\n\r\n--%s\r\n' % (boundary, boundary)
    return ImageParts(opening, b"".join(closing) + b"--%s--\r\n" % boundary)


class _Encoded(bytes):
    """An encoded chunk that knows its dot-stuffed form (`stuffed`), when it was worth keeping."""

    stuffed: bytes | None

    def __new__(cls, data: bytes, stuffed: bytes | None = None) -> _Encoded:
        made = super().__new__(cls, data)
        made.stuffed = stuffed
        return made


def stuffed(parts: list[bytes]) -> Iterator[bytes]:
    """The message's pieces dot-stuffed: headers, boundaries and base64 never start a line with a dot,
    encoded chunks are stuffed alone (each starts at a line start), the edition's once."""
    for part in parts:
        if isinstance(part, _Encoded):
            yield part.stuffed if part.stuffed is not None else _stuffed_lines(part)
        else:
            yield part


def quoted_printable(chunk: str) -> bytes:
    """One piece of a part, CRLF line ends, ending at a line end: a soft break (`=`) if its text does
    not, so encoded pieces join into lines of at most 76 characters."""
    if len(chunk) < 76 and _PLAIN.fullmatch(chunk):  # a short per-person value: nothing to encode
        return chunk.encode("ascii") + b"=\r\n"
    data = _LINE_END.sub("\r\n", chunk).encode("utf-8")  # a lone CR is a line end too, never raw on the wire
    encoded = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    if b"\r\n" not in data:  # soft breaks take the first line end found: there was none
        encoded = encoded.replace(b"\n", b"\r\n")
    return encoded if encoded.endswith(b"\r\n") else encoded + b"=\r\n"
