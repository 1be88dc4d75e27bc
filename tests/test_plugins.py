"""Plugins of both groups know the distribution that provides them, and a name two distributions
offer is a warning naming both, with the same one used whatever the install order."""

from __future__ import annotations

import logging
from importlib.metadata import Distribution

import pytest

from newsletter.collectors.registry import GROUP as COLLECTORS
from newsletter.collectors.registry import CollectorRegistry
from newsletter.collectors.rt import RequestTracker
from newsletter.delivery.registry import GROUP as TRANSPORTS
from newsletter.delivery.registry import TransportRegistry
from newsletter.plugins import Provider

MAIL_API = '''
from newsletter.delivery.base import Transport


class MailApi(Transport):
    name = "mailapi"
    origin = "{origin}"
'''

DESK = '''
from newsletter.collectors.base import Collector


class Desk(Collector):
    type = "rt"
    kind = "ticketing"
'''


def install_mail_api(distributions, name: str, version: str) -> None:
    module = name.replace("-", "_")
    distributions.install(name, version, {TRANSPORTS: {"mailapi": f"{module}:MailApi"}},
                          {module: MAIL_API.format(origin=name)})


@pytest.mark.parametrize("order", [("beta-mail", "alpha-mail"), ("alpha-mail", "beta-mail")])
def test_a_name_two_distributions_offer_warns_naming_both_and_uses_the_same_one(distributions, caplog, order):
    for name in order:
        install_mail_api(distributions, name, {"alpha-mail": "2.0", "beta-mail": "1.4"}[name])
    with caplog.at_level(logging.WARNING, logger="newsletter"):
        registry = TransportRegistry.from_entry_points()
    [warning] = [r.getMessage() for r in caplog.records if "'mailapi'" in r.getMessage()]
    assert "alpha-mail 2.0 (alpha_mail:MailApi)" in warning and "beta-mail 1.4 (beta_mail:MailApi)" in warning
    assert "using the one from alpha-mail 2.0" in warning
    assert registry.get("mailapi").origin == "alpha-mail"
    assert registry.provider("mailapi") == Provider("alpha-mail", "2.0")


def test_a_built_in_name_stays_the_built_in_when_a_plugin_offers_it_too(distributions, caplog):
    distributions.install("acme-desk", "9.0", {COLLECTORS: {"rt": "acme_desk:Desk"}}, {"acme_desk": DESK})
    with caplog.at_level(logging.WARNING, logger="newsletter"):
        registry = CollectorRegistry.from_entry_points()
    assert registry.get("rt") is RequestTracker
    assert registry.provider("rt").distribution == "it-newsletter"
    [warning] = [r.getMessage() for r in caplog.records if "'rt'" in r.getMessage()]
    assert warning.startswith("collector 'rt' is offered by it-newsletter ")
    assert "acme-desk 9.0 (acme_desk:Desk)" in warning and "using the one from it-newsletter" in warning


def test_entry_points_handed_over_keep_their_distribution(distributions, caplog):
    site = distributions.install("alpha-mail", "2.0", {TRANSPORTS: {"mailapi": "alpha_mail:MailApi"}},
                                 {"alpha_mail": MAIL_API.format(origin="alpha-mail")})
    [entry] = Distribution.at(site / "alpha_mail-2.0.dist-info").entry_points
    with caplog.at_level(logging.WARNING, logger="newsletter"):
        registry = TransportRegistry.from_entry_points([entry, entry])  # the same entry twice is no clash
    assert not caplog.records
    assert registry.get("mailapi").origin == "alpha-mail"
    assert registry.provider("mailapi") == Provider("alpha-mail", "2.0")
    assert str(registry.provider("mailapi")) == "alpha-mail 2.0"


def test_a_class_handed_over_directly_has_no_distribution():
    class Local(RequestTracker):
        type = "local"

    registry = CollectorRegistry({"local": Local})
    assert registry.provider("local") == Provider()
    assert str(registry.provider("local")) == "no installed distribution"


def test_check_lists_the_source_types_and_the_transport_in_use_with_their_distributions(workspace, distributions):
    from newsletter import __version__

    own = f"it-newsletter {__version__}"
    result = workspace.invoke("check")
    assert result.exit_code == 0, result.output
    line = result.stdout.splitlines()[-1]
    assert line == (f"sources: demo_awareness ({own}), demo_backup ({own}), demo_devices ({own}), "
                    f"demo_ticketing ({own}), highlights ({own}), demo_mail_security ({own}), "
                    f"demo_uptime ({own}) · transport: outbox ({own})")

    install_mail_api(distributions, "alpha-mail", "2.0")
    distributions.install("acme-desk", "9.0", {COLLECTORS: {"acme_desk": "acme_desk:Desk"}},
                          {"acme_desk": DESK.replace('"rt"', '"acme_desk"')})
    workspace.write("sources/desk.toml", 'type = "acme_desk"\ntitle = "Acme desk"\n')
    workspace.write("sources/off.toml", 'type = "prometheus"\nname = "off"\nenabled = false\n'
                                        'base_url = "http://127.0.0.1:9090"\nselector = "up"\n')
    workspace.configure(base=workspace.config.read_text().replace('"outbox"', '"mailapi"'))
    result = workspace.invoke("check")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        f"sources: demo_awareness ({own}), demo_backup ({own}), acme_desk (acme-desk 9.0), demo_devices ({own}), "
        f"demo_ticketing ({own}), highlights ({own}), demo_mail_security ({own}), "
        f"demo_uptime ({own}) · transport: mailapi (alpha-mail 2.0)")


BROKEN_DESK = '''
from newsletter.collectors.base import Collector


class Desk(Collector):
    type = "acme_desk"
    kind = "ticketing"

    def __init__(self, *args, **kwargs):
        {init}
        super().__init__(*args, **kwargs)

    def validate(self):
        {validate}
'''


@pytest.mark.parametrize(("init", "validate", "said"), [
    ('raise RuntimeError("no licence file")', "pass", "RuntimeError: no licence file"),
    ("pass", 'raise KeyError("region")', "KeyError: 'region'"),
])
def test_a_plugin_that_raises_while_starting_fails_its_source_naming_it_and_the_rest_is_collected(
        workspace, distributions, init, validate, said):
    distributions.install("acme-desk", "9.0", {COLLECTORS: {"acme_desk": "acme_desk:Desk"}},
                          {"acme_desk": BROKEN_DESK.format(init=init, validate=validate)})
    workspace.write("sources/desk.toml", 'type = "acme_desk"\ntitle = "Acme desk"\n')
    result = workspace.invoke("collect", "--month", "2026-10")
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.stderr.splitlines() if "desk: failed" in line]
    assert "acme_desk.Desk from the distribution acme-desk 9.0" in line and said in line
    assert "Traceback" not in result.output
    assert "helpdesk" in result.stdout and " ok" in result.stdout.split("helpdesk", 1)[1].splitlines()[0]
    checked = workspace.invoke("check")
    assert checked.exit_code == 0 and said in checked.stderr and "acme-desk 9.0" in checked.stderr


UNREADABLE_DESK = '''
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsletter.collectors.base import Collector

if TYPE_CHECKING:
    from decimal import Decimal

{settings}


class Desk(Collector):
    type = "acme_desk"
    kind = "ticketing"
    Settings = S
'''


@pytest.mark.parametrize(("settings", "said"), [
    ("class S:\n    limit = 1", "TypeError: must be called with a dataclass type or instance"),
    ("@dataclass(frozen=True)\nclass S:\n    limit: Decimal = 1", "NameError: name 'Decimal' is not defined"),
])
def test_a_plugin_whose_settings_cannot_be_read_is_one_line_naming_it(workspace, distributions, settings, said):
    distributions.install("acme-desk", "9.0", {COLLECTORS: {"acme_desk": "acme_desk:Desk"}},
                          {"acme_desk": UNREADABLE_DESK.format(settings=settings)})
    desk = workspace.write("sources/desk.toml", 'type = "acme_desk"\ntitle = "Acme desk"\nlimit = 3\n')
    result = workspace.invoke("check")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"newsletter: {desk}: type: collector 'acme_desk' (acme_desk.Desk from the "
                                    "distribution acme-desk 9.0) could not read its keys: ")
    assert said in result.stderr and len(result.stderr.splitlines()) == 1


def test_a_distribution_whose_entry_points_cannot_be_read_is_a_warning_naming_it(workspace, distributions):
    site = distributions.install("broken-thing", "1.0", {COLLECTORS: {"thing": "thing:Thing"}})
    (site / "broken_thing-1.0.dist-info" / "entry_points.txt").write_text("[newsletter.collectors]\nnot a pair\n")
    distributions.install("acme-desk", "9.0", {COLLECTORS: {"acme_desk": "acme_desk:Desk"}},
                          {"acme_desk": DESK.replace('"rt"', '"acme_desk"')})
    workspace.write("sources/desk.toml", 'type = "acme_desk"\ntitle = "Acme desk"\n')
    result = workspace.invoke("check")
    assert result.exit_code == 0, result.output
    assert "acme_desk (acme-desk 9.0)" in result.stdout
    [warning] = [line for line in result.stderr.splitlines() if "broken-thing" in line]
    assert "broken-thing 1.0" in warning and "entry_points.txt" in warning


def test_a_plugin_that_fails_unexpectedly_while_collecting_is_named_with_its_distribution(workspace, distributions):
    distributions.install("acme-desk", "9.0", {COLLECTORS: {"acme_desk": "acme_desk:Desk"}},
                          {"acme_desk": DESK.replace('"rt"', '"acme_desk"') + '''
    def collect(self, month):
        return {}["tickets"]
'''})
    workspace.write("sources/desk.toml", 'type = "acme_desk"\ntitle = "Acme desk"\n')
    result = workspace.invoke("collect", "--month", "2026-10")
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.stderr.splitlines() if "desk: failed" in line]
    assert "collector 'acme_desk' (acme_desk.Desk from the distribution acme-desk 9.0) failed: unexpected " \
           "KeyError: 'tickets'; the collector needs fixing (tell its authors)" in line
