"""Transports move one message to one recipient and say how it went.

`send()` calls `before_data()` at the last moment before the message data leaves, so the ledger
can commit `sending`; it then raises TempFailure / PermFailure when the server refused,
UnknownOutcome when the connection was lost after the data was sent, and TransportError when
the transport cannot work at all (connect, TLS, AUTH) and the run must stop.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Protocol

from newsletter.config import Config, SmtpSettings
from newsletter.errors import ConfigError, DeliveryError


class TransportError(DeliveryError):
    """The transport cannot deliver anything (connection, TLS or authentication failed)."""


class TempFailure(Exception):
    """Refused for now (4xx, 552): retried later."""


class PermFailure(Exception):
    """Refused for good (other 5xx): never retried."""


class UnknownOutcome(Exception):
    """The data went out but no answer came back: a person must decide."""


class Transport(Protocol):
    name: str

    def open(self) -> None: ...

    def send(self, message: EmailMessage, recipient: str, before_data: Callable[[], None]) -> str: ...

    def close(self) -> None: ...


def refusal(code: int, reply: bytes | str) -> Exception:
    """4xx and 552 are temporary (552: mailbox full, RFC 5321 7.3), other 5xx permanent."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    message = f"{code} {' '.join(text.split())}"
    return TempFailure(message) if 400 <= code < 500 or code == 552 else PermFailure(message)


class OutboxTransport:
    """Writes each message as an .eml file: the safe default, and what the demo uses."""

    name = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.written: list[Path] = []

    def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def send(self, message: EmailMessage, recipient: str, before_data: Callable[[], None]) -> str:
        safe = re.sub(r"[^A-Za-z0-9@._+-]", "_", recipient)[:120]
        target = self.folder / f"{len(list(self.folder.glob('*.eml'))) + 1:05d}-{safe}.eml"
        temporary = target.with_suffix(".tmp")
        before_data()
        temporary.write_bytes(message.as_bytes(policy=SMTP_POLICY))
        temporary.replace(target)
        self.written.append(target)
        return f"written to {target}"

    def close(self) -> None:
        pass


class SmtpTransport:
    """SMTP with STARTTLS, implicit TLS or none, optional AUTH, one connection for the whole run."""

    name = "smtp"

    def __init__(self, settings: SmtpSettings, sender: str) -> None:
        self.settings = settings
        self.sender = sender
        self._smtp: smtplib.SMTP | None = None

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
            raise TransportError(f"{where}: TLS failed ({exc.reason or exc}); check delivery.smtp.ca_file") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportError(f"{where}: cannot connect ({_describe(exc)})") from None
        if s.username:
            self._login(smtp, where)
        self._smtp = smtp

    def _login(self, smtp: smtplib.SMTP, where: str) -> None:
        s = self.settings
        if s.password is None:
            raise ConfigError("delivery.smtp.username is set but no password_env or password_file is")
        try:
            smtp.login(s.username, s.password.reveal())
        except smtplib.SMTPAuthenticationError as exc:
            smtp.close()
            raise TransportError(
                f"{where} refused the login for {s.username} ({exc.smtp_code}); check {s.password.hint}"
            ) from None
        except smtplib.SMTPException as exc:
            smtp.close()
            raise TransportError(f"{where}: login failed ({_describe(exc)})") from None

    def send(self, message: EmailMessage, recipient: str, before_data: Callable[[], None]) -> str:
        if self._smtp is None:
            self.open()
        smtp = self._smtp
        assert smtp is not None
        try:
            code, reply = smtp.mail(self.sender)
            if code != 250:
                smtp.rset()
                raise refusal(code, reply)
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                smtp.rset()
                raise refusal(code, reply)
            code, reply = smtp.docmd("DATA")
            if code != 354:
                smtp.rset()
                raise refusal(code, reply)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._smtp = None  # nothing was sent: the next send reconnects
            raise TempFailure(f"connection lost before the data ({_describe(exc)})") from None
        before_data()
        try:
            smtp.send(_dot_stuffed(message))
            code, reply = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._smtp = None
            raise UnknownOutcome(f"connection lost after the data was sent ({_describe(exc)})") from None
        if code != 250:
            raise refusal(code, reply)
        return reply.decode("utf-8", "replace")

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None


def _dot_stuffed(message: EmailMessage) -> bytes:
    data = message.as_bytes(policy=SMTP_POLICY)
    data = re.sub(rb"(?m)^\.", b"..", data)
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
        from email.utils import parseaddr

        return SmtpTransport(delivery.smtp, parseaddr(delivery.sender)[1])
    return OutboxTransport(config.outbox_dir / edition)
