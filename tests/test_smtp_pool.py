"""The SMTP connections driven from one thread (delivery/smtp_pool.py): the ledger's first promise
against a slow disk, and servers whose replies are hostile or never come."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import socketserver
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import pytest

from newsletter.delivery.ledger import DeliveryPlan, deliver
from newsletter.delivery.message import Envelope
from newsletter.state_dir import DB_NAME
from newsletter.store import Store
from tests.test_delivery_smtp import EDITION, people, plan, smtp

MANY = [f"m{i:02d}@example.com" for i in range(9)]


def test_no_data_leaves_before_its_sending_mark_is_on_disk(smtp_server, tmp_path, monkeypatch):
    """Each flush is slow (30 ms): the data of a person reaches the server only once a flush that
    began after their `sending` was committed has ended."""
    durable: set[str] = set()
    early: list[str] = []
    lock = threading.Lock()
    box = smtp_server.mailbox
    handle_data = box.handle_DATA

    async def checking(server, session, envelope):
        with lock:
            early.extend(r for r in envelope.rcpt_tos if r not in durable)
        return await handle_data(server, session, envelope)

    with Store.open(tmp_path / "state") as store:
        flush = store.flush
        reader = sqlite3.connect(str(tmp_path / "state" / DB_NAME), check_same_thread=False)

        def slow_flush() -> None:
            committed = {r for (r,) in reader.execute("SELECT recipient FROM deliveries WHERE status='sending'")}
            time.sleep(0.03)
            flush()
            with lock:
                durable.update(committed)

        store.flush = slow_flush
        monkeypatch.setattr(box, "handle_DATA", checking)  # this server's handler only
        try:
            report = deliver(store, EDITION, people(*MANY), smtp(smtp_server, 3), plan())
        finally:
            reader.close()
    assert report.counts == {"sent": len(MANY)}
    assert early == [], f"data of {early} arrived before their `sending` was flushed"


def test_each_connections_last_person_is_sent_in_the_ledger_before_its_next_message_arrives(smtp_server, tmp_path,
                                                                                            monkeypatch):
    """`sent` rides with the connection's next `sending` in one commit: read from the file as a
    run after a crash would, the person before on the same connection is `sent` by then."""
    box, last_on = smtp_server.mailbox, {}
    problems: list[str] = []
    handle_data = box.handle_DATA
    path = tmp_path / "state" / DB_NAME

    async def checking(server, session, envelope):
        before = last_on.get(session.peer)
        if before is not None:
            db = sqlite3.connect(str(path))
            (status,) = db.execute("SELECT status FROM deliveries WHERE recipient=?", (before,)).fetchone()
            db.close()
            if status != "sent":
                problems.append(f"{before} is {status} while its connection sends {envelope.rcpt_tos[0]}")
        last_on[session.peer] = envelope.rcpt_tos[0]
        return await handle_data(server, session, envelope)

    monkeypatch.setattr(box, "handle_DATA", checking)  # this server's handler only
    with Store.open(tmp_path / "state") as store:
        report = deliver(store, EDITION, people(*MANY), smtp(smtp_server, 3), plan())
    assert report.counts == {"sent": len(MANY)} and len(last_on) == 3
    assert problems == []


class Hostile(socketserver.BaseRequestHandler):
    """Just enough SMTP (with PIPELINING), and for chosen recipients a bad answer to their data:
    a line without end, continuation lines without end, or nothing at all."""

    faults: ClassVar[dict[str, str]] = {}  # each server its own (the fixture's subclass)

    def handle(self) -> None:
        sock, buffer, recipient = self.request, b"", ""
        sock.sendall(b"220 hostile ESMTP\r\n")
        while True:
            while b"\r\n" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            line, buffer = buffer.split(b"\r\n", 1)
            verb = line[:4].upper()
            if verb == b"EHLO":
                sock.sendall(b"250-hostile\r\n250 PIPELINING\r\n")
            elif verb == b"RCPT":
                recipient = line.split(b"<")[1].split(b">")[0].decode()
                sock.sendall(b"250 ok\r\n")
            elif verb == b"DATA":
                sock.sendall(b"354 go on\r\n")
                while b"\r\n.\r\n" not in buffer:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                buffer = buffer.split(b"\r\n.\r\n", 1)[1]
                buffer = self.data_ended(sock, buffer, recipient)
                if buffer is None:
                    return
            elif verb == b"QUIT":
                sock.sendall(b"221 bye\r\n")
                return
            else:
                sock.sendall(b"250 ok\r\n")

    def data_ended(self, sock: socket.socket, buffer: bytes, recipient: str) -> bytes | None:
        """Answer a message's data (`buffer`: what came after it); None once the connection is to
        be left as it is."""
        return buffer if self._answer(sock, self.faults.get(recipient)) else None

    @staticmethod
    def _answer(sock: socket.socket, fault: str | None) -> bool:
        """Answer the data; False once the connection is to be left as it is."""
        try:
            if fault == "endless line":
                while True:
                    sock.sendall(b"2" * 4096)
            if fault == "endless reply":
                while True:
                    sock.sendall(b"250-still going\r\n" * 256)
            if fault == "endless empty lines":
                while True:
                    sock.sendall(b"250-\r\n" * 1024)
            if fault == "trickle":  # a byte at a time, each well within timeout_s, never a whole line
                while True:
                    sock.sendall(b"2")
                    time.sleep(0.2)
            if fault == "silence":
                time.sleep(5)
                return False
        except OSError:  # the client hung up on it: what it should do
            return False
        sock.sendall(b"250 2.0.0 queued\r\n")
        return True


@contextlib.contextmanager
def serving(handler: type[socketserver.BaseRequestHandler]) -> Iterator[socketserver.ThreadingTCPServer]:
    """`handler` serving on 127.0.0.1 (a port of its own) until the block ends."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def hostile():
    with serving(type("HostileHere", (Hostile,), {"faults": {}})) as server:
        yield server


@pytest.mark.parametrize("fault", ["endless line", "endless reply", "endless empty lines", "trickle", "silence"])
def test_an_answer_to_the_data_that_never_ends_or_never_comes_is_unknown_and_the_run_goes_on(hostile, tmp_path,
                                                                                             fault):
    hostile.RequestHandlerClass.faults["m03@example.com"] = fault
    host, port = hostile.server_address
    server = type("Server", (), {"host": host, "port": port})
    started = time.monotonic()
    with Store.open(tmp_path / "state") as store:
        transport = smtp(server, 2)
        transport.settings = dataclasses.replace(transport.settings, timeout_s=1.0)
        report = deliver(store, EDITION, people(*MANY), transport, plan())
        unknown = [row for row in store.deliveries("2026-10") if row.status == "unknown"]
    took = time.monotonic() - started
    assert report.counts == {"sent": len(MANY) - 1, "unknown": 1}
    assert [row.recipient for row in unknown] == ["m03@example.com"]
    assert "connection lost after the data was sent" in unknown[0].last_error
    assert took < 4, f"the run waited {took:.1f} s on a server that never answers (timeout_s = 1)"


def test_a_write_to_a_connection_the_server_closed_is_told_by_the_next_read_not_raised():
    """The loop's writes happen in the middle of a step (the data after the mark, RSET after a
    refusal): a broken connection must not escape from there, but be read as lost."""
    from newsletter.delivery.smtp_wire import Link

    ours, theirs = socket.socketpair()
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    theirs.close()  # a reset, not a goodbye
    transport = type("Transport", (), {"socket": ours, "settings": type("S", (), {"timeout_s": 1.0})})()
    link = Link(transport)
    link.attach()
    for _ in range(3):
        link.write(b"x" * 65536)
    with pytest.raises(OSError):
        link.read()
    ours.close()


def test_a_sending_mark_that_cannot_reach_the_disk_stops_the_run_and_nothing_arrives(smtp_server, tmp_path):
    """The server has said 354 when the flush fails: the connection hangs up rather than end the
    data with ".", which would deliver an empty message."""
    with Store.open(tmp_path / "state") as store:
        def full_disk() -> None:
            raise OSError(28, "No space left on device")

        store.flush = full_disk
        with pytest.raises(OSError, match="No space left"):
            deliver(store, EDITION, people(*MANY), smtp(smtp_server, 2), plan())
    assert smtp_server.mailbox.messages == []


def test_a_rate_limits_pause_does_not_hold_back_the_last_persons_sent(smtp_server, tmp_path):
    """With one connection, when the rate limit pauses before the next person, the person before has
    had the server's 250: a crash during the pause must find them `sent`, not `unknown`."""
    path = tmp_path / "state" / DB_NAME
    pending_in_pauses: list[int] = []

    def pause(seconds: float) -> None:
        db = sqlite3.connect(str(path))
        (sending,) = db.execute("SELECT COUNT(*) FROM deliveries WHERE status='sending'").fetchone()
        db.close()
        pending_in_pauses.append(sending)

    with Store.open(tmp_path / "state") as store:
        report = deliver(store, EDITION, people(*MANY), smtp(smtp_server, 1),  # the clock stands: every turn pauses
                         DeliveryPlan(Envelope("it@example.com"), rate_per_s=100, sleep=pause, clock=lambda: 0.0))
    assert report.counts == {"sent": len(MANY)}
    assert len(pending_in_pauses) == len(MANY) - 1 and set(pending_in_pauses) == {0}, pending_in_pauses


@pytest.mark.parametrize("pipelining", [False, True], ids=["stepwise", "pipelined"])
def test_one_message_outside_a_run_gets_its_answer_or_its_refusal(smtp_server, pipelining):
    """SmtpTransport.send (a test copy, a notice) goes through the same loop, with no ledger."""
    from newsletter.compose.personal import Personalizer
    from newsletter.delivery.base import PermFailure
    from newsletter.delivery.message import MessageFactory
    from newsletter.delivery.recipients import Recipient

    box = smtp_server.mailbox
    box.pipelining, box.rcpt_codes = pipelining, {"no@example.com": "550 5.1.1 No such user"}
    factory = MessageFactory(Envelope("it@example.com"), Personalizer(EDITION))
    transport, called = smtp(smtp_server), []
    transport.open()
    try:
        answer = transport.send(factory.build(Recipient("yes@example.com"), {"name": "", "email": "yes@example.com"}),
                                lambda: called.append("yes"))
        with pytest.raises(PermFailure, match=r"550 5\.1\.1"):
            transport.send(factory.build(Recipient("no@example.com"), {"name": "", "email": "no@example.com"}),
                           lambda: called.append("no"))
    finally:
        transport.close()
    assert answer.startswith("250") and called == ["yes"] and box.count_to("yes@example.com") == 1
    assert box.count_to("no@example.com") == 0 and box.connections == 1
