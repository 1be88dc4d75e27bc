"""With PIPELINING, the next person's envelope goes out with the data (RFC 2920): one round trip a
message instead of two, and nothing recorded for that person until the data's answer, so the
ledger's promises are those of a message at a time."""

from __future__ import annotations

import select
import time

import pytest

from newsletter.binding import Secret
from newsletter.delivery.ledger import DeliveryError, deliver
from newsletter.delivery.message import MessageFactory
from newsletter.errors import TemplateError
from newsletter.store import Store
from tests.fixtures.smtp import PASSWORD, USER
from tests.test_delivery_smtp import EDITION, people, plan, smtp
from tests.test_smtp_pool import Hostile, serving

MANY = [f"m{i:02d}@example.com" for i in range(9)]


class Watching(Hostile):
    """Hostile's SMTP without faults; after each message's data it waits a moment before its 250,
    and notes whether the client's next MAIL had already come."""

    seen: list[bool]  # one per message: the next MAIL came before the 250 (the fixture's subclass)

    def data_ended(self, sock, buffer: bytes, recipient: str) -> bytes:
        if not buffer and select.select([sock], [], [], 0.05)[0]:
            buffer = sock.recv(65536)
        self.seen.append(buffer.startswith(b"MAIL FROM:"))
        sock.sendall(b"250 2.0.0 queued\r\n")
        return buffer


@pytest.fixture
def watching():
    with serving(type("WatchingHere", (Watching,), {"seen": [], "faults": {}})) as server:
        yield server


def test_the_next_persons_envelope_goes_with_the_data(watching, tmp_path):
    host, port = watching.server_address
    server = type("Server", (), {"host": host, "port": port})
    with Store.open(tmp_path / "state") as store:
        report = deliver(store, EDITION, people(*MANY), smtp(server, 1), plan())
    assert report.counts == {"sent": len(MANY)}
    # every message but the last had the next one's MAIL behind its data before the server answered
    assert watching.RequestHandlerClass.seen == [True] * (len(MANY) - 1) + [False]


def test_a_message_that_cannot_be_built_after_its_envelope_went_out_is_held_and_nothing_empty_leaves(
        smtp_server, tmp_path, monkeypatch):
    """The server will say 354 to an envelope already out: with no message to send, the connection
    hangs up (a "." would deliver an empty message) and the run goes on over a new one."""
    build = MessageFactory.build

    def failing(self, to, *args, **kwargs):
        if to.email == "m04@example.com":
            raise TemplateError("per-person field in the HTML: differs from the check")
        return build(self, to, *args, **kwargs)

    monkeypatch.setattr(MessageFactory, "build", failing)
    box = smtp_server.mailbox
    box.pipelining = True
    with Store.open(tmp_path / "state") as store:
        report = deliver(store, EDITION, people(*MANY), smtp(smtp_server, 1), plan())
        held = store.deliveries("2026-10", ["temp_failed"])
    assert report.counts == {"sent": len(MANY) - 1, "temp_failed": 1} and report.held == 1
    assert [row.recipient for row in held] == ["m04@example.com"] and "differs" in held[0].last_error
    assert len(box.messages) == len(MANY) - 1 and all(m["Subject"] == "IT in October" for m in box.messages)
    assert all(box.count_to(who) == (who != "m04@example.com") for who in MANY)
    assert box.connections == 2


def test_a_run_stopped_with_an_envelope_out_hangs_up_and_that_person_stays_queued(smtp_server, tmp_path):
    """The server waits for data after its 354: the connection is hung up on at once, not left to
    time out on a QUIT the server would read as data."""
    box = smtp_server.mailbox
    box.pipelining, box.data_code = True, "554 5.7.1 Message refused"
    started = time.monotonic()
    with Store.open(tmp_path / "state") as store:
        with pytest.raises(DeliveryError, match="stopped after 2 recipients failed"):
            deliver(store, EDITION, people(*MANY), smtp(smtp_server, 1), plan(max_errors=2))
        statuses = [row.status for row in store.deliveries("2026-10")]
    took = time.monotonic() - started
    assert statuses == ["perm_failed"] * 2 + ["queued"] * (len(MANY) - 2)
    assert box.messages == []
    assert took < 2.5, f"the run took {took:.1f} s to stop (timeout_s = 5)"


def test_buffers_written_together_arrive_whole_and_in_order_when_the_socket_takes_part_at_a_time():
    """The data and the next envelope go in one system call (sendmsg); a socket that takes only
    part of them at a time gets the rest, in order, as it becomes writable."""
    import socket

    from newsletter.delivery.smtp_wire import Link

    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    transport = type("Transport", (), {"socket": ours, "settings": type("S", (), {"timeout_s": 1.0})})()
    link = Link(transport)
    link.attach()
    data, envelope = bytes(range(256)) * 2048, b"MAIL FROM:<it@example.com>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n"
    link.write(data, envelope)
    assert link.outbox, "the socket took it all at once: the test shows nothing"
    received = b""
    while len(received) < len(data) + len(envelope):
        received += theirs.recv(65536)
        link.flush()
    assert received == data + envelope and not link.outbox
    ours.close()
    theirs.close()


@pytest.mark.parametrize("pipelining", [False, True], ids=["stepwise", "pipelined"])
def test_messages_per_connection_opens_a_new_connection_after_that_many(smtp_server, tmp_path, pipelining):
    """No envelope goes out behind a connection's last allowed message: the next person's goes
    over a new connection, and nobody is lost or sent twice on the way."""
    box = smtp_server.mailbox
    box.pipelining = pipelining
    with Store.open(tmp_path / "state") as store:
        report = deliver(store, EDITION, people(*MANY[:7]), smtp(smtp_server, 1, messages_per_connection=3), plan())
    assert report.counts == {"sent": 7}
    assert box.connections == 3 and all(box.count_to(who) == 1 for who in MANY[:7])
    per_connection = [box.peers.count(peer) for peer in dict.fromkeys(box.peers)]
    assert per_connection == [3, 3, 1]


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_over_tls_the_data_and_the_next_envelope_go_out_whole_and_in_order(request, tmp_path, monkeypatch,
                                                                           security):
    """A TLS socket cannot gather buffers in one system call (sendmsg): they go one after the other."""
    server = request.getfixturevalue("smtp_starttls_server" if security == "starttls" else "smtp_tls_server")
    box = server.mailbox
    box.pipelining = True
    monkeypatch.setenv("SMTP_PW", PASSWORD)
    transport = smtp(server, 3, security=security, ca_file=server.ca_file, username=USER,
                     password=Secret(env="SMTP_PW"))
    with Store.open(tmp_path / "state") as store:
        report = deliver(store, EDITION, people(*MANY), transport, plan())
    assert report.counts == {"sent": len(MANY)}
    assert all(box.count_to(who) == 1 for who in MANY) and len(set(box.peers)) == 3
    assert all(m["Subject"] == "IT in October" for m in box.messages)
