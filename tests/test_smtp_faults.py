"""A server on a bad day, over the one-thread loop: what each fault leaves in the ledger, against what
the server took. Nobody the server took is left `unknown` or refused; nothing hangs."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time

import pytest

from newsletter.delivery.base import TransportError
from newsletter.delivery.ledger import DeliveryPlan, deliver
from newsletter.delivery.message import Envelope
from newsletter.errors import DeliveryError
from newsletter.store import Store
from tests.test_delivery_smtp import EDITION, people, plan, smtp
from tests.test_smtp_pool import MANY, Hostile, serving

WHO = [f"w{i:02d}@example.com" for i in range(24)]


@contextlib.contextmanager
def hostile(cls, connections=1, timeout_s=1.0, **attrs):
    settings = attrs.pop("settings", {})
    with serving(type("H", (cls,), {"faults": {}, **attrs})) as server:
        host, port = server.server_address
        transport = smtp(type("S", (), {"host": host, "port": port}), connections, **settings)
        transport.settings = dataclasses.replace(transport.settings, timeout_s=timeout_s)
        yield transport


class TlsBye(Hostile):
    """Implicit TLS; the third message of a connection is answered 250, then the server hangs up."""

    def handle(self):
        self.request, self.n = self.ctx.wrap_socket(self.request, server_side=True), 0
        super().handle()

    def data_ended(self, sock, buffer, recipient):
        self.n += 1
        if self.n < 3:
            return super().data_ended(sock, buffer, recipient)
        sock.sendall(b"250 2.0.0 queued\r\n")
        with contextlib.suppress(Exception):
            sock.unwrap().close()


def test_over_tls_a_250_that_arrives_with_the_close_is_sent(tmp_path, tls_ca):
    _, ca_file, context = tls_ca
    with hostile(TlsBye, 2, 5.0, ctx=context, settings={"security": "tls", "ca_file": ca_file}) as transport, \
            Store.open(tmp_path / "s") as store:
        flush = store.flush
        store.flush = lambda: (time.sleep(0.05), flush())  # a busy disk: the close comes with the answer
        deliver(store, EDITION, people(*MANY), transport, plan())
        assert [(r.recipient, r.last_error) for r in store.deliveries("2026-10") if r.status != "sent"] == []


def test_the_rate_limits_pauses_do_not_time_out_answers_that_came(smtp_server, tmp_path):
    smtp_server.mailbox.pipelining = True
    transport = smtp(smtp_server, 8)
    transport.settings = dataclasses.replace(transport.settings, timeout_s=1.0)
    with Store.open(tmp_path / "s") as store:
        deliver(store, EDITION, people(*WHO[:16]), transport, DeliveryPlan(Envelope("it@example.com"), rate_per_s=3))
        bad = [(r.recipient, r.status, r.last_error) for r in store.deliveries("2026-10") if r.status != "sent"]
    assert all(smtp_server.mailbox.count_to(w) == 1 for w in WHO[:16])
    assert bad == []


class EndlessGreeting(Hostile):
    def handle(self):
        with contextlib.suppress(OSError):
            while True:
                self.request.sendall(b"220-still greeting\r\n" * 64)
                time.sleep(0.01)


def test_a_greeting_that_never_ends_is_given_up_on():
    with hostile(EndlessGreeting) as transport:
        outcome = []

        def opening():
            try:
                transport.open()
            except Exception as exc:
                outcome.append(exc)
        thread = threading.Thread(target=opening, daemon=True)
        thread.start()
        thread.join(10)
        assert not thread.is_alive(), "still reading the greeting after 10 s (timeout_s = 1)"
        assert outcome and isinstance(outcome[0], TransportError), outcome
        assert "an answer that did not end within 1 s or 64 KB" in str(outcome[0])


class Bye421(Hostile):
    def data_ended(self, sock, buffer, recipient):
        sock.sendall(b"421 4.3.2 shutting down\r\n")


def test_a_421_after_the_data_counts_towards_max_errors(tmp_path):
    with hostile(Bye421) as transport, Store.open(tmp_path / "s") as store, \
            pytest.raises(DeliveryError, match="stopped after 2"):
        deliver(store, EDITION, people(*MANY), transport, plan(max_errors=2))


class Held:
    """Replies held until the server must read again, as Postfix does."""

    def __init__(self, sock):
        self.sock, self.out = sock, b""

    def sendall(self, data):
        self.out += data

    def recv(self, n):
        self.sock.sendall(self.out)
        self.out = b""
        return self.sock.recv(n)


class Batching(Hostile):
    def handle(self):
        self.request = Held(self.request)
        super().handle()


def test_an_interrupt_in_the_rate_limits_pause_ends_the_run_at_once(tmp_path):
    def pause(seconds):
        pause.calls = getattr(pause, "calls", 0) + 1
        if pause.calls == 4:
            raise KeyboardInterrupt
    with hostile(Batching, 1, 3.0) as transport, Store.open(tmp_path / "s") as store:
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            deliver(store, EDITION, people(*MANY), transport,
                    DeliveryPlan(Envelope("it@example.com"), rate_per_s=100, sleep=pause, clock=lambda: 0.0))
    assert time.monotonic() - started < 1.5


def test_an_interrupt_during_a_flush_leaves_nobody_sending_who_was_sent_nothing(smtp_server, tmp_path):
    with Store.open(tmp_path / "s") as store:
        flush, calls = store.flush, []

        def interrupted():
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt
            flush()
        store.flush = interrupted
        with pytest.raises(KeyboardInterrupt):
            deliver(store, EDITION, people(*MANY), smtp(smtp_server, 3), plan())
        stuck = [r.recipient for r in store.deliveries("2026-10")
                 if r.status == "sending" and not smtp_server.mailbox.count_to(r.recipient)]
    assert stuck == []


class Extra250(Hostile):
    """One unasked "250" behind the answer to m03's data: every answer after it is one off."""

    def data_ended(self, sock, buffer, recipient):
        sock.sendall(b"250 2.0.0 queued\r\n" + (b"250 unasked\r\n" if recipient == "m03@example.com" else b""))
        return buffer


def test_an_answer_out_of_place_is_not_a_refusal(tmp_path):
    with hostile(Extra250) as transport, Store.open(tmp_path / "s") as store:
        deliver(store, EDITION, people(*MANY), transport, plan())
        refused = [(r.recipient, r.last_error) for r in store.deliveries("2026-10") if r.status == "perm_failed"]
    assert refused == []


class SilentQuit(Hostile):
    def handle(self):
        real = self.request.sendall
        self.request = type("Q", (), {"recv": self.request.recv, "sendall": lambda s, d: (
            time.sleep(3) if d.startswith(b"221") else real(d))})()
        super().handle()


def test_a_server_that_never_answers_quit_holds_the_end_of_the_run_briefly(tmp_path):
    with hostile(SilentQuit, 4, timeout_s=3.0) as transport, Store.open(tmp_path / "s") as store:
        started = time.monotonic()
        deliver(store, EDITION, people(*MANY), transport, plan())
        assert time.monotonic() - started < 4.0  # not 4 connections x timeout_s (12 s)
        assert {r.status for r in store.deliveries("2026-10")} == {"sent"}
