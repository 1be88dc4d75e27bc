"""The ledger and the SMTP transport against a real SMTP server (aiosmtpd) on 127.0.0.1, with faults."""

from __future__ import annotations

import pytest

from newsletter.binding import Secret
from newsletter.compose.render import Newsletter
from newsletter.delivery.base import TransportError
from newsletter.delivery.ledger import DeliveryPlan, deliver
from newsletter.delivery.message import Envelope
from newsletter.delivery.recipients import Recipient, RecipientList
from newsletter.delivery.smtp import SmtpSettings, SmtpTransport
from newsletter.errors import DeliveryError, NothingToDo, TemplateError
from newsletter.store import Store
from tests.fixtures.smtp import PASSWORD, USER

EDITION = Newsletter(month="2026-10", subject="IT in October", preheader="",
                     html="<p>Hello [[ recipient.name or 'colleague' ]]</p>",
                     text="Hello [[ recipient.name ]]\n.\n..and dots =3D kept\n")
PEOPLE = [f"p{i}@example.com" for i in range(6)]


def people(*addresses: str) -> RecipientList:
    return RecipientList([Recipient(a, f"Person {a.split('@')[0]}") for a in addresses])


def plan(**kw) -> DeliveryPlan:
    kw.setdefault("retry_rounds", 0)
    return DeliveryPlan(Envelope("IT <it@example.com>"), sleep=lambda s: None, **kw)


def smtp(server, connections: int = 1, **kw) -> SmtpTransport:
    kw.setdefault("security", "none")
    return SmtpTransport(SmtpSettings(host=server.host, port=server.port, timeout_s=5, connections=connections, **kw),
                         "it@example.com")


@pytest.fixture(params=[1, 3], ids=["1-connection", "3-connections"])
def connections(request) -> int:
    """The fault tests run over one connection and over several at once: the ledger's promises hold for both."""
    return request.param


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "state") as s:
        yield s


def statuses(store: Store) -> dict[str, str]:
    return {row.recipient: row.status for row in store.deliveries("2026-10")}


@pytest.mark.parametrize("pipelining", [False, True], ids=["stepwise", "pipelined"])
def test_each_connection_kept_for_the_run_and_each_person_gets_their_own_message(smtp_server, store, pipelining,
                                                                                  connections):
    smtp_server.mailbox.pipelining = pipelining
    report = deliver(store, EDITION, people(*PEOPLE), smtp(smtp_server, connections), plan())
    assert report.counts == {"sent": 6}
    box = smtp_server.mailbox
    assert box.connections == connections
    assert sorted(r for _, rcpts in box.envelopes for r in rcpts) == sorted(PEOPLE)
    first = next(m for m in box.messages if m["To"].addresses[0].addr_spec == "p0@example.com")
    assert first["To"].addresses[0].display_name == "Person p0"
    assert first.get_body(("html",)).get_content() == "<p>Hello Person p0</p>"
    assert first.get_body(("plain",)).get_content() == "Hello Person p0\r\n.\r\n..and dots =3D kept\r\n"
    rows = store.deliveries("2026-10")
    assert all(r.detail.startswith("250 ") and r.first_attempt_at and r.attempts == 1 for r in rows)
    with pytest.raises(NothingToDo):
        deliver(store, EDITION, people(*PEOPLE), smtp(smtp_server, connections), plan())
    assert len(box.messages) == 6


@pytest.mark.parametrize("pipelining", [False, True], ids=["stepwise", "pipelined"])
def test_451_550_552_for_chosen_recipients(smtp_server, store, pipelining, connections):
    smtp_server.mailbox.pipelining = pipelining
    box = smtp_server.mailbox
    box.rcpt_codes = {"p1@example.com": "451 4.7.1 Try again later", "p2@example.com": "550 5.1.1 No such user"}
    box.data_codes = {"p3@example.com": "552 5.2.2 Mailbox full"}
    report = deliver(store, EDITION, people(*PEOPLE), smtp(smtp_server, connections), plan())
    assert statuses(store) == {"p0@example.com": "sent", "p1@example.com": "temp_failed",
                               "p2@example.com": "perm_failed", "p3@example.com": "temp_failed",
                               "p4@example.com": "sent", "p5@example.com": "sent"}
    assert not report.complete and not report.finished
    assert "550 5.1.1 No such user" in {r.last_error for r in store.deliveries("2026-10")}
    # a later run retries the temporary ones only, and they get through now
    box.rcpt_codes, box.data_codes = {"p2@example.com": "550 5.1.1 No such user"}, {}
    report = deliver(store, EDITION, people(*PEOPLE), smtp(smtp_server, connections), plan())
    assert report.attempted == 2
    assert report.counts == {"sent": 5, "perm_failed": 1} and report.finished
    assert all(box.count_to(p) == (0 if p == "p2@example.com" else 1) for p in PEOPLE)


def test_temporary_refusals_are_retried_with_backoff_within_the_run(smtp_server, store, connections):
    box = smtp_server.mailbox
    box.rcpt_codes = {"p1@example.com": "451 4.7.1 Greylisted"}
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        box.rcpt_codes = {}  # the greylisting ends while we wait

    report = deliver(store, EDITION, people(*PEOPLE), smtp(smtp_server, connections),
                     DeliveryPlan(Envelope("it@example.com"), retry_rounds=2, retry_backoff_s=30, sleep=sleep))
    assert pauses == [30]
    assert report.counts == {"sent": 6}
    assert store.deliveries("2026-10")[1].attempts == 2


def test_temporary_refusals_give_up_after_the_deadline(smtp_server, store, connections):
    box = smtp_server.mailbox
    box.rcpt_codes = {"p1@example.com": "451 4.7.1 Try again later"}
    deliver(store, EDITION, people(*PEOPLE), smtp(smtp_server, connections), plan())
    store.db.execute("UPDATE deliveries SET first_attempt_at='2026-11-01T00:00:00+00:00'")
    with pytest.raises(NothingToDo):
        deliver(store, EDITION, people(*PEOPLE), smtp(smtp_server, connections), plan(retry_until_days=3))
    row = store.deliveries("2026-10", ["perm_failed"])[0]
    assert row.recipient == "p1@example.com" and "retry_until_days" in row.last_error


@pytest.mark.parametrize("pipelining", [False, True], ids=["stepwise", "pipelined"])
def test_every_recipient_refused_stops_after_max_errors(smtp_server, store, pipelining, connections):
    smtp_server.mailbox.pipelining = pipelining
    smtp_server.mailbox.rcpt_codes = dict.fromkeys(PEOPLE, "550 5.7.1 Relaying denied")
    with pytest.raises(DeliveryError, match=r"stopped after [345] recipients failed \(delivery.max_errors = 3\)"):
        deliver(store, EDITION, people(*PEOPLE), smtp(smtp_server, connections), plan(max_errors=3))
    assert_stopped_after(store, 3, "perm_failed", connections)
    assert store.edition("2026-10").status == "failed"


def assert_stopped_after(store: Store, max_errors: int, status: str, connections: int) -> None:
    """The run stopped at max_errors: the other connections each finished the message they had
    (so one connection stops at exactly max_errors), and everyone after is still queued."""
    found = statuses(store)
    failed = [who for who in PEOPLE if found[who] == status]
    assert max_errors <= len(failed) <= max_errors + connections - 1, found
    assert {found[who] for who in PEOPLE if who not in failed} <= {"queued"}, found
    if connections == 1:
        assert failed == PEOPLE[:max_errors]


@pytest.mark.parametrize("pipelining", [False, True], ids=["stepwise", "pipelined"])
def test_a_refused_sender_stops_the_run_without_failing_anyone(smtp_server, store, pipelining, connections):
    smtp_server.mailbox.pipelining = pipelining
    smtp_server.mailbox.mail_code = "553 5.7.1 Sender address rejected: not owned by user"
    with pytest.raises(TransportError, match=r"refused the sender it@example.com .*553"):
        deliver(store, EDITION, people(*PEOPLE), smtp(smtp_server, connections), plan())
    assert set(statuses(store).values()) == {"queued"}


@pytest.mark.parametrize("pipelining", [False, True], ids=["stepwise", "pipelined"])
def test_421_mid_session_reconnects_and_nobody_is_lost(smtp_server, store, pipelining, connections):
    smtp_server.mailbox.pipelining = pipelining
    box = smtp_server.mailbox
    box.drop_421_after = 2
    report = deliver(store, EDITION, people(*PEOPLE), smtp(smtp_server, connections), plan())
    assert report.counts == {"sent": 6}
    assert box.connections == connections + 1  # the one that was hung up on connected again
    assert all(box.count_to(p) == 1 for p in PEOPLE)


def test_a_server_gone_midway_stops_the_run_and_leaves_the_rest_queued(store):
    from aiosmtpd.controller import Controller

    from tests.conftest import free_port
    from tests.fixtures.smtp import Mailbox, SmtpServer

    box = Mailbox(drop_421_after=2)
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    box.after_drop = lambda: controller.server.close()  # stop listening: the reconnect is refused
    controller.start()
    try:
        with pytest.raises(TransportError, match="cannot connect"):
            deliver(store, EDITION, people(*PEOPLE), smtp(SmtpServer("127.0.0.1", controller.port, box)), plan())
    finally:
        controller.stop()
    assert statuses(store) == {**dict.fromkeys(PEOPLE[:2], "sent"), **dict.fromkeys(PEOPLE[2:], "queued")}


@pytest.mark.parametrize("pipelining", [False, True], ids=["stepwise", "pipelined"])
def test_connection_closed_after_the_data_makes_unknown_never_resent(smtp_server, store, pipelining, connections):
    smtp_server.mailbox.pipelining = pipelining
    box = smtp_server.mailbox
    box.vanish_after_data = {"p2@example.com"}
    report = deliver(store, EDITION, people(*PEOPLE), smtp(smtp_server, connections), plan())
    assert statuses(store)["p2@example.com"] == "unknown"
    assert report.counts == {"sent": 5, "unknown": 1}
    # the one that was dropped connected again for the next person (over one: if the others left one)
    assert box.connections == 2 if connections == 1 else connections <= box.connections <= connections + 1
    box.vanish_after_data = set()
    with pytest.raises(NothingToDo):
        deliver(store, EDITION, people(*PEOPLE), smtp(smtp_server, connections), plan())
    assert all(box.count_to(p) == 1 for p in PEOPLE)
    # only on purpose
    report = deliver(store, EDITION, people(*PEOPLE), smtp(smtp_server, connections), plan(resend_unknown=True))
    assert report.counts == {"sent": 6} and box.count_to("p2@example.com") == 2


def test_a_run_that_died_while_sending_leaves_unknown(smtp_server, store, connections):
    store.queue("2026-10", PEOPLE)
    store.mark("2026-10", "p0@example.com", "sending")
    deliver(store, EDITION, people(*PEOPLE), smtp(smtp_server, connections), plan())
    assert statuses(store)["p0@example.com"] == "unknown"
    assert smtp_server.mailbox.count_to("p0@example.com") == 0


def test_auth_failure_stops_the_run_and_names_the_secret(smtp_starttls_server, store, monkeypatch):
    monkeypatch.setenv("SMTP_PW", "wrong-password")
    transport = smtp(smtp_starttls_server, security="starttls", username=USER, password=Secret(env="SMTP_PW"),
                     ca_file=smtp_starttls_server.ca_file)
    with pytest.raises(TransportError, match=r"refused the login .* check SMTP_PW") as caught:
        deliver(store, EDITION, people(*PEOPLE), transport, plan())
    assert "wrong-password" not in str(caught.value) and PASSWORD not in str(caught.value)
    assert set(statuses(store).values()) == {"queued"}


def test_starttls_and_auth_work(smtp_starttls_server, store, monkeypatch):
    monkeypatch.setenv("SMTP_PW", PASSWORD)
    transport = smtp(smtp_starttls_server, security="starttls", username=USER, password=Secret(env="SMTP_PW"),
                     ca_file=smtp_starttls_server.ca_file)
    assert deliver(store, EDITION, people(*PEOPLE[:2]), transport, plan()).counts == {"sent": 2}


def test_starttls_failure_stops_the_run(smtp_starttls_server, store):
    transport = smtp(smtp_starttls_server, security="starttls")  # the server's CA is not trusted
    with pytest.raises(TransportError, match="TLS failed"):
        deliver(store, EDITION, people(*PEOPLE), transport, plan())
    assert set(statuses(store).values()) == {"queued"}


def test_a_server_that_never_greets_times_out(silent_server, store):
    host, port = silent_server
    transport = SmtpTransport(SmtpSettings(host=host, port=port, security="none", timeout_s=0.5), "it@example.com")
    with pytest.raises(TransportError, match="timed out"):
        deliver(store, EDITION, people(*PEOPLE), transport, plan())
    assert set(statuses(store).values()) == {"queued"}


def test_rate_limit_paces_the_messages(smtp_server, store):
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(round(seconds, 3))
        now[0] += seconds

    p = DeliveryPlan(Envelope("it@example.com"), rate_per_s=4, sleep=sleep, clock=lambda: now[0])
    deliver(store, EDITION, people(*PEOPLE), smtp(smtp_server), p)
    assert waits == [0.25] * 5


FIRST_NAME = Newsletter(month="2026-10", subject="For [[ recipient.name.split()[0] ]]", preheader="",
                        html="<p>Hello [[ recipient.name.split()[0] ]]</p>", text="Hello [[ recipient.name ]]\n")


def csv_people(*names: str) -> RecipientList:
    return RecipientList([Recipient(f"p{i}@example.com", name, where=f"people.csv:{i + 2}")
                          for i, name in enumerate(names)])


@pytest.mark.parametrize("position", [0, 3])
def test_a_person_whose_fields_fail_is_held_back_alone_with_the_reason(smtp_server, store, position, connections):
    names = ["Ann A", "Bob B", "Cat C", "Dan D", "Eve E", "Fay F"]
    bad = f"p{position}@example.com"
    recipients = csv_people(*names[:position], "", *names[position + 1:])
    report = deliver(store, FIRST_NAME, recipients, smtp(smtp_server, connections), plan(max_errors=1))
    assert statuses(store) == {**dict.fromkeys(PEOPLE, "sent"), bad: "temp_failed"}
    (row,) = store.deliveries("2026-10", ["temp_failed"])
    assert f"people.csv:{position + 2}" in row.last_error and "per-person field in the subject" in row.last_error
    assert "no element 0" in row.last_error and row.first_attempt_at
    assert not report.complete and store.edition("2026-10").status == "failed"
    assert smtp_server.mailbox.count_to(bad) == 0
    recipients.recipients[position] = Recipient(bad, "Gus G", where=f"people.csv:{position + 2}")  # the row fixed
    report = deliver(store, FIRST_NAME, recipients, smtp(smtp_server, connections), plan())
    assert report.counts == {"sent": 6} and report.attempted == 1
    assert all(smtp_server.mailbox.count_to(p) == 1 for p in PEOPLE)


def test_fields_that_fail_for_everyone_stop_the_run_before_anyone_is_sent(smtp_server, store):
    with pytest.raises(TemplateError, match=r"p0@example.com \(people.csv:2\).* fails for every recipient \(3\)"):
        deliver(store, FIRST_NAME, csv_people("", " ", ""), smtp(smtp_server), plan())
    assert smtp_server.mailbox.messages == [] and set(statuses(store).values()) == {"queued"}
    assert store.edition("2026-10") is None


def test_checking_everyones_fields_fills_in_only_their_values_not_the_templates_own_text(store):
    """What makes checking every person cheap (benchmarks/delivery.py --build measures it): the
    template's own text comes back as the same string for everyone, only the fields are new."""
    from newsletter.compose.personal import Personalizer

    html = "<p>" + "static text " * 5000 + "[[ recipient.name.split()[0] ]]</p>"
    personalizer = Personalizer(Newsletter(month="2026-10", subject="s", preheader="", html=html, text="t"))
    problems = [personalizer.problem({"name": f"Person {i}", "email": "x@example.com"}) for i in range(50)]
    assert problems == [None] * 50
    first, second = (personalizer.pieces({"name": name, "email": "x@example.com"})[2] for name in ("Ann A", "Bob B"))
    assert first[0] is second[0] and personalizer.is_static(first[0]) and len(first[0]) > 60_000
    assert [chunk for chunk in first if not personalizer.is_static(chunk)] == ["Ann"]
    assert "no element 0" in personalizer.problem({"name": "", "email": "x@example.com"})


@pytest.mark.parametrize("pipelining", [False, True], ids=["stepwise", "pipelined"])
def test_a_greylisting_relay_does_not_stop_the_run_and_everyone_gets_one_copy(smtp_server, store, pipelining,
                                                                              connections):
    box = smtp_server.mailbox
    box.pipelining, box.greylist = pipelining, True
    many = [f"g{i:02d}@example.com" for i in range(25)]
    pauses: list[float] = []
    report = deliver(store, EDITION, people(*many), smtp(smtp_server, connections),
                     DeliveryPlan(Envelope("it@example.com"), max_errors=10, retry_rounds=2, retry_backoff_s=30,
                                  sleep=pauses.append))
    assert pauses == [30], "one pause, then the second try of all 25 goes through"
    assert report.counts == {"sent": 25}
    assert all(box.count_to(p) == 1 for p in many)
    assert {row.attempts for row in store.deliveries("2026-10")} == {2}


def test_greylisted_people_left_after_the_last_round_wait_for_a_later_run(smtp_server, store, connections):
    box = smtp_server.mailbox
    box.rcpt_codes = dict.fromkeys(PEOPLE, "450 4.2.0 Greylisted")
    report = deliver(store, EDITION, people(*PEOPLE), smtp(smtp_server, connections),
                     plan(max_errors=2, retry_rounds=1))
    assert report.counts == {"temp_failed": 6} and report.attempted == 12
    assert store.edition("2026-10").status == "failed"
    box.rcpt_codes = {}
    assert deliver(store, EDITION, people(*PEOPLE), smtp(smtp_server, connections), plan()).counts == {"sent": 6}


@pytest.mark.parametrize(("mail_code", "error"), [
    ("421 4.3.2 Too many connections, closing", "connection lost before the data (421 4.3.2"),
    ("451 4.3.0 Local error in processing", "the sender refused for now: 451 4.3.0"),
], ids=["hangs-up", "sender-deferred"])
@pytest.mark.parametrize("pipelining", [False, True], ids=["stepwise", "pipelined"])
def test_a_server_in_trouble_for_everyone_counts_towards_max_errors(smtp_server, store, pipelining, mail_code, error,
                                                                    connections):
    box = smtp_server.mailbox
    box.pipelining, box.mail_code = pipelining, mail_code
    with pytest.raises(DeliveryError, match=r"stopped after [345] recipients failed \(delivery.max_errors = 3\)"):
        deliver(store, EDITION, people(*PEOPLE), smtp(smtp_server, connections),
                plan(max_errors=3, retry_rounds=2))
    assert_stopped_after(store, 3, "temp_failed", connections)
    assert error in store.deliveries("2026-10")[0].last_error
    assert box.messages == []


def test_implicit_tls_against_a_plain_port_points_at_security_and_port(smtp_server, store):
    transport = smtp(smtp_server, security="tls")
    with pytest.raises(TransportError) as caught:
        deliver(store, EDITION, people(*PEOPLE), transport, plan())
    message = str(caught.value)
    assert f"SMTP server 127.0.0.1:{smtp_server.port} did not answer TLS" in message
    assert f'is port {smtp_server.port} a STARTTLS or plain port? set security = "starttls" or port = 465' in message
    assert "ca_file" not in message
    assert set(statuses(store).values()) == {"queued"}


def test_an_untrusted_certificate_still_points_at_ca_file(smtp_tls_server, store):
    transport = smtp(smtp_tls_server, security="tls")  # the throwaway CA is not trusted
    with pytest.raises(TransportError, match=r"certificate .*check delivery.smtp.ca_file"):
        deliver(store, EDITION, people(*PEOPLE), transport, plan())
