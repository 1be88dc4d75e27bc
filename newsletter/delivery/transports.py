"""Transports move one message to one recipient and say how it went.

`send()` calls `before_data()` at the last moment before the message data leaves, so the ledger
can commit `sending`; it then raises TempFailure / PermFailure when the server refused,
ServerUnavailable (a TempFailure) when the server, not the person, is the trouble, UnknownOutcome
when the connection was lost after the data was sent, and TransportError when the transport cannot work at all
(connect, TLS, AUTH) and the run must stop.
"""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from newsletter.config import Config, SmtpSettings
from newsletter.delivery.addresses import check_address
from newsletter.delivery.message import Outgoing
from newsletter.errors import ConfigError, DeliveryError

log = logging.getLogger(__name__)


class TransportError(DeliveryError):
    """The transport cannot deliver anything (connection, TLS or authentication failed)."""


class TempFailure(Exception):
    """Refused for now (4xx, 552): retried later."""


class ServerUnavailable(TempFailure):
    """Not sent, for a reason that is the server's and not this person's: the connection failed
    before the data even after reconnecting (or 421), the sender was refused for now, the service
    is unavailable. Retried like a refusal, but it counts towards max_errors; a temporary refusal
    of the person (greylisting's 451 to RCPT) does not."""


class PermFailure(Exception):
    """Refused for good (other 5xx): never retried."""


class UnknownOutcome(Exception):
    """The data went out but no answer came back: a person must decide."""


class Transport(Protocol):
    name: str
    done_status: str  # the ledger status of a message the server took: "sent", or Graph's "accepted"

    def open(self) -> None: ...

    def send(self, out: Outgoing, before_data: Callable[[], None], after_data: Callable[[], None] | None = None) -> str:
        """Deliver `out`; call `before_data()` just before the data leaves, and `after_data()` (which
        never raises) while the server has it and has not answered yet; return the server's answer."""

    def close(self) -> None: ...


def refusal(code: int, reply: bytes | str) -> Exception:
    """4xx and 552 are temporary (552: mailbox full, RFC 5321 7.3), other 5xx permanent."""
    message = f"{code} {_text(reply)}"
    return TempFailure(message) if 400 <= code < 500 or code == 552 else PermFailure(message)


class OutboxTransport:
    """Writes each message as an .eml file: the safe default, and what the demo uses."""

    name = "outbox"
    done_status = "sent"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.written: list[Path] = []
        self._count: int | None = None

    def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def send(self, out: Outgoing, before_data: Callable[[], None], after_data: Callable[[], None] | None = None) -> str:
        safe = re.sub(r"[^A-Za-z0-9@._+-]", "_", out.recipient)[:120]
        if self._count is None:
            self._count = len(list(self.folder.glob("*.eml")))
        self._count += 1
        target = self.folder / f"{self._count:05d}-{safe}.eml"
        temporary = target.with_suffix(".tmp")
        before_data()
        temporary.write_bytes(out.data)
        temporary.replace(target)
        self.written.append(target)
        return f"written to {target}"

    def close(self) -> None:
        pass


class SmtpTransport:
    """SMTP with STARTTLS, implicit TLS or none, optional AUTH, one connection for the whole run."""

    name = "smtp"
    done_status = "sent"

    def __init__(self, settings: SmtpSettings, sender: str) -> None:
        self.settings = settings
        self.sender = sender
        self._smtp: smtplib.SMTP | None = None
        self.sent_on_connection = 0

    def _tls(self) -> ssl.SSLContext:
        cafile = str(self.settings.ca_file) if self.settings.ca_file else None
        return ssl.create_default_context(cafile=cafile)

    def open(self) -> None:
        s, where = self.settings, f"SMTP server {self.settings.host}:{self.settings.effective_port}"
        try:
            if s.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.effective_port, timeout=s.timeout_s,
                                                     context=self._tls())
            else:
                smtp = smtplib.SMTP(s.host, s.effective_port, timeout=s.timeout_s)
            smtp.ehlo()
            if s.security == "starttls":
                if not smtp.has_extn("starttls"):
                    smtp.close()
                    raise TransportError(f"{where} does not offer STARTTLS; check delivery.smtp.security")
                smtp.starttls(context=self._tls())
                smtp.ehlo()
        except ssl.SSLError as exc:
            raise TransportError(self._tls_problem(where, exc)) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportError(f"{where}: cannot connect ({_describe(exc)})") from None
        if s.username:
            self._login(smtp, where)
        if smtp.sock is not None:  # pipelined commands go out at once, not after the last data's ACK
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._smtp = smtp
        self.sent_on_connection = 0

    def _tls_problem(self, where: str, exc: ssl.SSLError) -> str:
        """What to change: an untrusted certificate is ca_file's business; a server that does not
        speak TLS at once (a STARTTLS or plain port asked for implicit TLS) is security's or port's."""
        s = self.settings
        if isinstance(exc, ssl.SSLCertVerificationError):
            return (f"{where}: TLS failed: the certificate is not trusted ({exc.verify_message or exc.reason}); "
                    "check delivery.smtp.ca_file (a private CA) and delivery.smtp.host (the name it was issued to)")
        if s.security == "tls":
            other = 'set security = "starttls"' + ("" if s.effective_port == 465 else " or port = 465")
            return (f"{where} did not answer TLS ({exc.reason or exc}): is port {s.effective_port} a STARTTLS or "
                    f"plain port? {other}")
        return f"{where}: TLS failed ({exc.reason or exc}); check delivery.smtp.security and delivery.smtp.port"

    def _login(self, smtp: smtplib.SMTP, where: str) -> None:
        s = self.settings
        if s.password is None:
            raise ConfigError("delivery.smtp.username is set but no password_env or password_file is")
        try:
            if "plain" in smtp.esmtp_features.get("auth", "").lower().split():
                smtp.user, smtp.password = s.username, s.password.reveal()
                smtp.auth("PLAIN", smtp.auth_plain)  # one answer, not one try per mechanism
            else:
                smtp.login(s.username, s.password.reveal())
        except smtplib.SMTPAuthenticationError as exc:
            smtp.close()
            raise TransportError(
                f"{where} refused the login for {s.username} ({exc.smtp_code}); check {s.password.hint}"
            ) from None
        except smtplib.SMTPException as exc:
            smtp.close()
            raise TransportError(f"{where}: login failed ({_describe(exc)})") from None

    def send(self, out: Outgoing, before_data: Callable[[], None], after_data: Callable[[], None] | None = None) -> str:
        """One message; a connection dropped (or 421) before the data is reopened and tried once more."""
        for attempt in (1, 2):
            if self._smtp is None:
                self.open()
            smtp = self._smtp
            assert smtp is not None
            try:
                self._envelope(smtp, out.recipient)
                break
            except _Dropped as exc:
                self._drop()
                if attempt == 2:
                    raise ServerUnavailable(f"connection lost before the data ({exc})") from None
                log.info("SMTP connection lost before the data (%s); reconnecting", exc)
        before_data()
        try:
            smtp.send(_dot_stuffed(out.data))
            if after_data is not None:
                after_data()
            code, reply = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise UnknownOutcome(f"connection lost after the data was sent ({_describe(exc)})") from None
        if code == 421:
            self._drop()
        if code != 250:
            raise refusal(code, reply)
        self.sent_on_connection += 1
        return f"{code} {_text(reply)}"

    def _envelope(self, smtp: smtplib.SMTP, recipient: str) -> None:
        """MAIL, RCPT (one recipient a message: its answer alone says if it was accepted), DATA."""
        if self.settings.messages_per_connection and self.sent_on_connection >= self.settings.messages_per_connection:
            raise _Dropped(f"{self.sent_on_connection} messages on this connection (messages_per_connection)")
        try:
            if smtp.has_extn("pipelining"):  # RFC 2920: one round trip for MAIL, RCPT and DATA
                # addresses were checked when read (one line, ASCII, one @): no quoting to redo per message
                smtp.send(f"MAIL FROM:<{self.sender}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n")
                replies = [smtp.getreply() for _ in range(3)]
            else:
                replies = []
                for command in (lambda: smtp.mail(self.sender), lambda: smtp.rcpt(recipient),
                                lambda: smtp.docmd("DATA")):
                    replies.append(command())
                    if replies[-1][0] not in (250, 251):
                        break
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Dropped(_describe(exc)) from None
        self._check_envelope(smtp, replies)

    def _check_envelope(self, smtp: smtplib.SMTP, replies: list[tuple[int, bytes]]) -> None:
        """The first refusal is the answer: MAIL's, else this recipient's RCPT, else DATA's.

        A permanent refusal of the sender (MAIL) is about the configuration, not this person: it
        stops the run with nobody marked, instead of failing everyone for good one by one.
        """
        for index, ((code, reply), expected) in enumerate(zip(replies, ((250,), (250, 251), (354,)), strict=False)):
            if code == 421:
                raise _Dropped(f"{code} {_text(reply)}")
            if code in expected:
                continue
            if replies[-1][0] == 354:  # a server that took DATA after refusing the recipient
                try:
                    smtp.send(".\r\n")
                    smtp.getreply()
                except (smtplib.SMTPServerDisconnected, OSError):
                    self._drop()
            self._reset(smtp)
            if index == 0 and code >= 500 and code != 552:
                raise TransportError(f"SMTP server {self.settings.host} refused the sender {self.sender} "
                                     f"({code} {_text(reply)}); check delivery.from and delivery.smtp")
            if index == 0:  # the sender refused for now: the server's trouble, for everyone
                raise ServerUnavailable(f"the sender refused for now: {code} {_text(reply)}")
            raise refusal(code, reply)

    def _reset(self, smtp: smtplib.SMTP) -> None:
        if self._smtp is None:
            return
        try:
            smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
        self._smtp = None
        self.sent_on_connection = 0

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None


class _Dropped(Exception):
    """The server closed the connection (or said 421) before the data: nothing was sent."""


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())


def _dot_stuffed(data: bytes) -> bytes:
    """RFC 5321 4.5.2: a line that starts with a dot gets another; then the end-of-data line."""
    data = data.replace(b"\r\n.", b"\r\n..")
    if data.startswith(b"."):
        data = b"." + data
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def make_transport(config: Config, edition: str) -> Transport:
    """The configured transport; the outbox keeps each edition (or test send) in its own folder."""
    delivery = config.delivery
    if delivery.transport == "smtp":
        return SmtpTransport(delivery.smtp, check_address(delivery.sender, named=True).address)
    if delivery.transport == "graph":
        from newsletter.delivery.graph import GraphTransport

        return GraphTransport(delivery.graph, delivery.sender)
    return OutboxTransport(config.outbox_dir / edition)
