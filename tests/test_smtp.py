"""Delivery through a real SMTP server on 127.0.0.1 (aiosmtpd): TLS, AUTH, reuse, the ledger."""

from __future__ import annotations

import socket

import pytest

from newsletter.store import Store
from tests.fixtures.smtp import PASSWORD, USER

RECIPIENTS = ["all@example.com", "managers@example.com", "it@example.com"]


def configure_smtp(workspace, server, *, security="none", auth=False, recipients=RECIPIENTS, connections=None):
    base = workspace.config.read_text().replace('transport = "outbox"', 'transport = "smtp"')
    base = base.replace('to = ["all@example.com"]', "to = [" + ", ".join(f'"{r}"' for r in recipients) + "]")
    smtp = f'\n[delivery.smtp]\nhost = "{server.host}"\nport = {server.port}\nsecurity = "{security}"\n'
    smtp += "timeout_s = 10\n" + (f"connections = {connections}\n" if connections else "")
    base = base.replace('transport = "smtp"', 'transport = "smtp"\nretry_rounds = 0  # later runs retry; not this one')
    if server.ca_file:
        smtp += f'ca_file = "{server.ca_file}"\n'
    if auth:
        smtp += f'username = "{USER}"\npassword_env = "NEWSLETTER_TEST_SMTP_PASSWORD"\n'
    workspace.configure(smtp, base=base)


def ledger(workspace, month="2026-10"):
    with Store.open(workspace.state) as store:
        return {row.recipient: row.status for row in store.deliveries(month)}


@pytest.mark.parametrize("connections", [1, 2])
def test_plain_smtp_each_connection_reused_for_the_run(workspace, smtp_server, connections):
    configure_smtp(workspace, smtp_server, connections=connections)
    result = workspace.invoke("run", "--month", "2026-10")
    assert result.exit_code == 0, result.output
    mailbox = smtp_server.mailbox
    assert sorted(to[0] for _, to in mailbox.envelopes) == sorted(RECIPIENTS)
    assert {sender for sender, _ in mailbox.envelopes} == {"it@example.com"}
    assert len(set(mailbox.peers)) <= connections and mailbox.connections == connections
    message = mailbox.messages[0]
    assert message["Subject"].startswith("IT in October")
    text, html = message.iter_parts()  # multipart/alternative: text first, HTML (with its inline charts) last
    assert message.get_content_type() == "multipart/alternative"
    assert text.get_content_type() == "text/plain"
    assert html.get_content_type() in ("text/html", "multipart/related")
    assert message.get_body(("html",)) is not None
    assert ledger(workspace) == dict.fromkeys(RECIPIENTS, "sent")


def test_starttls_and_auth(workspace, smtp_starttls_server):
    configure_smtp(workspace, smtp_starttls_server, security="starttls", auth=True)
    result = workspace.invoke("run", "--month", "2026-10", env={"NEWSLETTER_TEST_SMTP_PASSWORD": PASSWORD})
    assert result.exit_code == 0, result.output
    assert len(smtp_starttls_server.mailbox.messages) == 3


def test_implicit_tls_and_auth(workspace, smtp_tls_server):
    configure_smtp(workspace, smtp_tls_server, security="tls", auth=True, recipients=["all@example.com"])
    result = workspace.invoke("run", "--month", "2026-10", env={"NEWSLETTER_TEST_SMTP_PASSWORD": PASSWORD})
    assert result.exit_code == 0, result.output
    assert len(smtp_tls_server.mailbox.messages) == 1


def test_wrong_password_names_the_variable_not_the_value(workspace, smtp_starttls_server):
    configure_smtp(workspace, smtp_starttls_server, security="starttls", auth=True)
    result = workspace.invoke("run", "--month", "2026-10", env={"NEWSLETTER_TEST_SMTP_PASSWORD": "wrong-pass-123"})
    assert result.exit_code == 1
    assert "refused the login" in result.stderr and "NEWSLETTER_TEST_SMTP_PASSWORD" in result.stderr
    assert "wrong-pass-123" not in result.output
    assert smtp_starttls_server.mailbox.messages == []
    assert set(ledger(workspace).values()) == {"queued"}, "nobody is lost: all still queued for the next run"


def test_untrusted_certificate_is_refused(workspace, smtp_starttls_server):
    smtp_starttls_server.ca_file = None  # do not trust the throwaway CA
    configure_smtp(workspace, smtp_starttls_server, security="starttls", auth=True)
    result = workspace.invoke("run", "--month", "2026-10", env={"NEWSLETTER_TEST_SMTP_PASSWORD": PASSWORD})
    assert result.exit_code == 1
    assert "TLS failed" in result.stderr
    assert smtp_starttls_server.mailbox.messages == []


def test_temporary_failure_is_retried_by_the_next_run_and_nobody_gets_two(workspace, smtp_server):
    configure_smtp(workspace, smtp_server)
    smtp_server.mailbox.rcpt_codes["managers@example.com"] = "451 4.3.0 Try again later"
    smtp_server.mailbox.rcpt_codes["it@example.com"] = "550 5.1.1 No such user"
    first = workspace.invoke("run", "--month", "2026-10")
    assert first.exit_code == 1
    assert ledger(workspace) == {"all@example.com": "sent", "managers@example.com": "temp_failed",
                                 "it@example.com": "perm_failed"}
    smtp_server.mailbox.rcpt_codes.clear()
    second = workspace.invoke("run", "--month", "2026-10")
    assert second.exit_code == 1, second.output  # the permanent failure remains
    delivered = [to[0] for _, to in smtp_server.mailbox.envelopes]
    assert sorted(delivered) == ["all@example.com", "managers@example.com"], "no second copy, no retry of 550"
    assert ledger(workspace)["managers@example.com"] == "sent"
    third = workspace.invoke("run", "--month", "2026-10")
    assert third.exit_code == 3 and "already" in third.stderr  # the 550 is final: nothing left to send


def test_552_is_temporary(workspace, smtp_server):
    configure_smtp(workspace, smtp_server, recipients=["all@example.com"])
    smtp_server.mailbox.data_code = "552 5.2.2 Mailbox full"
    assert workspace.invoke("run", "--month", "2026-10").exit_code == 1
    assert ledger(workspace) == {"all@example.com": "temp_failed"}


def test_test_send_does_not_count_as_the_real_send(workspace, smtp_server):
    configure_smtp(workspace, smtp_server)
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    result = workspace.invoke("send", "--month", "2026-10", "--test-to", "manager@example.com")
    assert result.exit_code == 0, result.output
    (message,) = smtp_server.mailbox.messages
    assert message["Subject"].startswith("[Test] IT in October") and message["To"] == "manager@example.com"
    assert ledger(workspace) == {}
    assert workspace.invoke("send", "--month", "2026-10").exit_code == 0
    assert len(smtp_server.mailbox.messages) == 4


@pytest.mark.parametrize("subject", ["Hi\r\nBcc: victim@example.com", "Hi\nBcc: x@example.com\n", "Hi\u2028Bcc: x",
                                     "Hi\x00Bcc: x"])
def test_subject_cannot_add_a_header(subject):
    from newsletter.compose.render import Newsletter
    from newsletter.delivery.message import Envelope, build_message

    newsletter = Newsletter(month="2026-10", subject=subject, preheader="", html="<p>x</p>", text="x")
    message = build_message(newsletter, Envelope("IT <it@example.com>"), "all@example.com")
    assert message["Bcc"] is None
    assert "Bcc:" not in message.as_string().split("\n\n")[0].replace("Subject: Hi Bcc:", "")


@pytest.mark.parametrize("to", ["a@x.example, b@y.example", "user@corp.test.", "<user@corp.test", "", "x\ny@z.example"])
def test_test_send_refuses_junk_addresses_before_anything_is_sent(workspace, smtp_server, to):
    configure_smtp(workspace, smtp_server)
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    result = workspace.invoke("send", "--month", "2026-10", "--test-to", to)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"newsletter: test address {to!r} ") and len(result.stderr.splitlines()) == 1
    assert smtp_server.mailbox.messages == [] and ledger(workspace) == {}


def test_test_send_takes_a_name_and_an_address(workspace, smtp_server):
    configure_smtp(workspace, smtp_server)
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    result = workspace.invoke("send", "--month", "2026-10", "--test-to", "Ann Smith <ann@example.com>")
    assert result.exit_code == 0, result.output
    (message,) = smtp_server.mailbox.messages
    assert smtp_server.mailbox.envelopes[0][1] == ["ann@example.com"] and message["To"] == "Ann Smith <ann@example.com>"


def test_implicit_tls_against_a_plain_server_says_to_change_security_or_port(workspace, smtp_server):
    configure_smtp(workspace, smtp_server, security="tls")
    result = workspace.invoke("run", "--month", "2026-10")
    assert result.exit_code == 1
    assert f"SMTP server 127.0.0.1:{smtp_server.port} did not answer TLS (" in result.stderr  # OpenSSL's reason
    assert (f': is port {smtp_server.port} a STARTTLS or plain port? set security = "starttls" or port = 465'
            in result.stderr) and "ca_file" not in result.stderr
    assert smtp_server.mailbox.messages == [] and set(ledger(workspace).values()) == {"queued"}


def smtp_check(workspace, host: str, port: str = ""):
    base = workspace.config.read_text().replace('transport = "outbox"', 'transport = "smtp"')
    workspace.configure(f'\n[delivery.smtp]\nhost = "{host}"\n{port}security = "none"\n', base=base)
    return workspace.invoke("check")


@pytest.mark.parametrize(("host", "words"), [
    ("127.0.0.1:8025", 'a port in it: write host = "127.0.0.1" and port = 8025'),
    ("smtp.example.com:587", 'a port in it: write host = "smtp.example.com" and port = 587'),
    ("[::1]:8025", 'a port in it: write host = "::1" and port = 8025'),
    ("[::1]", 'write an IPv6 address without brackets: host = "::1"'),
    ("smtp://smtp.example.com", "a host name or address, not a URL"),
    ("", "a host name or address"),
])
def test_check_refuses_a_host_with_a_port_in_it(workspace, host, words):
    result = smtp_check(workspace, host)
    assert result.exit_code == 2, result.output
    assert f"{workspace.config}: delivery.smtp.host: " in result.output and words in result.output


@pytest.mark.parametrize("port", [0, 65536, -25])
def test_check_refuses_a_port_out_of_range(workspace, port):
    result = smtp_check(workspace, "smtp.example.com", f"port = {port}\n")
    assert result.exit_code == 2, result.output
    assert "delivery.smtp.port: expected a TCP port from 1 to 65535" in result.output


@pytest.fixture
def smtp_server_v6():
    from aiosmtpd.controller import Controller

    from tests.fixtures.smtp import Mailbox, SmtpServer

    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Mailbox(), hostname="::1", port=port)
    controller.start()
    try:
        yield SmtpServer("::1", port, controller.handler)
    finally:
        controller.stop()


def test_an_ipv6_literal_host_is_accepted_and_used(workspace, smtp_server_v6):
    configure_smtp(workspace, smtp_server_v6)
    assert workspace.invoke("check").exit_code == 0
    result = workspace.invoke("run", "--month", "2026-10")
    assert result.exit_code == 0, result.output
    assert sorted(to[0] for _, to in smtp_server_v6.mailbox.envelopes) == sorted(RECIPIENTS)
