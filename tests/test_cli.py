"""The commands end to end through click's CliRunner, with real SQLite and files in tmp_path."""

from __future__ import annotations

import itertools
import json
import tomllib
from email import message_from_bytes, policy

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.model import SourceResult
from newsletter.period import Month
from newsletter.store import Store
from tests.fixtures.workspace import BASE_CONFIG

TICKET_KEYS = {"opened", "resolved", "backlog_end", "first_response_median_s", "first_response_p90_s",
               "resolution_median_s", "resolution_p90_s", "sla_met_pct", "csat_pct", "csat_responses",
               "top_categories", "partial", "warnings"}
MAIL_KEYS = {"scanned", "spam", "phishing", "malware", "blocked_total"}
SERVICE_KEYS = {"name", "uptime_pct", "downtime_s", "incidents", "longest_outage_s", "status"}


def demo(*args, state):
    return CliRunner().invoke(cli, [*args, "--demo", "--state-dir", str(state)], catch_exceptions=False)


def test_run_demo_delivers_once_then_has_nothing_to_do(tmp_path):
    state = tmp_path / "state"
    first = demo("run", "--month", "2026-10", state=state)
    assert first.exit_code == 0, first.output
    emails = list((state / "outbox" / "2026-10").glob("*.eml"))
    assert len(emails) == 1
    assert "HTML copy:" in first.output and (state / "archive" / "2026-10" / "newsletter.html").is_file()
    message = message_from_bytes(emails[0].read_bytes(), policy=policy.default)
    assert message["Subject"].startswith("IT in October:")
    assert message["Auto-Submitted"] == "auto-generated" and message["List-Id"] and message["Message-ID"]
    text, html = message.iter_parts()  # multipart/alternative: text first, HTML (with its inline charts) last
    assert message.get_content_type() == "multipart/alternative"
    assert text.get_content_type() == "text/plain"
    assert html.get_content_type() in ("text/html", "multipart/related")
    assert message.get_body(("html",)) is not None

    again = demo("run", "--month", "2026-10", state=state)
    assert again.exit_code == 3
    assert "already sent" in again.stderr
    assert len(list((state / "outbox" / "2026-10").glob("*.eml"))) == 1

    history = demo("history", state=state)
    assert "2026-10" in history.output and "1 sent" in history.output


def test_run_demo_builds_thirteen_months_of_history(tmp_path):
    state = tmp_path / "state"
    assert demo("run", "--month", "2026-10", state=state).exit_code == 0
    with Store.open(state) as store:
        months = [m.label for m in Month(2026, 10).history(12)]
        assert all(store.has_results(m) for m in [*months, "2026-10"])
        resolved = [next(r for r in store.results(m) if r.kind == "ticketing").metrics["resolved"] for m in months]
    assert len(set(resolved)) > 6, "demo numbers should move from month to month"


def test_demo_help_desk_months_differ_like_a_real_one(tmp_path):
    """Opened and resolved differ, the backlog moves, and the books balance month to month."""
    assert demo("collect", "--month", "2026-10", "--backfill", "12", state=tmp_path).exit_code == 0
    with Store.open(tmp_path) as store:
        months = [*Month(2026, 10).history(12), Month(2026, 10)]
        desk = [next(r for r in store.results(m.label) if r.kind == "ticketing").metrics for m in months]
    assert sum(m["opened"] != m["resolved"] for m in desk) >= 11, [(m["opened"], m["resolved"]) for m in desk]
    backlog = [m["backlog_end"] for m in desk]
    assert len(set(backlog)) >= 8 and max(backlog) - min(backlog) >= 15 and min(backlog) >= 5, backlog
    for before, month in itertools.pairwise(desk):
        assert month["backlog_end"] == before["backlog_end"] + month["opened"] - month["resolved"]


def test_collect_json_shape(tmp_path):
    result = demo("collect", "--month", "2026-10", "--json", state=tmp_path)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["month"] == "2026-10" and payload["timezone"] == "Europe/Berlin"
    by_kind = {s["kind"]: s for s in payload["sources"]}
    for source in payload["sources"]:
        assert set(source) == {"name", "type", "kind", "status", "error", "metrics", "partial", "warnings"}
        assert source["status"] in ("ok", "failed", "skipped")
        assert source["partial"] is False and source["warnings"] == []  # October is over and whole
    assert set(by_kind["ticketing"]["metrics"]) == TICKET_KEYS
    assert set(by_kind["mail_security"]["metrics"]) == MAIL_KEYS
    uptime = by_kind["uptime"]["metrics"]
    assert set(uptime) == {"services", "overall_uptime_pct"}
    assert all(set(s) == SERVICE_KEYS for s in uptime["services"])
    assert by_kind["highlights"]["status"] == "ok"
    tickets = by_kind["ticketing"]["metrics"]
    assert tickets["opened"] > 100 and 0 < tickets["first_response_median_s"] < tickets["first_response_p90_s"]
    assert all(isinstance(name, str) and count > 0 for name, count in tickets["top_categories"])
    mail = by_kind["mail_security"]["metrics"]
    assert mail["blocked_total"] >= mail["spam"] + mail["phishing"] + mail["malware"]


def test_demo_is_deterministic(tmp_path):
    one = json.loads(demo("collect", "--month", "2026-03", "--json", state=tmp_path / "a").stdout)
    two = json.loads(demo("collect", "--month", "2026-03", "--json", state=tmp_path / "b").stdout)
    assert one == two


def test_preview_writes_each_format_and_sends_nothing(tmp_path):
    for fmt, marker in (("html", "<!doctype html>"), ("text", "HELP DESK"), ("eml", "Content-Type: multipart")):
        out = tmp_path / f"draft.{fmt}"
        result = demo("preview", "--month", "2026-10", "--output", str(out), "--format", fmt, state=tmp_path / "s")
        assert result.exit_code == 0, result.output
        assert marker in out.read_text()
    assert not (tmp_path / "s").exists(), "a demo preview keeps its state in memory"


def test_preview_output_format_follows_the_file_name(tmp_path):
    markers = {"x.eml": "Content-Type: multipart", "x.txt": "HELP DESK", "x.htm": "<!doctype html>",
               "x.html": "<!doctype html>", "draft": "<!doctype html>"}
    for name, marker in markers.items():
        out = tmp_path / name
        result = demo("preview", "--month", "2026-10", "--output", str(out), state=tmp_path / "s")
        assert result.exit_code == 0, result.output
        assert out.read_text().startswith(marker) or marker in out.read_text()[:2000], name
    assert not (tmp_path / "x.eml").read_text().startswith("<"), "an .eml is a message, not HTML"
    clash = demo("preview", "--month", "2026-10", "--output", str(tmp_path / "y.eml"), "--format", "html",
                 state=tmp_path / "s")
    assert clash.exit_code == 2 and not (tmp_path / "y.eml").exists()
    assert "--format html" in clash.stderr and "y.eml" in clash.stderr and len(clash.stderr.splitlines()) == 1


def test_preview_output_of_a_per_person_workspace_is_the_first_persons_copy(workspace, tmp_path):
    workspace.write("people.csv", "email,name\nann@example.com,Ann Smith\nbob@example.com,Bob\n")
    workspace.write("templates/brand/subject.txt.j2", "For [[ recipient.name ]]: IT in {{ month.name }}")
    workspace.configure(base=BASE_CONFIG.replace('to = ["all@example.com"]', 'to = []\nrecipients = "people.csv"')
                        .replace('state_dir = "state"', 'state_dir = "state"\ntheme = "brand"'))
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    out = tmp_path / "draft.eml"
    result = workspace.invoke("preview", "--month", "2026-10", "--output", str(out))
    assert result.exit_code == 0, result.output
    message = message_from_bytes(out.read_bytes(), policy=policy.default)
    assert message["To"] == "Ann Smith <ann@example.com>" and message["Subject"].startswith("For Ann Smith: ")
    assert "Ann Smith <ann@example.com>" in result.stdout


def test_preview_html_is_an_email(tmp_path):
    out = tmp_path / "x.html"
    assert demo("preview", "--month", "2026-10", "--output", str(out), state=tmp_path).exit_code == 0
    html = out.read_text()
    assert '<html lang="en"' in html
    assert "<script" not in html and "<svg" not in html
    assert "October 2026" in html and "Requests resolved" in html


def store_snapshot(workspace, month: str, results: list[SourceResult]) -> None:
    """Store hand-made results. The demo sources of those names go: they are offline, so every draft
    would read them again (as it reads highlights) and replace what the test stored."""
    names = {r.name for r in results}
    for file in (workspace.root / "sources").glob("*.toml"):
        if tomllib.loads(file.read_text()).get("name", file.stem) in names:
            file.unlink()
    with Store.open(workspace.state) as store:
        store.save_results(month, results)


def test_text_from_sources_arrives_escaped(workspace, tmp_path):
    workspace.write("sources/highlights/2026-10.md", "## <script>alert('title')</script>\n"
                    "Body with <script>alert('body')</script> and <b>tags</b>.\n")
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    store_snapshot(workspace, "2026-10", [SourceResult.ok("helpdesk", "demo_ticketing", "ticketing", {
        "opened": 3, "resolved": 2, "top_categories": [["<script>alert('cat')</script>", 3]]})])
    out = tmp_path / "x.html"
    result = workspace.invoke("preview", "--month", "2026-10", "--output", str(out))
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "<script" not in html
    assert "&lt;script&gt;alert(" in html
    assert html.count("&lt;script&gt;") >= 3  # title, body and category


def test_unknown_numbers_show_as_unknown_not_zero(workspace, tmp_path):
    store_snapshot(workspace, "2026-10", [
        SourceResult.ok("helpdesk", "demo_ticketing", "ticketing", {"opened": 5, "resolved": None}),
        SourceResult.failed("mail-filter", "demo_mail_security", "mail_security", "boom"),
    ])
    out = tmp_path / "x.txt"
    assert workspace.invoke("preview", "--month", "2026-10", "--output", str(out), "--format", "text").exit_code == 0
    text = out.read_text()
    assert "- Requests resolved: not available this month." in text  # the short layout says so, no zero
    assert "0 requests" not in text
    assert "EMAIL SECURITY\nIts numbers could not be collected this month." in text
    assert "Threats blocked" not in text


def test_template_syntax_error_names_template_and_line(workspace, tmp_path):
    workspace.configure().write_text(workspace.config.read_text().replace('state_dir = "state"',
                                                                          'state_dir = "state"\ntheme = "brand"'))
    workspace.write("templates/brand/newsletter.mjml.j2",
                    '{% extends "default:newsletter.mjml.j2" %}\n{% block hero %}\n{% if %}\n{% endblock %}\n')
    result = workspace.invoke("check")
    assert result.exit_code == 2
    assert "newsletter.mjml.j2:3:" in result.stderr and "Traceback" not in result.output


def test_template_runtime_error_names_template_and_line(workspace, tmp_path):
    workspace.configure().write_text(workspace.config.read_text().replace('state_dir = "state"',
                                                                          'state_dir = "state"\ntheme = "brand"'))
    workspace.write("templates/brand/newsletter.txt.j2", "Hello\n{{ no_such_thing.value }}\n")
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    result = workspace.invoke("preview", "--month", "2026-10", "--output", str(tmp_path / "x"), "--format", "text")
    assert result.exit_code == 2
    assert "brand/newsletter.txt.j2:2: 'no_such_thing' is undefined" in result.stderr


def test_branded_theme_extends_the_default(workspace, tmp_path):
    workspace.configure().write_text(workspace.config.read_text().replace('state_dir = "state"',
                                                                          'state_dir = "state"\ntheme = "brand"'))
    workspace.write("templates/brand/newsletter.mjml.j2", """\
        {% extends "default:newsletter.mjml.j2" %}
        {% block hero %}<mj-section><mj-column><mj-text>Our own hero</mj-text></mj-column></mj-section>{% endblock %}
        """)
    workspace.write("templates/brand/theme.toml", '[colors]\nbrand = "#aa0000"\n')
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    out = tmp_path / "x.html"
    assert workspace.invoke("preview", "--month", "2026-10", "--output", str(out)).exit_code == 0
    html = out.read_text()
    assert "Our own hero" in html and "#aa0000" in html.lower() and "Help desk" in html


def test_required_source_failure_blocks_the_send(workspace):
    workspace.write("sources/highlights.toml", 'type = "highlights"\ndir = "highlights"\nrequired = true\n')
    workspace.write("sources/highlights/2026-10.md", "No headings here at all.\n")
    result = workspace.invoke("run", "--month", "2026-10")
    assert result.exit_code == 1
    assert "required source failed" in result.stderr and "## Title" in result.stderr
    assert not (workspace.state / "outbox").exists()


def test_send_without_collected_data_explains(workspace):
    result = workspace.invoke("send", "--month", "2026-10")
    assert result.exit_code == 1
    assert "nothing collected for 2026-10" in result.stderr and "newsletter collect" in result.stderr


def test_send_refuses_a_month_not_over_yet_unless_forced(workspace):
    """A typo for last month would mail a few days as the whole month, and mark that month sent."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    month = f"{datetime.now(ZoneInfo('Europe/Berlin')):%Y-%m}"  # the workspace's time zone: this month
    assert workspace.invoke("collect", "--month", month).exit_code in (0, 1)
    result = workspace.invoke("send", "--month", month)
    assert result.exit_code == 3, result.output
    assert f"edition {month} is not sent before its month is over" in result.stderr and "--force" in result.stderr
    assert not (workspace.state / "outbox").exists()
    forced = workspace.invoke("send", "--month", month, "--force")
    assert forced.exit_code == 0 and (workspace.state / "outbox" / month).is_dir(), forced.output


def test_bad_month_is_a_usage_error(workspace):
    result = workspace.invoke("collect", "--month", "October")
    assert result.exit_code == 2 and "--month" in result.stderr


@pytest.mark.parametrize("args", [("collect", "--month", "0000-01"), ("send", "--month", "0000-01"),
                                  ("send", "--year", "0000"), ("preview", "--month", "0001-01", "-o", "x.html")])
def test_a_month_or_year_out_of_range_is_a_usage_error_not_a_traceback(workspace, args):
    result = workspace.invoke(*args)
    assert result.exit_code == 2, result.output
    assert "from 1970 to 9998" in result.stderr or "the years 1970 to 9998" in result.stderr
    assert "Traceback" not in result.output


def test_a_preview_output_in_a_missing_folder_or_onto_a_folder_is_one_line(workspace, tmp_path):
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    for output, said in ((tmp_path / "nowhere" / "d.html", "does not exist"), (tmp_path, "is a folder")):
        result = workspace.invoke("preview", "--month", "2026-10", "--output", str(output))
        assert result.exit_code == 2 and f"--output {output}: " in result.stderr and said in result.stderr
        assert "Traceback" not in result.output


def test_a_home_folder_nobody_has_is_a_config_error(workspace, monkeypatch):
    result = workspace.invoke("check", "--config", "~nosuchuser-here/newsletter.toml")
    assert result.exit_code == 2 and "no home folder is known for '~nosuchuser-here'" in result.stderr
    workspace.configure(base=BASE_CONFIG.replace('state_dir = "state"', 'state_dir = "~nosuchuser-here/state"'))
    result = workspace.invoke("check")
    assert result.exit_code == 2 and "no home folder is known" in result.stderr, result.output


def test_init_creates_a_workspace_that_checks(tmp_path):
    target = tmp_path / "it-news"
    result = CliRunner().invoke(cli, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert (target / "newsletter.toml").is_file() and list((target / "sources").glob("*.toml"))
    assert (target / "sources" / "examples" / "zendesk.toml").is_file()
    check = CliRunner().invoke(cli, ["check", "--config", str(target / "newsletter.toml")])
    assert check.exit_code == 0, check.output
    assert CliRunner().invoke(cli, ["init", str(target)]).exit_code == 2


def test_init_never_replaces_a_source_or_highlights_file_already_there(tmp_path):
    target = tmp_path / "it-news"
    (target / "sources" / "highlights").mkdir(parents=True)
    mine = target / "sources" / "helpdesk.toml"
    mine.write_text('type = "jira"  # mine\n')
    result = CliRunner().invoke(cli, ["init", str(target)])
    assert result.exit_code == 2, result.output
    assert "init would replace sources/helpdesk.toml; choose an empty folder" in result.stderr
    assert mine.read_text() == 'type = "jira"  # mine\n' and not (target / "newsletter.toml").exists()


def test_init_on_a_file_or_under_one_says_so_in_one_line(tmp_path):
    existing = tmp_path / "notes.txt"
    existing.write_text("mine")
    for target in (existing, existing / "ws"):
        result = CliRunner().invoke(cli, ["init", str(target)])
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"newsletter: {target}") and "Traceback" not in result.output
        assert len(result.stderr.splitlines()) == 1 and "not a folder" in result.stderr, result.stderr
    assert existing.read_text() == "mine"


def test_a_state_dir_nobody_can_create_stops_every_command_in_one_line_and_check_says_so(workspace, tmp_path):
    import os
    import pwd

    blocker = tmp_path / "a-file"
    blocker.write_text("x")  # a file where a folder should be: stops root too, unlike chmod
    user = pwd.getpwuid(os.geteuid()).pw_name
    for state_dir in (blocker / "state", "/proc/newsletter-state"):
        workspace.configure(base=BASE_CONFIG.replace('state_dir = "state"', f'state_dir = "{state_dir}"'))
        for command in (["check"], ["collect", "--month", "2026-10"], ["run", "--month", "2026-10"],
                        ["history"]):
            result = CliRunner().invoke(cli, [command[0], "--config", str(workspace.config), *command[1:]])
            assert result.exit_code == 2, (command, result.output, result.exception)
            (line,) = result.stderr.splitlines()
            assert line.startswith(f"newsletter: {state_dir}: user {user} cannot "), line


def test_paused_services_read_as_paused_not_as_a_number(workspace, tmp_path):
    """In the full layout, where every service is listed (the short one lists none)."""
    workspace.configure().write_text(workspace.config.read_text().replace('state_dir = "state"',
                                                                          'state_dir = "state"\ntheme = "full"'))
    workspace.write("templates/full/theme.toml", '[layout]\ndetail = "full"\n')
    store_snapshot(workspace, "2026-10", [SourceResult.ok("monitoring", "demo_uptime", "uptime", {
        "overall_uptime_pct": 99.9,
        "services": [
            {"name": "Email", "uptime_pct": 99.9, "downtime_s": 2678, "incidents": 1, "longest_outage_s": 2678,
             "status": "monitored"},
            {"name": "Old VPN", "uptime_pct": None, "downtime_s": None, "incidents": None, "longest_outage_s": None,
             "status": "paused"},
        ]})])
    for fmt in ("text", "html"):
        out = tmp_path / f"x.{fmt}"
        assert workspace.invoke("preview", "--month", "2026-10", "--output", str(out), "--format", fmt).exit_code == 0
        page = out.read_text()
        assert "paused this month" in page
        assert "Email" in page and "Old VPN" in page
    text = (tmp_path / "x.text").read_text()
    assert "- Old VPN: paused this month\n" in text and "Old VPN: n/a" not in text


def test_an_outbox_that_cannot_be_written_leaves_the_person_to_send_later_never_unknown(workspace):
    """A disk full (here: a folder where the message's file goes) means nothing was delivered: the
    person is tried again by the next run, not taken for `unknown`, and the edition is not done."""
    workspace.configure("retry_rounds = 0\n")  # no second round within the run: the next run sends
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    blocked = workspace.state / "outbox" / "2026-10" / "00001-all@example.com.tmp"
    blocked.mkdir(parents=True)
    result = workspace.invoke("send", "--month", "2026-10")
    assert result.exit_code == 1, result.output
    assert "cannot write" in result.stderr and "Traceback" not in result.output
    with Store.open(workspace.state) as store:
        assert [(r.status, "cannot write" in (r.last_error or "")) for r in store.deliveries("2026-10")] == [
            ("temp_failed", True)]
    blocked.rmdir()
    again = workspace.invoke("send", "--month", "2026-10")
    assert again.exit_code == 0, again.output
    assert len(list((workspace.state / "outbox" / "2026-10").glob("*.eml"))) == 1
