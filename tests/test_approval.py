"""The approval gate end to end through the CLI: real SQLite, real outbox files in tmp_path."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from newsletter.collectors.base import Collector
from newsletter.collectors.registry import GROUP, CollectorRegistry
from newsletter.errors import SourceError
from newsletter.results import TicketStats
from tests.fixtures.workspace import BASE_CONFIG

HERO = ('{%% extends "default:newsletter.mjml.j2" %%}\n{%% block hero %%}<mj-section><mj-column>'
        '<mj-text>%s</mj-text></mj-column></mj-section>{%% endblock %%}\n')


@pytest.fixture
def gated(workspace):
    """A workspace whose sends wait for approval, with a brand template to change."""
    workspace.configure('require_approval = true\nreviewers = ["boss@example.com", "Deputy <deputy@example.com>"]\n',
                        base=BASE_CONFIG.replace('state_dir = "state"', 'state_dir = "state"\ntheme = "brand"'))
    workspace.write("templates/brand/newsletter.mjml.j2", HERO % "Before")
    return workspace


def reviewed_over_smtp(workspace, smtp_server, reviewer: str) -> None:
    """Approval required, `reviewer` the one reviewer, everything mailed through the test SMTP server."""
    workspace.configure(f"""\
        require_approval = true
        reviewers = ["{reviewer}"]
        [delivery.smtp]
        host = "127.0.0.1"
        port = {smtp_server.port}
        security = "none"
        """, base=BASE_CONFIG.replace('transport = "outbox"', 'transport = "smtp"'))


def sent(workspace) -> list:
    return sorted((workspace.state / "outbox" / "2026-10").glob("*.eml"))


def review_requests(workspace) -> list:
    return sorted((workspace.state / "outbox" / "reviews").glob("*.eml"))


def test_approve_then_change_then_approve_again_sends_once(gated):
    first = gated.invoke("run", "--month", "2026-10")
    assert first.exit_code == 3, first.output
    assert "waits for approval" in first.stderr and "newsletter approve" in first.stderr
    assert sent(gated) == []
    asked = review_requests(gated)
    assert len(asked) == 2, "each reviewer is asked once"
    request = message_from_bytes(asked[0].read_bytes(), policy=policy.default)
    body = request.get_content()
    assert request["Subject"].startswith("Approval needed: IT in October:")
    assert "Requests resolved" in body and "newsletter preview" in body and "newsletter approve" in body
    assert "--hash" in body and "HELP DESK" in body, "the plain-text draft travels with the request"

    again = gated.invoke("run", "--month", "2026-10")
    assert again.exit_code == 3 and "reviewers were asked" in again.stderr
    assert len(review_requests(gated)) == 2, "a retry does not ask the reviewers again"

    approved = gated.invoke("approve", "--month", "2026-10", "--by", "alice")
    assert approved.exit_code == 0, approved.output
    assert "alice" in gated.invoke("history").output

    gated.write("templates/brand/newsletter.mjml.j2", HERO % "After")
    changed = gated.invoke("run", "--month", "2026-10")
    assert changed.exit_code == 3, changed.output
    assert "changed since alice approved" in changed.stderr
    assert sent(gated) == [], "nobody saw this version: it must not go out"
    assert len(review_requests(gated)) == 4, "new content: the reviewers are asked again"
    assert gated.invoke("send", "--month", "2026-10").exit_code == 3, "send honours the gate too"
    assert sent(gated) == []

    assert gated.invoke("approve", "--month", "2026-10", "--by", "bob").exit_code == 0
    final = gated.invoke("run", "--month", "2026-10")
    assert final.exit_code == 0, final.output
    (email,) = sent(gated)
    assert "After" in email.read_text()
    assert gated.invoke("run", "--month", "2026-10").exit_code == 3
    assert len(sent(gated)) == 1, "sent exactly once"

    history = gated.invoke("history").output.splitlines()
    assert history[0].split()[:4] == ["month", "status", "deliveries", "approved"]
    row = history[1].split()
    assert row[:5] == ["2026-10", "sent", "1", "sent", "bob"]


def test_approve_refuses_content_that_changed_since_it_was_seen(gated):
    assert gated.invoke("collect", "--month", "2026-10").exit_code == 0
    result = gated.invoke("approve", "--month", "2026-10", "--by", "alice", "--hash", "0123456789ab")
    assert result.exit_code == 1
    assert "changed since you looked at it" in result.stderr
    assert "approved" not in gated.invoke("history").output.split("\n", 1)[-1]


@pytest.mark.parametrize("given", ["", " ", "0123", "not-a-hash"])
def test_approve_refuses_a_hash_that_would_match_any_draft(gated, given):
    """An unset $HASH in a script must not approve whatever the draft is by now."""
    assert gated.invoke("collect", "--month", "2026-10").exit_code == 0
    result = gated.invoke("approve", "--month", "2026-10", "--by", "alice", "--hash", given)
    assert result.exit_code == 2 and "--hash: expected the draft's content hash" in result.stderr
    assert "approved" not in gated.invoke("history").output.split("\n", 1)[-1]


def test_approve_without_a_name_is_a_usage_error(gated):
    assert gated.invoke("collect", "--month", "2026-10").exit_code == 0
    assert gated.invoke("approve", "--month", "2026-10", "--by", "  ").exit_code == 2


def test_history_shows_the_draft_and_its_approval(gated):
    assert gated.invoke("run", "--month", "2026-10").exit_code == 3
    assert gated.invoke("history").output.splitlines()[1].split()[:4] == ["2026-10", "draft", "-", "-"]
    assert gated.invoke("approve", "--month", "2026-10", "--by", "carol").exit_code == 0
    assert gated.invoke("history").output.splitlines()[1].split()[:4] == ["2026-10", "approved", "-", "carol"]


def test_a_reviewer_that_is_not_an_address_is_a_config_error(workspace):
    workspace.configure('require_approval = true\nreviewers = ["the boss"]\n')
    result = workspace.invoke("check")
    assert result.exit_code == 2
    assert "delivery.reviewers: 'the boss' is not an email address" in result.stderr


def test_without_require_approval_run_sends_at_once(workspace):
    result = workspace.invoke("run", "--month", "2026-10")
    assert result.exit_code == 0, result.output
    assert len(sent(workspace)) == 1 and review_requests(workspace) == []


def test_reviewers_that_cannot_be_reached_fail_the_run_and_are_asked_next_time(workspace, smtp_server):
    reviewed_over_smtp(workspace, smtp_server, "boss@example.com")
    smtp_server.mailbox.rcpt_codes["boss@example.com"] = "550 5.1.1 No such user"
    failed = workspace.invoke("run", "--month", "2026-10")
    assert failed.exit_code == 1
    assert "could not ask the reviewers" in failed.stderr and "550 5.1.1" in failed.stderr
    assert "newsletter approve" in failed.stderr
    del smtp_server.mailbox.rcpt_codes["boss@example.com"]
    waiting = workspace.invoke("run", "--month", "2026-10")
    assert waiting.exit_code == 3 and "asked boss@example.com" in waiting.stderr
    (request,) = smtp_server.mailbox.messages
    assert request["To"] == "boss@example.com" and request["Subject"].startswith("Approval needed:")


def test_a_reviewer_written_with_a_name_gets_the_request_at_the_address(workspace, smtp_server):
    reviewed_over_smtp(workspace, smtp_server, "Deputy Head <deputy@example.com>")
    smtp_server.mailbox.pipelining = True  # the envelope is written by us then, not quoted by smtplib
    waiting = workspace.invoke("run", "--month", "2026-10")
    assert waiting.exit_code == 3 and "asked deputy@example.com" in waiting.stderr, waiting.output
    assert smtp_server.mailbox.envelopes[0][1] == ["deputy@example.com"]
    assert smtp_server.mailbox.messages[0]["To"] == "Deputy Head <deputy@example.com>"


def test_a_year_in_review_waits_for_approval_and_is_approved_with_year(gated):
    assert gated.invoke("collect", "--month", "2025-12", "--backfill", "11").exit_code == 0
    waiting = gated.invoke("send", "--year", "2025")
    assert waiting.exit_code == 3, waiting.output
    assert "newsletter approve" in waiting.stderr and "--year 2025" in waiting.stderr, waiting.stderr
    approved = gated.invoke("approve", "--year", "2025", "--by", "alice")
    assert approved.exit_code == 0, approved.output
    assert "'newsletter run --year 2025' sends it" in approved.output
    sent = gated.invoke("send", "--year", "2025")
    assert sent.exit_code == 0, sent.output


def test_resend_unknown_never_sends_an_edition_nobody_has_yet(gated):
    """approve (and a waiting run) archive the draft before anyone has it: that archive is no
    edition that went out, and a later correction must not be overtaken by it."""
    assert gated.invoke("collect", "--month", "2026-10").exit_code == 0
    assert gated.invoke("approve", "--month", "2026-10", "--by", "alice").exit_code == 0
    with open(gated.root / "sources" / "highlights" / "2026-10.md", "a", encoding="utf-8") as notes:
        notes.write("\n## A correction\nThe move took two hours, not one.\n")
    result = gated.invoke("send", "--month", "2026-10", "--resend-unknown")
    assert result.exit_code == 3 and "was never sent; nothing to re-send" in result.output, result.output
    assert sent(gated) == []


def test_an_archive_changed_after_it_went_out_is_not_sent_to_the_rest(workspace):
    import sqlite3

    workspace.write("people.csv", "email,name\na@example.com,Ann\nb@example.com,Bob\n")
    workspace.configure(base=BASE_CONFIG.replace('to = ["all@example.com"]', 'to = []\nrecipients = "people.csv"'))
    assert workspace.invoke("run", "--month", "2026-10").exit_code == 0
    _first, second = sorted((workspace.state / "outbox" / "2026-10").glob("*.eml"))
    second.unlink()
    with sqlite3.connect(workspace.state / "newsletter.db") as db:  # Bob's message never arrived
        db.execute("UPDATE deliveries SET status = 'temp_failed' WHERE recipient LIKE 'b@%'")
        db.execute("UPDATE editions SET status = 'failed'")
    html = workspace.state / "archive" / "2026-10" / "newsletter.html"
    html.write_text(html.read_text().replace("</body>", "TAMPERED</body>"))
    result = workspace.invoke("run", "--month", "2026-10")
    assert result.exit_code == 1 and "no longer holds what went out" in result.stderr, result.output
    assert len(list((workspace.state / "outbox" / "2026-10").glob("*.eml"))) == 1


def test_the_approve_command_it_prints_works_as_pasted_from_a_folder_with_a_space(tmp_path):
    import re
    import shlex

    from click.testing import CliRunner

    from newsletter.cli import cli
    from tests.fixtures.workspace import demo_workspace

    spaced = demo_workspace(tmp_path / "IT Newsletter")
    spaced.configure('require_approval = true\n')
    waiting = spaced.invoke("run", "--month", "2026-10")
    assert waiting.exit_code == 3, waiting.output
    command = re.search(r"approve it with: (newsletter approve .*)$", waiting.stderr.strip()).group(1)
    args = shlex.split(command)[1:]  # after "newsletter"
    approved = CliRunner().invoke(cli, [*args, "--by", "Alice"], catch_exceptions=False)
    assert approved.exit_code == 0, (command, approved.output)


class DriftingDesk(Collector):
    """A help desk whose month changes a little each time it is asked (ratings and reopened tickets come in)."""

    type = "drifting_desk"
    kind = "ticketing"
    calls = 0

    def collect(self, month):
        type(self).calls += 1
        return TicketStats(opened=40 + type(self).calls, resolved=30 + type(self).calls)


def test_an_edition_approved_after_it_was_skipped_as_late_is_sent_as_approved_with_force(gated, clock):
    # the reviewer was away: the draft was refused as too late; approved later, --force sends what was approved
    gated.configure('require_approval = true\nreviewers = ["boss@example.com"]\n',
                    base=BASE_CONFIG.replace("max_days_late = 4000", "max_days_late = 10").replace(
                        'state_dir = "state"', 'state_dir = "state"\ntheme = "brand"'))
    gated.write("sources/desk.toml", 'type = "drifting_desk"\nname = "desk"\ntitle = "Service desk"\n')
    registry = CollectorRegistry({**{e.name: e for e in entry_points(group=GROUP)}, "drifting_desk": DriftingDesk})
    DriftingDesk.calls = 0
    clock.now = datetime(2026, 11, 2, 7, tzinfo=UTC)
    assert gated.invoke("run", "--month", "2026-10", registry=registry).exit_code == 3
    clock.now = datetime(2026, 11, 12, 7, tzinfo=UTC)
    late = gated.invoke("run", "--month", "2026-10", registry=registry)
    assert late.exit_code == 1 and "11 days late" in late.stderr, late.output
    approved = gated.invoke("approve", "--month", "2026-10", "--by", "alice", registry=registry)
    assert approved.exit_code == 0, approved.output
    assert "skipped as too late" in approved.output and "newsletter run --month 2026-10 --force" in approved.output
    forced = gated.invoke("run", "--month", "2026-10", "--force", registry=registry)
    assert forced.exit_code == 0, forced.output
    assert DriftingDesk.calls == 1, "the numbers alice approved are the ones sent"
    assert len(sent(gated)) == 1


class DownDesk(Collector):
    """A required help desk that cannot be reached this month."""

    type = "down_desk"
    kind = "ticketing"

    def collect(self, month):
        raise SourceError("the help desk answered 503 Service Unavailable")


def test_an_approved_draft_missing_a_required_source_is_held_back_like_a_fresh_collection(gated):
    # `collect` stored the required source as failed; approving the draft does not lift the rule
    gated.write("sources/desk.toml", 'type = "down_desk"\nname = "desk"\nrequired = true\n')
    registry = CollectorRegistry({**{e.name: e for e in entry_points(group=GROUP)}, "down_desk": DownDesk})
    assert gated.invoke("collect", "--month", "2026-10", registry=registry).exit_code == 1
    approved = gated.invoke("approve", "--month", "2026-10", "--by", "alice", registry=registry)
    assert approved.exit_code == 0, approved.output
    result = gated.invoke("run", "--month", "2026-10", registry=registry)
    assert result.exit_code == 1, result.output
    assert "required source failed, not sending: desk: the help desk answered 503" in result.stderr
    assert sent(gated) == []


def test_a_month_still_running_cannot_be_approved_in_the_cli_or_the_preview(gated, clock):
    # on 15 December December's numbers cover half of it: an approval now would send them as the month
    from newsletter.errors import NothingToDo
    from newsletter.preview import Previewer, PreviewOptions
    from newsletter.workspace import Workspace as Opened

    clock.now = datetime(2026, 12, 15, 9, tzinfo=UTC)
    assert gated.invoke("collect", "--month", "2026-12").exit_code == 0
    refused = gated.invoke("approve", "--month", "2026-12", "--by", "alice")
    assert refused.exit_code == 3, refused.output
    assert "2026-12 has not ended yet" in refused.stderr and "approve it once the month has ended" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    previewer = Previewer(lambda demo_in_memory=False, **extra: Opened.open(config_path=str(gated.config), **extra),
                          PreviewOptions(month="2026-12", collect=True))
    try:
        draft = previewer.start()
        assert draft.newsletter is not None, draft.error
        with pytest.raises(NothingToDo, match="has not ended yet"):
            previewer.approve("alice", draft.newsletter.content_hash)
    finally:
        previewer.close()
    history = gated.invoke("history")
    assert "alice" not in history.output


def test_a_draft_collected_while_its_month_ran_is_collected_again_once_it_has_ended(gated, clock):
    # `send --force` on 15 December stored half of December and asked the reviewers; the run on
    # 2 January collects the whole month and asks them again, so the half month never goes out
    gated.write("sources/desk.toml", 'type = "drifting_desk"\nname = "desk"\ntitle = "Service desk"\n')
    registry = CollectorRegistry({**{e.name: e for e in entry_points(group=GROUP)}, "drifting_desk": DriftingDesk})
    DriftingDesk.calls = 0
    clock.now = datetime(2026, 12, 15, 9, tzinfo=UTC)
    assert gated.invoke("collect", "--month", "2026-12", registry=registry).exit_code == 0
    early = gated.invoke("send", "--month", "2026-12", "--force", registry=registry)
    assert early.exit_code == 3 and "waits for approval" in early.stderr, early.output
    assert len(review_requests(gated)) == 2
    clock.now = datetime(2027, 1, 2, 7, tzinfo=UTC)
    due = gated.invoke("run", "--month", "2026-12", registry=registry)
    assert due.exit_code == 3 and "waits for approval" in due.stderr, due.output
    assert DriftingDesk.calls == 2, "the whole month is collected"
    assert len(review_requests(gated)) == 4, "the reviewers are asked about the whole month"
    approved = gated.invoke("approve", "--month", "2026-12", "--by", "alice", registry=registry)
    assert approved.exit_code == 0, approved.output
    assert gated.invoke("run", "--month", "2026-12", registry=registry).exit_code == 0
    sent_out = sorted((gated.state / "outbox" / "2026-12").glob("*.eml"))
    assert len(sent_out) == 1 and "still running" not in sent_out[0].read_text(encoding="utf-8")


def test_approve_waits_for_a_run_that_holds_the_lock_instead_of_rewriting_its_archive(gated):
    # a run between archiving the edition and delivering it to the first person: approve must not archive again
    from newsletter.operations import lock
    from newsletter.workspace import Workspace as Opened

    assert gated.invoke("run", "--month", "2026-10").exit_code == 3
    archived = gated.state / "archive" / "2026-10" / "edition.json"
    before = archived.stat().st_mtime_ns
    gated.write("templates/brand/newsletter.mjml.j2", HERO % "After")
    holder = Opened.open(config_path=str(gated.config))
    try:
        with lock(holder.config.state_dir):
            held = gated.invoke("approve", "--month", "2026-10", "--by", "alice")
    finally:
        holder.store.close()
    assert held.exit_code == 3, held.output
    (line,) = held.stderr.splitlines()
    assert "another run holds" in line and str(gated.state / "newsletter.lock") in line
    assert archived.stat().st_mtime_ns == before, "the archive is the run's"
    assert "alice" not in gated.invoke("history").output
    assert gated.invoke("approve", "--month", "2026-10", "--by", "alice").exit_code == 0


def test_without_reviewers_check_warns_and_the_owners_are_asked_once_not_daily(workspace, clock):
    # `-q run` prints nothing for a draft that waits: without reviewers nobody would know until it is too late
    from click.testing import CliRunner

    from newsletter.cli import cli

    workspace.configure("require_approval = true\n", base=BASE_CONFIG.replace(
        "max_days_late = 4000", 'max_days_late = 4000\nowners = ["owner@example.com"]'))
    checked = workspace.invoke("check")
    assert checked.exit_code == 0, checked.output
    assert "delivery.require_approval is true but delivery.reviewers is empty" in checked.stderr
    for day in (2, 3, 4):
        clock.now = datetime(2026, 11, day, 7, tzinfo=UTC)
        waits = CliRunner().invoke(cli, ["-q", "run", "--config", str(workspace.config), "--month", "2026-10"])
        assert waits.exit_code == 3, waits.output
    (asked,) = review_requests(workspace)
    request = message_from_bytes(asked.read_bytes(), policy=policy.default)
    assert request["To"] == "owner@example.com" and request["Subject"].startswith("Approval needed:")
    assert "delivery.reviewers is empty" in request.get_content()


def test_the_preview_approve_button_says_an_edition_skipped_as_late_needs_force(gated, clock):
    # the daily run leaves a skipped edition alone: the button must say what sends it, as `approve` does
    from newsletter.preview import Previewer, PreviewOptions
    from newsletter.workspace import Workspace as Opened

    gated.configure('require_approval = true\nreviewers = ["boss@example.com"]\n',
                    base=BASE_CONFIG.replace("max_days_late = 4000", "max_days_late = 10"))
    clock.now = datetime(2026, 11, 12, 7, tzinfo=UTC)
    late = gated.invoke("run", "--month", "2026-10")
    assert late.exit_code == 1 and "11 days late" in late.stderr, late.output
    previewer = Previewer(lambda demo_in_memory=False, **extra: Opened.open(config_path=str(gated.config), **extra),
                          PreviewOptions(month="2026-10", collect=True))
    try:
        draft = previewer.start()
        assert draft.newsletter is not None, draft.error
        said = previewer.approve("alice", draft.newsletter.content_hash)
    finally:
        previewer.close()
    assert "approved by alice" in said
    assert "skipped as too late" in said and "newsletter run --month 2026-10 --force" in said


def test_send_after_the_month_refuses_numbers_collected_while_it_ran(workspace, clock):
    # `collect` (or `preview --collect`) on 15 December, then `send` on 2 January: not half of December as December
    workspace.write("sources/desk.toml", 'type = "drifting_desk"\nname = "desk"\ntitle = "Service desk"\n')
    registry = CollectorRegistry({**{e.name: e for e in entry_points(group=GROUP)}, "drifting_desk": DriftingDesk})
    clock.now = datetime(2026, 12, 15, 9, tzinfo=UTC)
    assert workspace.invoke("collect", "--month", "2026-12", registry=registry).exit_code == 0
    clock.now = datetime(2027, 1, 2, 7, tzinfo=UTC)
    for command in ("send", "approve"):
        refused = workspace.invoke(command, "--month", "2026-12", registry=registry)
        assert refused.exit_code == 1, refused.output
        (line,) = refused.stderr.splitlines()
        assert "collected while it was still running" in line and "newsletter collect --month 2026-12" in line
    assert not (workspace.state / "outbox" / "2026-12").exists()
    assert workspace.invoke("collect", "--month", "2026-12", registry=registry).exit_code == 0
    assert workspace.invoke("send", "--month", "2026-12", registry=registry).exit_code == 0
    (email,) = (workspace.state / "outbox" / "2026-12").glob("*.eml")
    assert "still running" not in email.read_text(encoding="utf-8")


def test_the_preview_status_line_of_an_edition_skipped_as_late_says_force_sends_it(gated, clock):
    # the status line said "the monthly run sends only an approved version": the daily run leaves it alone
    from newsletter.preview import Previewer, PreviewOptions
    from newsletter.workspace import Workspace as Opened

    gated.configure('require_approval = true\nreviewers = ["boss@example.com"]\n',
                    base=BASE_CONFIG.replace("max_days_late = 4000", "max_days_late = 10"))
    clock.now = datetime(2026, 11, 12, 7, tzinfo=UTC)
    assert gated.invoke("run", "--month", "2026-10").exit_code == 1
    previewer = Previewer(lambda demo_in_memory=False, **extra: Opened.open(config_path=str(gated.config), **extra),
                          PreviewOptions(month="2026-10", collect=True))
    try:
        draft = previewer.start()
        assert draft.newsletter is not None, draft.error
    finally:
        previewer.close()
    assert "newsletter run --month 2026-10 --force" in draft.review["sends"]
    page = (Path(__file__).parents[1] / "newsletter/preview_page/index.html").read_text()
    assert "r.sends" in page, "the page shows it"
