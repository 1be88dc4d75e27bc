"""One SMTP connection's bytes for the loop that drives them all (smtp_loop.py): writing what the
non-blocking socket takes, reading complete replies as smtplib reads them, and refusing replies
that are not SMTP (a line over 8 KB, a reply over 64 KB) instead of holding them without end.
"""

from __future__ import annotations

import collections
import math
import socket
import ssl
import time
from typing import TYPE_CHECKING

from newsletter.delivery.smtp_replies import MAX_LINE, MAX_REPLY, Reply

if TYPE_CHECKING:
    from newsletter.delivery.connections import Attempt
    from newsletter.delivery.recipients import Recipient
    from newsletter.delivery.smtp import SmtpTransport

WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
# a connection's stages: waiting for a person, for the connection to be opened again (smtp_open.py),
# for the envelope's answers, for its `sending` to be on disk, for the answer to the data, for the
# answers to the cleanup after a refusal
IDLE, CONNECTING, ENVELOPE, MARKING, DATA, CLEANUP = "idle", "connecting", "envelope", "marking", "data", "cleanup"
ANSWERING = (ENVELOPE, DATA, CLEANUP)  # waiting for the server: timeout_s applies


class ProtocolError(OSError):
    """The server's bytes are not SMTP replies (a line too long, a reply without end)."""


class Link:
    """One connection's part of the loop: its socket, the person it sends to, what it waits for."""

    def __init__(self, transport: SmtpTransport) -> None:
        self.transport = transport
        self.sock: socket.socket | None = None
        self.attempt: Attempt | None = None
        self.upcoming: Recipient | None = None  # whose envelope went out with the data, not begun yet
        self.tries = 0  # envelopes sent for this attempt: a second drop before the data is the server's trouble
        self.stage = IDLE
        self.commands: list[bytes] = []  # stepwise (no PIPELINING): the envelope's commands still to send
        self.replies: list[Reply] = []
        self.expected = 0  # replies still awaited
        self.inbox = bytearray()
        self.lines: list[bytes] = []  # the lines of the reply being read
        self.reply_bytes = 0  # their size on the wire
        self.outbox: collections.deque[memoryview] = collections.deque()
        self.deadline = math.inf
        self.cleanup: list[bytes] = []  # after a refused envelope: ".", then RSET
        self.events = 0  # what the loop's selector waits for on this socket (smtp_loop.Loop._watch)

    def attach(self) -> None:
        sock = self.transport.socket
        assert sock is not None, "opened by SmtpTransport.open()"
        sock.setblocking(False)
        self.sock, self.inbox, self.lines, self.reply_bytes = sock, bytearray(), [], 0
        self.outbox = collections.deque()

    def detach(self) -> None:
        """Give the socket back to smtplib (blocking, with its timeout) for QUIT or a new message."""
        if self.sock is not None and self.transport.socket is self.sock:
            self.sock.settimeout(self.transport.settings.timeout_s)
        self.sock = None

    def write(self, *data: bytes | memoryview) -> None:
        self.outbox.extend(map(memoryview, data))
        self.flush()

    def flush(self) -> None:
        """Write what the socket takes now (several buffers in one system call where the socket
        can: not TLS); the rest when it is writable again.

        A connection that broke is not raised here, in the middle of a step, but told by the next
        read (the reset or the end of the stream), or by the answer's deadline: one path for it."""
        assert self.sock is not None
        gather = not isinstance(self.sock, ssl.SSLSocket)
        while self.outbox:
            try:
                written = self.sock.sendmsg(self.outbox) if gather and len(self.outbox) > 1 else \
                    self.sock.send(self.outbox[0])
            except WOULD_BLOCK:
                return
            except OSError:
                self.outbox.clear()
                return
            self.deadline = time.monotonic() + self.transport.settings.timeout_s
            while written and written >= len(self.outbox[0]):
                written -= len(self.outbox.popleft())
            if written:
                self.outbox[0] = self.outbox[0][written:]

    def read(self) -> list[Reply]:
        """The complete replies that arrived (multi-line ones joined with "\\n", as smtplib does).
        OSError: the connection is gone or the bytes are not SMTP.

        Reading does not move the deadline: an answer has timeout_s from the last byte written to
        be complete, however slowly a server trickles it."""
        assert self.sock is not None
        while True:  # a TLS socket may hold a whole record: read until the socket has nothing more
            try:
                data = self.sock.recv(65536)
            except WOULD_BLOCK:
                break
            if not data:  # replies that came with the close count: the next read tells the close
                if replies := self._replies():
                    return replies
                raise ConnectionResetError("the server closed the connection")
            self.inbox += data
            if not isinstance(self.sock, ssl.SSLSocket):
                break
        return self._replies()

    def _replies(self) -> list[Reply]:
        replies, start, inbox = [], 0, self.inbox
        while (end := inbox.find(b"\n", start)) >= 0:
            line = bytes(inbox[start:end + 1])
            start = end + 1
            self.reply_bytes += len(line)
            if len(line) > MAX_LINE:
                raise ProtocolError(f"a reply line of {len(line):,} bytes")
            if self.reply_bytes > MAX_REPLY:
                raise ProtocolError("a reply longer than 64 KB")
            self.lines.append(line[4:].strip(b" \t\r\n"))
            if line[3:4] == b"-":
                continue
            try:
                code = int(line[:3])
            except ValueError:
                code = -1
            replies.append((code, b"\n".join(self.lines)))
            self.lines, self.reply_bytes = [], 0
        del inbox[:start]
        if len(inbox) > MAX_LINE:
            raise ProtocolError(f"a reply line of over {MAX_LINE:,} bytes")
        return replies


def envelope_commands(sender: str, recipient: str) -> list[bytes]:
    """MAIL, RCPT and DATA; the addresses were checked when read (one line, ASCII, one @): no
    quoting to redo per message."""
    return [b"MAIL FROM:<%s>\r\n" % sender.encode(), b"RCPT TO:<%s>\r\n" % recipient.encode(), b"DATA\r\n"]
