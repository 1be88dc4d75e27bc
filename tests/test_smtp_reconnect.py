"""A connection opened again during a run (messages_per_connection, a drop, a 421 before the data)
opens beside the loop (delivery/smtp_open.py): the other connections go on sending meanwhile, and a
connection that cannot be opened again stops the run as one that could not be opened at first."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from newsletter.binding import Secret
from newsletter.delivery.base import TransportError
from newsletter.delivery.ledger import deliver
from newsletter.store import Store
from tests.fixtures.smtp import PASSWORD, USER
from tests.test_delivery_smtp import EDITION, people, plan, smtp
from tests.test_smtp_pool import Hostile, serving

MANY = [f"r{i:02d}@example.com" for i in range(12)]


class SlowToGreet(Hostile):
    """Hostile's SMTP without faults; its third connection waits a second before its greeting (or
    is refused), and every message taken is noted with the connection that carried it."""

    slow = 3
    refuse = False
    events: list[tuple[str, int]]  # ("accepted" | "greeted" | "message", connection number), in order
    numbers: itertools.count
    lock: threading.Lock

    def handle(self) -> None:
        with self.lock:
            self.number = next(self.numbers)
            self.events.append(("accepted", self.number))
        if self.number == self.slow:
            time.sleep(1.0)
            if self.refuse:
                self.request.sendall(b"554 5.7.1 no more connections from you today\r\n")
                return
        with self.lock:
            self.events.append(("greeted", self.number))
        super().handle()

    def data_ended(self, sock, buffer: bytes, recipient: str) -> bytes | None:
        with self.lock:
            self.events.append(("message", self.number))
        return super().data_ended(sock, buffer, recipient)


@pytest.fixture
def slow_to_greet():
    attrs = {"faults": {}, "events": [], "numbers": itertools.count(1), "lock": threading.Lock()}
    with serving(type("SlowHere", (SlowToGreet,), attrs)) as server:
        yield server


def _server(served):
    host, port = served.server_address
    return type("Server", (), {"host": host, "port": port})


def test_the_other_connections_go_on_sending_while_one_opens_again(slow_to_greet, tmp_path):
    with Store.open(tmp_path / "state") as store:
        report = deliver(store, EDITION, people(*MANY), smtp(_server(slow_to_greet), 2, messages_per_connection=3),
                         plan())
    events = slow_to_greet.RequestHandlerClass.events
    assert report.counts == {"sent": len(MANY)}
    slow = SlowToGreet.slow
    waiting = events[events.index(("accepted", slow)):events.index(("greeted", slow))]
    others = [number for what, number in waiting if what == "message"]
    # blocked in its connect, the loop could finish at most the one message already out
    assert len(others) >= 3, f"while connection {slow} waited for its greeting, others delivered {others}"


def test_a_connection_that_cannot_be_opened_again_stops_the_run_and_nobody_is_lost(slow_to_greet, tmp_path):
    slow_to_greet.RequestHandlerClass.refuse = True
    with Store.open(tmp_path / "state") as store:
        with pytest.raises(TransportError, match="cannot connect"):
            deliver(store, EDITION, people(*MANY), smtp(_server(slow_to_greet), 2, messages_per_connection=3),
                    plan())
        statuses = {row.recipient: row.status for row in store.deliveries("2026-10")}
    taken = sum(1 for what, _ in slow_to_greet.RequestHandlerClass.events if what == "message")
    assert set(statuses.values()) <= {"sent", "queued"}
    assert sum(status == "sent" for status in statuses.values()) == taken


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_connections_opened_again_over_tls_with_a_login_carry_everyone_once(request, tmp_path, monkeypatch,
                                                                            security):
    server = request.getfixturevalue("smtp_starttls_server" if security == "starttls" else "smtp_tls_server")
    server.mailbox.pipelining = True
    monkeypatch.setenv("SMTP_PW", PASSWORD)
    transport = smtp(server, 2, security=security, ca_file=server.ca_file, username=USER,
                     password=Secret(env="SMTP_PW"), messages_per_connection=2)
    with Store.open(tmp_path / "state") as store:
        report = deliver(store, EDITION, people(*MANY), transport, plan())
    assert report.counts == {"sent": len(MANY)}
    assert all(server.mailbox.count_to(who) == 1 for who in MANY)
    per_connection = [server.mailbox.peers.count(peer) for peer in set(server.mailbox.peers)]
    assert max(per_connection) == 2 and len(per_connection) >= len(MANY) // 2  # at most two, as configured
