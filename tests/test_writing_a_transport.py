"""The example in docs/writing-a-transport.md works as written: its module, its registration and its
table, installed as a distribution of its own, send through the ledger to an HTTP API on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import tomllib
from email import message_from_bytes, policy

import pytest
from werkzeug import Response

from newsletter.collectors.registry import CollectorRegistry
from newsletter.config import load_config
from newsletter.delivery.ledger import deliver
from newsletter.delivery.registry import GROUP, TransportRegistry, make_transport
from newsletter.errors import DeliveryError
from newsletter.plugins import Provider
from newsletter.store import Store
from tests.conftest import REPO
from tests.fixtures.workspace import BASE_CONFIG
from tests.test_delivery_smtp import EDITION, PEOPLE, people, plan

TOKEN = "acme-t0ken-9f8e7d"
PAGE = REPO / "docs" / "writing-a-transport.md"


def example(name: str) -> str:
    """The code block that follows `<!-- example: name -->` on the page."""
    found = re.search(rf"<!-- example: {re.escape(name)} -->\n```\w+\n(.*?)```", PAGE.read_text(), re.S)
    assert found, f"{PAGE}: no example {name}"
    return found[1]


@pytest.fixture
def acme(distributions, workspace, httpserver, monkeypatch):
    """The example installed as the distribution its pyproject.toml describes, and a workspace using it."""
    project = tomllib.loads(example("pyproject.toml"))["project"]
    distributions.install(project["name"], project["version"], project["entry-points"],
                          {"acme_mailapi": example("acme_mailapi.py")})
    monkeypatch.setenv("ACME_MAIL_TOKEN", TOKEN)
    table = example("newsletter.toml").replace("https://api.acme-mail.example", httpserver.url_for("/").rstrip("/"))
    workspace.configure(base=BASE_CONFIG.replace('transport = "outbox"', 'transport = "mailapi"') + table)
    return workspace


def answer(httpserver, *responses: tuple[int, str]) -> list[dict]:
    """Acme's next answers to POST /v1/messages, in order; returns what it was sent (JSON bodies)."""
    received: list[dict] = []

    for code, body in responses:
        def handler(request, code=code, body=body):
            assert request.headers["Authorization"] == f"Bearer {TOKEN}"
            received.append(json.loads(request.data))
            return Response(body, status=code, content_type="application/json")

        httpserver.expect_ordered_request("/v1/messages", method="POST").respond_with_handler(handler)
    return received


def test_the_example_loads_through_a_registry_and_sends_each_answer_to_its_ledger_state(acme, httpserver, tmp_path):
    registry = TransportRegistry.from_entry_points()
    assert registry.provider("mailapi") == Provider("acme-mailapi", "1.0")
    config = load_config(acme.config, CollectorRegistry.from_entry_points(), transports=registry)
    assert (config.transport.name, config.transport.settings.timeout_s) == ("mailapi", 20.0)
    received = answer(httpserver, (202, '{"id": "m1"}'), (422, f'{{"error": "invalid recipient", "echo": "{TOKEN}"}}'),
                      (503, "{}"), (500, "{}"), (202, '{"id": "m5"}'))
    with Store.open(tmp_path / "state") as store:
        report = deliver(store, EDITION, people(*PEOPLE[:5]), make_transport(config, "2026-10"), plan(max_errors=5))
        rows = {row.recipient: row for row in store.deliveries("2026-10")}
    assert report.counts == {"accepted": 2, "perm_failed": 1, "temp_failed": 1, "unknown": 1}
    assert [rows[p].status for p in PEOPLE[:5]] == ["accepted", "perm_failed", "temp_failed", "unknown", "accepted"]
    assert rows[PEOPLE[0]].detail == "202 queued by Acme Mail"
    assert "invalid recipient" in rows[PEOPLE[1]].last_error and TOKEN not in rows[PEOPLE[1]].last_error
    assert [(r["from"], r["to"]) for r in received] == [("it@example.com", p) for p in PEOPLE[:5]]
    message = message_from_bytes(base64.b64decode(received[0]["mime"]), policy=policy.default)
    assert message["To"].addresses[0].addr_spec == PEOPLE[0] and message["Subject"] == "IT in October"


def test_a_refused_token_stops_the_run_naming_its_variable(acme, httpserver, tmp_path):
    answer(httpserver, (401, f'{{"error": "bad token {TOKEN}"}}'))
    config = load_config(acme.config, CollectorRegistry.from_entry_points())
    with Store.open(tmp_path / "state") as store, pytest.raises(DeliveryError) as stopped:
        deliver(store, EDITION, people(*PEOPLE[:3]), make_transport(config, "2026-10"), plan())
    assert "Acme Mail refused the token (401" in str(stopped.value) and "check ACME_MAIL_TOKEN" in str(stopped.value)
    assert TOKEN not in str(stopped.value)


def test_an_api_never_reached_is_not_sent_and_an_answer_that_never_comes_is_unknown(acme, httpserver, tmp_path,
                                                                                     request):
    let_go = threading.Event()
    request.addfinalizer(let_go.set)  # the late answer comes before the test ends, not in the next one

    def slow(_):
        let_go.wait(1.5)
        return Response("{}", status=202)

    httpserver.expect_request("/v1/messages", method="POST").respond_with_handler(slow)
    text = acme.config.read_text().replace("timeout_s = 20", "timeout_s = 0.3")
    acme.configure(base=text)
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{closed.getsockname()[1]}"
    acme.write("unreachable.toml", text.replace(httpserver.url_for("/").rstrip("/"), nobody))
    registry = CollectorRegistry.from_entry_points()
    with Store.open(tmp_path / "state") as store:
        deliver(store, EDITION, people(PEOPLE[0]), make_transport(load_config(acme.config, registry), "2026-10"),
                plan())
        deliver(store, EDITION, people(PEOPLE[1]),
                make_transport(load_config(acme.root / "unreachable.toml", registry), "2026-10"), plan())
        rows = {row.recipient: row for row in store.deliveries("2026-10")}
    assert rows[PEOPLE[0]].status == "unknown" and "no answer from Acme Mail within 0.3 s" in rows[PEOPLE[0]].last_error
    assert rows[PEOPLE[1]].status == "temp_failed" and "unreachable" in rows[PEOPLE[1]].last_error


def test_the_example_through_the_command_line(acme, httpserver):
    answer(httpserver, (202, '{"id": "m1"}'))
    checked = acme.invoke("check")
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.splitlines()[-1].endswith(" · transport: mailapi (acme-mailapi 1.0)")
    assert acme.invoke("collect", "--month", "2026-10").exit_code == 0
    sent = acme.invoke("send", "--month", "2026-10")
    assert sent.exit_code == 0, sent.output
    assert "via mailapi: 1 accepted" in sent.stdout and TOKEN not in sent.output


def test_the_example_refuses_a_token_sent_in_clear_text_before_sending(acme, httpserver):
    acme.configure(base=acme.config.read_text().replace(httpserver.url_for("/").rstrip("/"), "http://mail.example"))
    result = acme.invoke("send", "--month", "2026-10")
    assert result.exit_code == 2, result.output
    assert "delivery.mailapi.base_url: expected an https:// URL, got 'http://mail.example'" in result.stderr
    assert not httpserver.log


def test_the_group_the_page_registers_in_is_the_one_the_registry_reads():
    assert GROUP in tomllib.loads(example("pyproject.toml"))["project"]["entry-points"]
