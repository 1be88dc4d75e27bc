"""The SMTP transport: STARTTLS, implicit TLS or none, optional AUTH, `connections` at once.

Each message goes to one recipient (its RCPT answer alone says whether it was taken); MAIL, RCPT
and DATA are pipelined when the server offers it. A connection dropped before the data is reopened
and tried once more; lost after the data, the outcome is unknown.
"""

from __future__ import annotations

import ipaddress
import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from newsletter.binding import Secret
from newsletter.delivery.base import Transport, TransportContext, TransportError
from newsletter.delivery.smtp_pool import SmtpPool, send_one
from newsletter.delivery.smtp_replies import BoundedSMTP, BoundedSMTPS, describe
from newsletter.errors import ConfigError
from newsletter.hosts import is_loopback

if TYPE_CHECKING:
    from newsletter.binding import Where
    from newsletter.delivery.message import Outgoing

DEFAULT_CONNECTIONS = 4
MAX_CONNECTIONS = 32  # far more than a relay allows one client; more only shares the same link
QUIT_WAIT_S = 0.5  # for the answer to QUIT, after which the connection is closed anyway


@dataclass(frozen=True)
class SmtpSettings:
    """[delivery.smtp]: `connections` connections, each reused for the whole run."""

    host: str = "localhost"
    port: int | None = None  # 587 for starttls, 465 for tls, 25 for none
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: Secret | None = None
    timeout_s: float = 30.0
    ca_file: Path | None = None  # a private CA to trust besides the system's
    messages_per_connection: int = 0  # reconnect after this many (0: never); for servers that limit it
    connections: int = DEFAULT_CONNECTIONS  # sent over at once, each kept for the run; 1: one after another

    @property
    def effective_port(self) -> int:
        return self.port or {"starttls": 587, "tls": 465, "none": 25}[self.security]


class SmtpTransport(Transport):
    """SMTP with STARTTLS, implicit TLS or none, optional AUTH; each instance keeps one connection
    for the whole run, and the ledger sends through `connections` instances at once."""

    name = "smtp"
    Settings = SmtpSettings
    done_status = "sent"

    def __init__(self, settings: SmtpSettings, sender: str) -> None:
        self.settings = settings
        self.sender = sender
        self._smtp: smtplib.SMTP | None = None
        self.sent_on_connection = 0

    @classmethod
    def create(cls, settings: SmtpSettings, context: TransportContext) -> SmtpTransport:
        return cls(settings, context.sender)

    @property
    def connections(self) -> int:
        return self.settings.connections

    def another(self) -> SmtpTransport:
        return SmtpTransport(self.settings, self.sender)

    @classmethod
    def validate(cls, settings: SmtpSettings, where: Where) -> None:
        """A host is a name or an address, nothing more: "127.0.0.1:8025" would pass here and fail at
        the first `run`, so the port goes in `port`. IPv6 literals ("::1") have colons and are fine.
        A password goes in clear text only to this machine, as plain http:// goes only to loopback."""
        _check_host(settings, where)
        if not 1 <= settings.connections <= MAX_CONNECTIONS:
            raise where.error("connections", f"expected a number of connections from 1 to {MAX_CONNECTIONS}, got "
                              f"{settings.connections} (1 sends one message after another; relays often allow "
                              "a few per client)")
        if settings.security == "none" and settings.username and not is_loopback(settings.host):
            raise where.error("security", f"\"none\" would send the password of {settings.username} in clear "
                              f"text to {settings.host}; set security = \"starttls\" (port 587) or \"tls\" (465), "
                              "or remove username for a relay that accepts this host without a login")

    def _tls(self) -> ssl.SSLContext:
        cafile = str(self.settings.ca_file) if self.settings.ca_file else None
        return ssl.create_default_context(cafile=cafile)

    def open(self) -> None:
        s, where = self.settings, f"SMTP server {self.settings.host}:{self.settings.effective_port}"
        try:
            if s.security == "tls":
                smtp: smtplib.SMTP = BoundedSMTPS(s.host, s.effective_port, timeout=s.timeout_s,
                                                  context=self._tls())
            else:
                smtp = BoundedSMTP(s.host, s.effective_port, timeout=s.timeout_s)
            _hello(smtp)
            if s.security == "starttls":
                if not smtp.has_extn("starttls"):
                    smtp.close()
                    raise TransportError(f"{where} does not offer STARTTLS; check delivery.smtp.security")
                smtp.starttls(context=self._tls())
                _hello(smtp)
        except ssl.SSLError as exc:
            raise TransportError(self._tls_problem(where, exc)) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportError(f"{where}: cannot connect ({describe(exc)})") from None
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
            raise TransportError(f"{where}: login failed ({describe(exc)})") from None

    def send(self, out: Outgoing, before_data: Callable[[], None]) -> str:
        """One message, over the connection this instance keeps (opened when it is not), through
        the loop a run's connections share (smtp_pool.send_one): a connection dropped (or 421)
        before the data is reopened and tried once more."""
        return send_one(self, out, before_data)

    # what SmtpPool drives: the open connection's socket, and when it must be opened again ---------
    def pool(self) -> SmtpPool:
        return SmtpPool(self, self.connections)

    @property
    def socket(self) -> socket.socket | None:
        """The open connection's socket (TLS already started, logged in); None when closed."""
        return self._smtp.sock if self._smtp is not None else None

    @property
    def pipelining(self) -> bool:
        return self._smtp is not None and bool(self._smtp.has_extn("pipelining"))

    def reconnect_due(self) -> bool:
        """messages_per_connection reached: the next message goes over a new connection."""
        limit = self.settings.messages_per_connection
        return bool(limit) and self.sent_on_connection >= limit

    def drop(self) -> None:
        """Close the connection without QUIT (it is broken or the server asked); the next message opens one."""
        if self._smtp is not None:
            self._smtp.close()
        self._smtp = None
        self.sent_on_connection = 0

    def close(self) -> None:
        """QUIT, waiting briefly for its 221: everything is recorded by now, and a server that never
        answers must not hold the end of the run for a timeout_s per connection."""
        if self._smtp is not None:
            try:
                if self._smtp.sock is not None:
                    self._smtp.sock.settimeout(min(self.settings.timeout_s, QUIT_WAIT_S))
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None


def _hello(smtp: smtplib.SMTP) -> None:
    """EHLO, and its answer: a relay that allows no more connections from this host says so here
    (421) or in its greeting, and nothing can be sent over this connection."""
    code, reply = smtp.ehlo()
    if code != 250:
        smtp.close()
        raise smtplib.SMTPResponseException(code, reply)


def _check_host(smtp: SmtpSettings, where: Where) -> None:
    host, shown = smtp.host.strip(), repr(smtp.host)
    with_port = re.fullmatch(r"\[([^\]]*)\]:(\d+)|([^:\[\]]+):(\d+)", host)
    if with_port:
        name, port = (with_port[1], with_port[2]) if with_port[2] else (with_port[3], with_port[4])
        raise where.error("host", f'{shown} has a port in it: write host = "{name}" and port = {port}')
    if host.startswith("[") and host.endswith("]"):
        raise where.error("host", f'{shown}: write an IPv6 address without brackets: host = "{host[1:-1]}"')
    if "/" in host:
        raise where.error("host", f'{shown}: expected a host name or address, not a URL (e.g. "smtp.example.com")')
    if not host or any(c.isspace() for c in host) or (":" in host and not _is_ipv6(host)):
        raise where.error("host", f'{shown}: expected a host name or address (e.g. "smtp.example.com"); a port '
                          "goes in `port`")
    if smtp.port is not None and not 1 <= smtp.port <= 65535:
        raise where.error("port", f"expected a TCP port from 1 to 65535, got {smtp.port}")


def _is_ipv6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host.split("%")[0])  # a zone ("fe80::1%eth0") is for the socket
    except ValueError:
        return False
    return True


