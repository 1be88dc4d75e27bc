"""The draft is whole, or says it is not: through the CLI on a real workspace (tests/fixtures/workspace.py)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from email import message_from_bytes, policy
from importlib.metadata import entry_points
from zoneinfo import ZoneInfo

import pytest

from newsletter.collectors.base import Collector
from newsletter.collectors.registry import GROUP, CollectorRegistry, describe_plugin
from newsletter.model import KINDS
from newsletter.period import Month
from newsletter.preview import Previewer, PreviewOptions
from newsletter.result_checks import result_problem
from newsletter.results import (
    KIND_TYPES,
    CustomMetrics,
    CustomValue,
    Highlight,
    MailStats,
    MonthHighlights,
    ServiceUptime,
    TicketStats,
    UptimeStats,
)
from newsletter.workspace import Workspace as Job

BERLIN = ZoneInfo("Europe/Berlin")


def fail_mail_source(workspace, extra: str = "") -> None:
    """The mail source becomes a real one whose export file is missing: it fails at every collect."""
    workspace.write("sources/mail.toml", f'type = "exchange_csv"\nname = "mail-filter"\npath = "missing.csv"\n{extra}')


def test_a_failed_source_is_named_by_its_kind_never_by_its_file_name(workspace, tmp_path):
    fail_mail_source(workspace)
    collected = workspace.invoke("collect", "--month", "2026-10")
    assert collected.exit_code == 0 and "optional source mail-filter failed" in collected.stderr
    out = tmp_path / "draft.txt"
    assert workspace.invoke("preview", "--month", "2026-10", "--output", str(out), "--format", "text").exit_code == 0
    text = out.read_text()
    assert "Not included this month: Mail security." in text
    assert "mail-filter" not in text


def test_a_title_names_the_source_in_the_email(workspace, tmp_path):
    fail_mail_source(workspace, 'title = "Spam filter (Berlin)"\n')
    workspace.write("sources/helpdesk-emea.toml", 'type = "demo_ticketing"\nname = "helpdesk-emea"\n'
                    'title = "Help desk EMEA"\n')
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0  # an optional source failed
    for fmt in ("text", "html"):
        out = tmp_path / f"draft.{fmt}"
        assert workspace.invoke("preview", "--month", "2026-10", "--output", str(out), "--format", fmt).exit_code == 0
        page = out.read_text()
        assert "Not included this month: Spam filter (Berlin)." in page
        assert "help desk emea" in page.lower() and "helpdesk-emea" not in page and "mail-filter" not in page
    text = (tmp_path / "draft.text").read_text()
    assert "HELP DESK EMEA\n" in text and "\nHELP DESK\n" in text  # two help desks: each under its title


def test_check_warns_when_two_sources_share_a_title(workspace):
    workspace.write("sources/helpdesk-emea.toml", 'type = "demo_ticketing"\nname = "helpdesk-emea"\n')
    result = workspace.invoke("check")
    assert result.exit_code == 0, result.output
    assert "helpdesk-emea.toml" in result.stderr and "title" in result.stderr and "Help desk" in result.stderr


def test_an_empty_title_is_a_config_error(workspace):
    workspace.write("sources/helpdesk.toml", 'type = "demo_ticketing"\nname = "helpdesk"\ntitle = " "\n')
    result = workspace.invoke("check")
    assert result.exit_code == 2
    assert "helpdesk.toml: title: expected the name people know this source by" in result.stderr


# a plugin's mistakes ---------------------------------------------------------------------------
class UnknownKind(Collector):
    """A third-party collector that invents a kind of its own."""

    type = "acme_tickets"
    kind = "tickets"
    offline = True

    def collect(self, month):
        return TicketStats(opened=5)


class WrongShape(Collector):
    """A third-party help desk that still returns a mapping of its own names, not TicketStats."""

    type = "acme_desk"
    kind = "ticketing"

    def collect(self, month):
        return {"tickets_opened": 5, "tickets_closed": 4}


class WrongKind(Collector):
    """A third-party help desk that returns another kind's result."""

    type = "acme_mail"
    kind = "ticketing"
    offline = True

    def collect(self, month):
        return MailStats(scanned=5)


class NothingKnown(Collector):
    """A third-party help desk that knows none of its numbers and says nothing about why."""

    type = "acme_blank"
    kind = "ticketing"
    offline = True

    def collect(self, month):
        return TicketStats()


def with_plugins(*plugins: type[Collector]) -> CollectorRegistry:
    """The installed collectors plus the test's own: nothing global changes."""
    installed = {entry.name: entry for entry in entry_points(group=GROUP)}
    return CollectorRegistry({**installed, **{plugin.type: plugin for plugin in plugins}})


@pytest.mark.parametrize(("plugin", "problem"), [
    (UnknownKind, "cannot be used: kind 'tickets' is not one of ticketing, mail_security, uptime, highlights, custom"),
    (WrongShape, "returned a result the newsletter cannot use: dict instead of TicketStats, the result of kind "
                 "'ticketing'"),
    (WrongKind, "MailStats instead of TicketStats"),
    (NothingKnown, "none of the ticketing numbers (opened, resolved, backlog_end, ...) is known"),
])
def test_a_plugin_result_of_the_wrong_kind_or_shape_fails_naming_the_plugin(workspace, tmp_path, plugin, problem):
    registry = with_plugins(plugin)
    workspace.write("sources/acme.toml", f'type = "{plugin.type}"\nname = "acme"\ntitle = "Acme desk"\n')
    result = workspace.invoke("collect", "--month", "2026-10", "--json", registry=registry)
    assert result.exit_code == 0, result.output  # an optional source: a warning
    acme = next(s for s in json.loads(result.stdout)["sources"] if s["name"] == "acme")
    assert acme["status"] == "failed" and acme["metrics"] == {}
    assert f"collector {plugin.type!r} (tests.test_draft_whole.{plugin.__name__})" in acme["error"]
    assert problem in acme["error"]
    assert "acme: failed:" in result.stderr
    out = tmp_path / "draft.txt"
    assert workspace.invoke("preview", "--month", "2026-10", "--output", str(out), "--format", "text",
                            registry=registry).exit_code == 0
    assert "Not included this month: Acme desk." in out.read_text()


def test_a_plugin_from_a_distribution_is_named_with_it():
    described = describe_plugin(CollectorRegistry.from_entry_points().get("rt"))
    names = {entry.dist.name for entry in entry_points(group=GROUP, name="rt") if entry.dist}
    assert re.fullmatch(r"newsletter\.collectors\.rt\.RequestTracker from the distribution (\S+) \d\S*", described)
    assert described.split()[4] in names, (described, names)


@pytest.mark.parametrize(("kind", "stats", "problem"), [
    ("ticketing", TicketStats(opened="5"), "opened: '5' is not a number"),
    ("ticketing", TicketStats(opened=True), "opened: True is not a number"),
    ("ticketing", TicketStats(resolved=float("nan")), "resolved: nan is not a number"),
    ("ticketing", TicketStats(opened=3, top_categories=(("VPN",),)), "top_categories[0]: expected (name, count)"),
    ("mail_security", MailStats(), "none of the mail_security numbers"),
    ("mail_security", MailStats(spam=3, rejected="2"), "rejected: '2' is not a number"),
    ("uptime", UptimeStats(services=ServiceUptime("VPN", 99.0, 0, 0, 0)), "services: expected a tuple"),
    ("uptime", UptimeStats((ServiceUptime(None, 99.0, 0, 0, 0),)), "services[0].name: expected a name"),
    ("uptime", UptimeStats(({"name": "VPN"},)), "services[0]: expected a ServiceUptime"),
    ("highlights", MonthHighlights((Highlight("x", None),)), "items[0].body: expected text"),
    ("highlights", MonthHighlights(({"title": "x", "body": "y"},)), "items[0]: expected a Highlight"),
    ("custom", CustomMetrics({"laptops": CustomValue(3, "")}), "values.laptops.label: expected text"),
    ("custom", CustomMetrics({"laptops": CustomValue(3, "Laptops", "km")}),
     "values.laptops.unit: 'km' is not one of count, pct, duration"),
    ("custom", CustomMetrics({"laptops": {"value": 3, "label": "Laptops"}}), "values.laptops: expected a CustomValue"),
    ("mail_security", MailStats(spam=3, warnings="late"), "warnings: expected a tuple of text"),
    ("mail_security", MailStats(spam=3, partial="yes"), "partial: expected True, False or None"),
    ("mail_security", MailStats(spam=3, covered_days="22"), "covered_days: '22' is not a number"),
    ("mail_security", MailStats(spam=3, extra={"spam": 4}), "extra: 'spam' is not a name of the source's own"),
    ("mail_security", MailStats(spam=3, extra={"window": [1]}), "extra.window: [1] is not text, a number"),
    ("mail_security", {"spam": 3}, "dict instead of MailStats"),
])
def test_results_that_are_not_their_kinds_type_are_named(kind, stats, problem):
    assert problem in result_problem(kind, stats)


def test_every_kind_has_its_type_and_the_built_in_collectors_return_it(workspace):
    assert tuple(KIND_TYPES) == KINDS
    sources = json.loads(workspace.invoke("collect", "--month", "2026-10", "--json").stdout)["sources"]
    assert {s["kind"] for s in sources} == set(KINDS) - {"custom"}
    assert [s["name"] for s in sources if s["status"] != "ok"] == []
    laptops = CustomMetrics({"laptops": CustomValue(None, "Laptops")})
    assert result_problem("custom", laptops) is None  # unknown is None, and a valid value
    assert laptops.metrics() == {"values": {"laptops": {"value": None, "label": "Laptops", "unit": "count",
                                                        "better": ""}}}


# months that have not begun, are still running, or that a source covers only partly -----------------
def this_month() -> Month:
    return Month.parse("last", BERLIN).next()


def test_a_month_that_has_not_begun_is_refused(workspace, tmp_path):
    coming = this_month().next()
    for command in (["collect"], ["preview", "--output", str(tmp_path / "x.html")], ["run"], ["approve"]):
        result = workspace.invoke(*command, "--month", coming.label)
        assert result.exit_code == 2, (command, result.output)
        assert result.stderr.count("\n") == 1 and f"{coming.name} has not begun" in result.stderr
    assert not (workspace.state / "outbox").exists()


def test_the_month_still_running_is_partial_in_collect_and_in_the_email(workspace, tmp_path):
    month = this_month()
    days = (datetime.now(BERLIN).date() - month.first_day).days + 1
    result = workspace.invoke("collect", "--month", month.label, "--json")
    assert result.exit_code == 0, result.output
    sources = {s["name"]: s for s in json.loads(result.stdout)["sources"]}
    for name in ("helpdesk", "mail-filter", "monitoring"):
        assert sources[name]["status"] == "ok" and sources[name]["partial"] is True, sources[name]
        assert sources[name]["warnings"] == [f"{month} is still running: these numbers cover {days} of its "
                                             f"{month.days} days so far"]
        assert sources[name]["metrics"]["covered_days"] == days
    assert sources["highlights"]["partial"] is False and sources["highlights"]["warnings"] == []
    listed = workspace.invoke("collect", "--month", month.label)
    assert f"helpdesk             partial  {month} is still running" in listed.stdout
    out = tmp_path / "draft.txt"
    assert workspace.invoke("preview", "--month", month.label, "--output", str(out), "--format", "text").exit_code == 0
    assert f"These numbers cover {days} of the {month.days} days of {month.short_name}." in out.read_text()


def mailflow(days: range) -> str:
    rows = ['"Date","Direction","EventType","Count"']
    for day in days:
        rows += [f'"10/{day}/2026 12:00:00 AM","Inbound","GoodMail","1000"',
                 f'"10/{day}/2026 12:00:00 AM","Inbound","EdgeBlockSpam","300"']
    return "\n".join(rows) + "\n"


@pytest.fixture
def partly(workspace):
    """A required mail source whose export covers 22 of October's 31 days, with approval by reviewers."""
    workspace.write("sources/mail.toml", 'type = "exchange_csv"\nname = "mail-filter"\ntitle = "Mail filter"\n'
                    'path = "mailflow.csv"\nrequired = true\n')
    workspace.write("sources/mailflow.csv", mailflow(range(10, 32)))
    workspace.configure('require_approval = true\nreviewers = ["boss@example.com"]\n')
    return workspace


WARNING = "mailflow.csv covers 22 of the 31 days of 2026-10"


def test_a_source_that_covers_part_of_the_month_says_so_everywhere(partly, tmp_path):
    result = partly.invoke("collect", "--month", "2026-10", "--json")
    assert result.exit_code == 0, result.output
    mail = next(s for s in json.loads(result.stdout)["sources"] if s["name"] == "mail-filter")
    assert (mail["status"], mail["partial"], mail["warnings"]) == ("ok", True, [WARNING])
    assert mail["metrics"]["covered_days"] == 22 and mail["metrics"]["spam"] == 22 * 300
    assert set(mail) == {"name", "type", "kind", "status", "error", "metrics", "partial", "warnings"}
    assert f"mail-filter          partial  {WARNING}" in partly.invoke("collect", "--month", "2026-10").stdout

    out = tmp_path / "draft.txt"
    assert partly.invoke("preview", "--month", "2026-10", "--output", str(out), "--format", "text").exit_code == 0
    text = out.read_text()
    assert "EMAIL SECURITY\nThese numbers cover 22 of the 31 days of October." in text
    assert "threats blocked (counted over 22 of 31 days)." in text  # the hero says it beside the number

    def open_workspace(demo_in_memory=False, **extra):
        return Job.open(config_path=str(partly.config), **extra)

    previewer = Previewer(open_workspace, PreviewOptions(month="2026-10"))
    try:
        sources = {s["name"]: s for s in previewer.start().sources}
        assert sources["mail-filter"] == {"name": "mail-filter", "status": "partial", "error": WARNING}
    finally:
        previewer.close()


def test_run_sends_a_partial_required_source_only_with_force(partly):
    refused = partly.invoke("run", "--month", "2026-10")
    assert refused.exit_code == 1, refused.output
    assert f"required source covers only part of 2026-10, not sending: mail-filter: {WARNING}" in refused.stderr
    assert "--force" in refused.stderr and not (partly.state / "outbox").exists()

    waiting = partly.invoke("run", "--month", "2026-10", "--force")
    assert waiting.exit_code == 3, waiting.output
    (request,) = (partly.state / "outbox" / "reviews").glob("*.eml")
    body = message_from_bytes(request.read_bytes(), policy=policy.default).get_content().replace("\r\n", "\n")
    assert f"Sources that cover only part of the month (the email says so):\n  mail-filter: {WARNING}" in body
    assert partly.invoke("approve", "--month", "2026-10", "--by", "alice").exit_code == 0
    assert partly.invoke("run", "--month", "2026-10").exit_code == 1, "every run needs --force for it"
    sent = partly.invoke("run", "--month", "2026-10", "--force")
    assert sent.exit_code == 0, sent.output
    (email,) = (partly.state / "outbox" / "2026-10").glob("*.eml")
    message = message_from_bytes(email.read_bytes(), policy=policy.default)
    assert "These numbers cover 22 of the 31 days of October." in message.get_body(("plain",)).get_content()
    assert "These numbers cover 22 of the 31 days of October." in message.get_body(("html",)).get_content()


def test_a_partial_local_file_fixed_while_the_draft_waits_counts_as_fixed(partly):
    assert partly.invoke("run", "--month", "2026-10", "--force").exit_code == 3  # waits for approval
    partly.write("sources/mailflow.csv", mailflow(range(1, 32)))  # the whole month exported after all
    again = partly.invoke("run", "--month", "2026-10")
    assert again.exit_code == 3, again.output
    assert "waits for approval (it changed" not in again.stderr and "covers only part" not in again.stderr
    assert len(list((partly.state / "outbox" / "reviews").glob("*.eml"))) == 2, "the new version is asked for"
