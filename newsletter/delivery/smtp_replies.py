"""What an SMTP server's replies mean for the person being sent to, apart from how they are read
and written (smtp_loop.py drives the exchange; smtp.py describes failures to connect and log in).

A reply is `(code, text)` as smtplib gives it. Only the outcome is decided here; writing the
cleanup (the end of data after a refused recipient, RSET) is the driver's business.
"""

from __future__ import annotations

import math
import smtplib
import socket
import time
from typing import Any

from newsletter.delivery.base import PermFailure, ServerUnavailable, TempFailure, TransportError

Reply = tuple[int, bytes]
ENVELOPE_EXPECTED = ((250,), (250, 251), (354,))  # MAIL, RCPT, DATA


class Dropped(Exception):
    """The server closed the connection (or said 421) before the data: nothing was sent."""


MAX_LINE = 8192  # as smtplib: a longer reply line is the server's fault
MAX_REPLY = 64 * 1024  # a reply of endless continuation lines ends here


class _BoundedFile:
    """The reply stream smtplib reads lines from, holding each reply to MAX_REPLY bytes and to one
    timeout for the whole of it: smtplib's own timeout bounds each read, and it takes continuation
    lines without end, so a greeting that never ends would hold a run for ever."""

    def __init__(self, raw: Any, timeout: float | None) -> None:
        self.raw, self.timeout = raw, timeout
        self.start()

    def start(self) -> None:
        self.size, self.deadline = 0, time.monotonic() + (self.timeout or math.inf)

    def readline(self, limit: int = -1) -> bytes:
        if self.size > MAX_REPLY or time.monotonic() > self.deadline:
            raise TimeoutError(f"an answer that did not end within {self.timeout:g} s or {MAX_REPLY // 1024} KB")
        line = self.raw.readline(limit)
        self.size += len(line)
        return line

    def close(self) -> None:
        self.raw.close()


class BoundedReplies:
    """Mixed into smtplib.SMTP (and SMTP_SSL) for opening a connection: every reply bounded (_BoundedFile)."""

    file: Any
    sock: Any
    timeout: float | None

    def getreply(self) -> tuple[int, bytes]:
        if self.file is None and self.sock is not None:
            self.file = _BoundedFile(self.sock.makefile("rb"), self.timeout)
        elif isinstance(self.file, _BoundedFile):
            self.file.start()
        return super().getreply()  # type: ignore[misc]


class BoundedSMTP(BoundedReplies, smtplib.SMTP):
    pass


class BoundedSMTPS(BoundedReplies, smtplib.SMTP_SSL):
    pass


def envelope_problem(replies: list[Reply], host: str, sender: str) -> Exception | None:
    """None when MAIL, RCPT and DATA were all taken; else what the first refusal means.

    Dropped (421): reconnect and try again. A permanent refusal of the sender (MAIL) is about the
    configuration, not this person: TransportError stops the run with nobody marked, instead of
    failing everyone for good one by one. The sender refused for now is the server's trouble, for
    everyone: ServerUnavailable. Otherwise the recipient's (or DATA's) refusal, by its code.
    """
    for index, ((code, reply), expected) in enumerate(zip(replies, ENVELOPE_EXPECTED, strict=False)):
        if code == 421:
            return Dropped(f"{code} {reply_text(reply)}")
        if code in expected:
            continue
        if out_of_step(code):  # the connection's answers are no longer its commands': start again on a new one
            return Dropped(f"an answer out of step ({code} {reply_text(reply)})")
        if index == 0 and code >= 500 and code != 552:
            return TransportError(f"SMTP server {host} refused the sender {sender} ({code} {reply_text(reply)}); "
                                  "check delivery.from and delivery.smtp")
        if index == 0:
            return ServerUnavailable(f"the sender refused for now: {code} {reply_text(reply)}")
        return refusal(code, reply)
    return None


def out_of_step(code: int) -> bool:
    """Neither a refusal (4xx, 5xx) nor the answer awaited: a server's unasked 250 shifts every
    answer after it by one, and a line that is not a reply reads as -1. Never a refusal of a person."""
    return not 400 <= code < 600


def refusal(code: int, reply: bytes | str) -> Exception:
    """421 is the server going away (it counts towards max_errors); other 4xx and 552 are temporary
    (552: mailbox full, RFC 5321 7.3), other 5xx permanent."""
    message = f"{code} {reply_text(reply)}"
    if code == 421:
        return ServerUnavailable(message)
    return TempFailure(message) if 400 <= code < 500 or code == 552 else PermFailure(message)


def reply_text(reply: bytes | str) -> str:
    """The reply's text on one line, whatever the server sent (it goes into the ledger and logs)."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())


def describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {reply_text(exc.smtp_error)}"
    return str(exc) or type(exc).__name__
