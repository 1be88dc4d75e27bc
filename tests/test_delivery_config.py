"""Delivery settings: mistakes are one line naming the file and key, exit 2, before anything is sent."""

from __future__ import annotations

import pytest

from tests.fixtures.workspace import BASE_CONFIG


def config(delivery: str = "", tables: str = "", to: str = '["all@example.com"]') -> str:
    """The base config with [delivery] keys replaced or added, and more tables after it."""
    base = BASE_CONFIG.replace('transport = "outbox"\n', "").replace('to = ["all@example.com"]', f"to = {to}")
    if tables.startswith("[run]\n"):  # the base has a [run] table already: add to it
        base, tables = base.replace("[run]\n", tables, 1), ""
    if 'transport' not in delivery:
        delivery += 'transport = "outbox"\n'
    return base + delivery + tables


@pytest.mark.parametrize(("delivery", "tables", "message"), [
    ('transport = "graph"\n', '[delivery.graph]\ntenant_id = "t"\nclient_id = "c"\n',
     "delivery.graph.client_secret_env: missing"),
    ('transport = "graph"\n', '[delivery.graph]\nclient_id = "c"\nclient_secret_env = "X"\n',
     "delivery.graph.tenant_id: missing"),
    ('transport = "graph"\n', '[delivery.graph]\ntenant_id = "t"\nclient_id = "c"\nclient_secret_env = "X"\n'
     'graph_url = "http://graph.example"\n',  # the bearer token in clear text
     "delivery.graph.graph_url: expected an https:// URL with a host, got 'http://graph.example'"),
    ('transport = "graph"\n', '[delivery.graph]\ntenant_id = "t"\nclient_id = "c"\nclient_secret_env = "X"\n'
     'authority = "http://other\\\\@127.0.0.1"\n', "delivery.graph.authority: expected an https:// URL with a host"),
    ('transport = "graph"\n', '[delivery.graph]\ntenant_id = "t"\nclient_id = "c"\nclient_secret_env = "X"\n'
     'timeout_s = 0\n', "delivery.graph.timeout_s: expected a number of seconds above 0, at most 3,600, got 0"),
    ('transport = "graph"\n', '[delivery.graph]\ntenant_id = "t"\nclient_id = "c"\nclient_secret_env = "X"\n'
     'max_retry_after_s = nan\n', "delivery.graph.max_retry_after_s: expected a number of seconds above 0"),
    ('recipients = "nobody.csv"\n', "", "delivery.recipients: "),
    ("rate_per_s = -1\n", "", "delivery.rate_per_s: expected a number from 0 to 100,000, got -1"),
    ("retry_until_days = 1000000\n", "", "delivery.retry_until_days: expected a number from 0 to 366, got 1000000"),
    ("retry_until_days = inf\n", "", "delivery.retry_until_days: expected a number from 0 to 366, got inf"),
    ("retry_backoff_s = nan\n", "", "delivery.retry_backoff_s: expected a number from 0 to 86,400, got nan"),
    ("", '[delivery.smtp]\npassword = "hunter2"\n', "delivery.smtp.password: secrets are not written in config"),
    ('transport = "smtp"\n', "[delivery.smtp]\nconnections = 0\n",
     "delivery.smtp.connections: expected a number of connections from 1 to 32, got 0"),
    ('transport = "smtp"\n', "[delivery.smtp]\nconnections = 500\n",
     "delivery.smtp.connections: expected a number of connections from 1 to 32, got 500"),
    ("", "[run]\nsend_day = 31\n", "run.send_day: expected a day from 1 to 28"),
    ("", '[run]\nowners = ["not an address"]\n', "run.owners: 'not an address' is not an email address"),
])
def test_delivery_mistakes_are_config_errors(workspace, delivery, tables, message):
    workspace.configure(config(delivery, tables), base="")
    result = workspace.invoke("send", "--month", "2026-10")
    assert result.exit_code == 2, result.output
    assert message in result.output and str(workspace.config) in result.output
    assert "Traceback" not in result.output and "hunter2" not in result.output


def test_a_recipients_file_with_no_usable_address_sends_nothing(workspace):
    workspace.write("people.csv", "email,name\nnot-an-address,X\n")
    workspace.configure(config('recipients = "people.csv"\n', to="[]"), base="")
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    result = workspace.invoke("send", "--month", "2026-10")
    assert result.exit_code == 2 and "no valid recipient" in result.output
    assert "people.csv:2: 'not-an-address' is not an email address (no @); skipped" in result.output
    assert not (workspace.state / "outbox" / "2026-10").exists()


JUNK = ["user@corp.test.", "user@[corp.test", ",user@corp.test", "a@x.example, b@y.example", "IT <it@corp.test.>",
        "IT <it@example.com>, Boss <boss@example.com>"]


@pytest.mark.parametrize("value", JUNK)
@pytest.mark.parametrize("key", ["from", "to", "reply_to", "reviewers", "owners"])
def test_every_configured_address_gets_the_same_check(workspace, key, value):
    quoted = f'"{value}"'
    if key == "to":
        text = config(to=f"[{quoted}]")
    elif key == "owners":
        text = config(tables=f"[run]\nowners = [{quoted}]\n")
    elif key == "reviewers":
        text = config(f"reviewers = [{quoted}]\n")
    else:
        text = config().replace('from = "IT <it@example.com>"\n', "") + f"{key} = {quoted}\n"
    workspace.configure(text, base="")
    result = workspace.invoke("check")
    assert result.exit_code == 2, result.output
    where = "run.owners" if key == "owners" else f"delivery.{key}"
    assert f"{workspace.config}: {where}" in result.stderr and repr(value) in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


CLEAR = '[delivery.smtp]\nhost = "{host}"\nsecurity = "none"\nusername = "newsletter"\npassword_env = "SMTP_PW"\n'


@pytest.mark.parametrize("host", ["smtp.example.com", "192.0.2.25", "10.0.0.1"])
def test_a_password_in_clear_to_another_host_is_refused(workspace, host):
    workspace.configure(config('transport = "smtp"\n', CLEAR.format(host=host)), base="")
    result = workspace.invoke("check")
    assert result.exit_code == 2, result.output
    assert f"{workspace.config}: delivery.smtp.security: " in result.stderr
    assert f"in clear text to {host}" in result.stderr and 'security = "starttls"' in result.stderr


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.0.0.53", "::1"])
def test_a_password_in_clear_on_this_machine_is_allowed(workspace, host):
    workspace.configure(config('transport = "smtp"\n', CLEAR.format(host=host)), base="")
    result = workspace.invoke("check", env={"SMTP_PW": "x"})
    assert result.exit_code == 0, result.output

