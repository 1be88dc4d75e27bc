"""Parallel connections against a real SMTP server (aiosmtpd): one rate limit for all, shared
flushes of the ledger (group commit), and `sent` recorded before a connection goes on."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from newsletter.delivery.base import Transport, TransportError
from newsletter.delivery.group_commit import LedgerWriter
from newsletter.delivery.ledger import DeliveryPlan, deliver
from newsletter.delivery.message import Envelope
from newsletter.state_dir import DB_NAME
from newsletter.store import Store
from tests.test_delivery_smtp import EDITION, people, plan, smtp

MANY = [f"q{i:02d}@example.com" for i in range(12)]


def test_the_rate_limit_is_the_runs_not_each_connections(smtp_server, tmp_path):
    """On a clock that moves only when the run sleeps: 12 messages at 40 a second take 11/40 s
    whatever the number of connections (a limit for each of the 4 would take 2/40 s)."""
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with Store.open(tmp_path / "state") as store:
        report = deliver(store, EDITION, people(*MANY), smtp(smtp_server, 4),
                         DeliveryPlan(Envelope("it@example.com"), rate_per_s=40, retry_rounds=0,
                                      clock=lambda: now[0], sleep=sleep))
    assert report.counts == {"sent": 12} and smtp_server.mailbox.connections == 4
    assert now[0] == pytest.approx(11 / 40), f"12 messages at 40 a second over 4 connections took {now[0]:.3f} s"


def test_sending_marks_of_connections_waiting_together_share_one_flush(tmp_path):
    people = [f"r{i:03d}@example.com" for i in range(80)]
    with Store.open(tmp_path / "state") as store:
        store.queue("2026-10", people)
        writer = LedgerWriter(store, "2026-10")
        start = threading.Barrier(8)

        def connection(mine: list[str]) -> None:
            start.wait()
            for who in mine:
                writer.mark(who, "sending", message_id=f"<{who}>").result(timeout=30)

        threads = [threading.Thread(target=connection, args=(people[i::8],)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        writer.close()
        assert writer.marks == 80 and writer.flushes < 40, f"{writer.flushes} flushes for 80 marks"
        assert {row.status for row in store.deliveries("2026-10")} == {"sending"}


def test_a_durable_mark_is_done_only_once_flushed_and_a_quick_one_at_once(tmp_path):
    with Store.open(tmp_path / "state") as store:
        store.queue("2026-10", MANY)
        writer = LedgerWriter(store, "2026-10")
        assert writer.mark(MANY[0], "sent", durable=False).done()
        writer.mark(MANY[1], "sending").result(timeout=10)
        writer.close()
        assert writer.flushes == 1
        store.set_durability(False)  # ledger_sync = "normal": nothing to flush, done once committed
        writer = LedgerWriter(store, "2026-10")
        assert writer.mark(MANY[2], "sending").done()
        writer.close()
        assert writer.flushes == 0


class Recording(Transport):
    """A transport that, at each message, reads the ledger the way a run after a crash would (its own
    connection to the file): the message this instance sent before must be `sent` there already."""

    name = "recording"

    def __init__(self, settings, context, path, problems: list[str]) -> None:
        super().__init__(settings, context)
        self.path, self.problems, self.last = path, problems, None
        self.lock = threading.Lock()

    @property
    def connections(self) -> int:
        return 3

    def another(self) -> Recording:
        return Recording(self.settings, self.context, self.path, self.problems)

    def send(self, out, before_data) -> str:
        if self.last is not None:
            db = sqlite3.connect(str(self.path))
            (status,) = db.execute("SELECT status FROM deliveries WHERE recipient=?", (self.last,)).fetchone()
            db.close()
            if status != "sent":
                with self.lock:
                    self.problems.append(f"{self.last} is {status} while its connection sends the next")
        before_data()
        self.last = out.recipient
        return "250 2.0.0 taken"


def test_sent_is_committed_before_the_connection_sends_its_next_message(tmp_path):
    from newsletter.delivery.base import TransportContext

    problems: list[str] = []
    context = TransportContext("it@example.com", "2026-10", tmp_path)
    with Store.open(tmp_path / "state") as store:
        transport = Recording(None, context, tmp_path / "state" / DB_NAME, problems)
        report = deliver(store, EDITION, people(*MANY), transport, plan())
    assert report.counts == {"sent": 12}
    assert problems == []


def test_a_relay_that_takes_fewer_connections_gets_everyone_over_those_it_takes(smtp_server, tmp_path, caplog):
    box = smtp_server.mailbox
    box.max_connections = 1
    with Store.open(tmp_path / "state") as store:
        report = deliver(store, EDITION, people(*MANY), smtp(smtp_server, 3), plan())
    assert report.counts == {"sent": 12}
    assert all(box.count_to(who) == 1 for who in MANY) and len(set(box.peers)) == 1
    refused = [r.getMessage() for r in caplog.records if "could not be opened" in r.getMessage()]
    assert len(refused) == 2 and "421 4.7.0 Too many connections" in refused[0], refused


def test_a_relay_that_refuses_even_the_first_connection_stops_the_run_with_nobody_marked(smtp_server, tmp_path):
    smtp_server.mailbox.max_connections = 0
    with Store.open(tmp_path / "state") as store, pytest.raises(TransportError, match=r"421 4\.7\.0 Too many"):
        deliver(store, EDITION, people(*MANY), smtp(smtp_server, 3), plan())
    with Store.open(tmp_path / "state") as store:
        assert {row.status for row in store.deliveries("2026-10")} == {"queued"}


def test_messages_built_at_once_by_several_connections_each_carry_their_own_persons_fields(smtp_server, tmp_path):
    from newsletter.compose.render import Newsletter

    personal = Newsletter(month="2026-10", subject="For [[ recipient.name ]]", preheader="",
                          html="<p>Hello [[ recipient.name ]]</p>", text="Hello [[ recipient.name ]]\n")
    many = [f"s{i:03d}@example.com" for i in range(60)]
    with Store.open(tmp_path / "state") as store:
        report = deliver(store, personal, people(*many), smtp(smtp_server, 4), plan())
    assert report.counts == {"sent": 60}
    for message in smtp_server.mailbox.messages:
        name = message["To"].addresses[0].display_name
        assert message["Subject"] == f"For {name}"
        assert message.get_body(("html",)).get_content() == f"<p>Hello {name}</p>"
    assert len({m["Message-ID"] for m in smtp_server.mailbox.messages}) == 60


@pytest.mark.parametrize("kept", [100, 5], ids=["all-kept", "five-kept"])
def test_each_persons_fields_are_filled_in_once_and_beyond_those_kept_again_as_built(smtp_server, tmp_path,
                                                                                     monkeypatch, kept):
    """The check before the run keeps what it filled in (up to DeliveryPlan.fields_kept people), and the
    builder uses it: the same message, without filling the fields in twice."""
    from newsletter.compose.personal import Personalizer
    from newsletter.compose.render import Newsletter
    personal = Newsletter(month="2026-10", subject="For [[ recipient.name ]]", preheader="",
                          html="<p>Hello [[ recipient.name ]]</p>", text="Hello [[ recipient.name ]]\n")
    filled: list[str] = []  # each time a person's fields are filled in: to build, or to check them
    pieces, problem = Personalizer.pieces, Personalizer.problem

    def counting(original):
        def fill(self, recipient):
            filled.append(recipient["email"])
            return original(self, recipient)
        return fill

    monkeypatch.setattr(Personalizer, "pieces", counting(pieces))
    monkeypatch.setattr(Personalizer, "problem", counting(problem))
    with Store.open(tmp_path / "state") as store:
        report = deliver(store, personal, people(*MANY), smtp(smtp_server, 3), plan(fields_kept=kept))
    assert report.counts == {"sent": 12}
    assert len(filled) == len(MANY) + max(0, len(MANY) - kept) and set(filled) == set(MANY), filled
    for message in smtp_server.mailbox.messages:
        name = message["To"].addresses[0].display_name
        assert message["Subject"] == f"For {name}"
        assert message.get_body(("html",)).get_content() == f"<p>Hello {name}</p>"
