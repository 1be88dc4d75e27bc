"""Transports are plugins of the `newsletter.transports` group: the built-ins through the same path as a
third party's, each binding and checking its own [delivery.<name>] table before anything is sent."""

from __future__ import annotations

from importlib.metadata import EntryPoint

from newsletter.delivery.base import Transport
from newsletter.delivery.graph import GraphTransport
from newsletter.delivery.outbox import OutboxTransport
from newsletter.delivery.registry import GROUP, TransportRegistry
from newsletter.delivery.smtp import SmtpTransport
from tests.fixtures.workspace import BASE_CONFIG

RELAY = '''
from dataclasses import dataclass

from newsletter.delivery.base import Transport
from newsletter.binding import Secret

SENT = []


@dataclass(frozen=True)
class RelaySettings:
    endpoint: str = ""
    token: Secret | None = None
    batch_size: int = 10


class Relay(Transport):
    name = "relay"
    Settings = RelaySettings

    @classmethod
    def validate(cls, settings, where):
        if not settings.endpoint.startswith("https://"):
            raise where.error("endpoint", f"expected an https:// URL, got {settings.endpoint!r}")

    def open(self):
        SENT.append("open")

    def send(self, out, before_data, after_data=None):
        before_data()
        SENT.append(out.recipient)
        return "taken"
'''


def relay_installed(distributions) -> None:
    distributions.install("acme-relay", "2.1", {GROUP: {"relay": "acme_relay:Relay"}}, {"acme_relay": RELAY})


def with_transport(name: str, table: str = "") -> str:
    return BASE_CONFIG.replace('transport = "outbox"', f'transport = "{name}"') + table


def test_the_built_in_transports_come_through_the_entry_point_group():
    registry = TransportRegistry.from_entry_points()
    assert {name: registry.get(name) for name in ("outbox", "smtp", "graph")} == {
        "outbox": OutboxTransport, "smtp": SmtpTransport, "graph": GraphTransport}
    assert all(registry.provider(name).distribution == "it-newsletter" for name in ("outbox", "smtp", "graph"))


def test_a_misspelled_transport_table_names_the_one_meant(workspace):
    workspace.configure('[delivery.smpt]\nhost = "127.0.0.1"\n')
    result = workspace.invoke("check")
    assert result.exit_code == 2, result.output
    assert f"{workspace.config}: delivery.smpt: unknown table; did you mean [delivery.smtp]?" in result.stderr


def test_a_third_party_transport_binds_its_own_table_and_sends(workspace, distributions, monkeypatch):
    relay_installed(distributions)
    monkeypatch.setenv("RELAY_TOKEN", "relay-t0ken")
    workspace.configure(base=with_transport("relay", '[delivery.relay]\nendpoint = "https://relay.example"\n'
                                                     'token_env = "RELAY_TOKEN"\n'))
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    result = workspace.invoke("send", "--month", "2026-10")
    assert result.exit_code == 0, result.output
    assert "via relay: 1 sent" in result.stdout
    import acme_relay

    assert acme_relay.SENT == ["open", "all@example.com"]


def test_a_third_party_transport_table_is_checked_before_anything_is_sent(workspace, distributions):
    relay_installed(distributions)
    workspace.configure(base=with_transport("relay", '[delivery.relay]\nendpoint = "https://relay.example"\n'
                                                     'batch = 5\n'))
    result = workspace.invoke("send", "--month", "2026-10")
    assert result.exit_code == 2 and "delivery.relay.batch: unknown key; did you mean 'batch_size'?" in result.stderr
    workspace.configure(base=with_transport("relay", '[delivery.relay]\nendpoint = "http://relay.example"\n'))
    result = workspace.invoke("send", "--month", "2026-10")
    assert result.exit_code == 2, result.output
    assert (f"{workspace.config}: delivery.relay.endpoint: expected an https:// URL, got 'http://relay.example'"
            in result.stderr)
    import acme_relay

    assert acme_relay.SENT == []  # never opened


def test_a_broken_transport_plugin_fails_only_when_it_is_used(workspace, distributions):
    distributions.install("acme-pigeon", "0.3", {GROUP: {"pigeon": "acme_pigeon:Pigeon"}},
                          {"acme_pigeon": "raise ImportError('no module named coop')\n"})
    workspace.configure('[delivery.pigeon]\nloft = "roof"\n')  # outbox in use: the pigeon's table is left alone
    result = workspace.invoke("check")
    assert result.exit_code == 0, result.output
    assert "transport plugin 'pigeon' (acme_pigeon:Pigeon from acme-pigeon 0.3) failed to load" in result.stderr
    workspace.configure(base=with_transport("pigeon"))
    result = workspace.invoke("check")
    assert result.exit_code == 2, result.output
    assert "delivery.transport: its plugin failed to load (ImportError: no module named coop)" in result.stderr


class OddStatus(Transport):
    name = "odd"
    done_status = "delivered"  # not a state the ledger knows


class NotATransport:
    name = "plain"


def test_a_plugin_that_is_no_transport_or_whose_status_the_ledger_lacks_is_refused():
    registry = TransportRegistry({
        "odd": EntryPoint("odd", f"{__name__}:OddStatus", GROUP),
        "plain": EntryPoint("plain", f"{__name__}:NotATransport", GROUP),
    })
    assert registry.get("odd") is None and registry.get("plain") is None
    assert "done_status must be one of 'sent', 'accepted'" in registry.broken("odd")
    assert "is not a Transport subclass" in registry.broken("plain")
    assert registry.names() == []
