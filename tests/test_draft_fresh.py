"""The draft is fresh: what the manager previews is what the company gets, through the CLI on a real
workspace (tests/fixtures/workspace.py) and, for the live preview, the in-process server."""

from __future__ import annotations

from email import message_from_bytes, policy
from importlib.metadata import entry_points
from types import SimpleNamespace

import pytest

from newsletter.collectors.base import Collector
from newsletter.collectors.registry import GROUP, CollectorRegistry
from newsletter.preview import Previewer, PreviewOptions
from newsletter.results import TicketStats
from newsletter.workspace import Workspace as Job
from tests.conftest import free_port
from tests.test_cron import people_csv, smtp_config

METRICS = "month,name,value,label,unit,better\n2026-10,laptops_rolled_out,{laptops},Laptops rolled out,count,\n"


class CountingDesk(Collector):
    """A help desk on the network: counts how often it is asked (it must be asked by `collect` only)."""

    type = "counting_desk"
    kind = "ticketing"
    calls = 0

    def collect(self, month):
        type(self).calls += 1
        return TicketStats(opened=40, resolved=38)


@pytest.fixture
def local(workspace):
    """The demo workspace plus a metrics file, with a network help desk, collected once."""
    workspace.write("sources/team.toml", 'type = "metrics_file"\nname = "team"\nfile = "metrics.csv"\n')
    workspace.write("sources/metrics.csv", METRICS.format(laptops=42))
    workspace.write("sources/desk.toml", 'type = "counting_desk"\nname = "desk"\ntitle = "Service desk"\n')
    CountingDesk.calls = 0
    workspace.registry = CollectorRegistry({**{e.name: e for e in entry_points(group=GROUP)},
                                            "counting_desk": CountingDesk})
    result = workspace.invoke("collect", "--month", "2026-10", registry=workspace.registry)
    assert result.exit_code == 0, result.output
    assert CountingDesk.calls == 1
    return workspace


def edit_local_files(workspace) -> None:
    workspace.write("sources/highlights/2026-10.md", "## Printers fixed\nAll of them, at last.\n")
    workspace.write("sources/metrics.csv", METRICS.format(laptops=57))


def test_preview_reads_edited_local_files_without_collecting(local, tmp_path):
    edit_local_files(local)
    for fmt in ("html", "text"):
        out = tmp_path / f"p.{fmt}"
        result = local.invoke("preview", "--month", "2026-10", "--output", str(out), "--format", fmt,
                              registry=local.registry)
        assert result.exit_code == 0, result.output
        page = out.read_text()
        assert "Printers fixed" in page and "We moved the datacenter" not in page
        assert "57" in page and "Laptops rolled out" in page
    assert CountingDesk.calls == 1, "the network source is read by collect, not by preview"


def test_approve_and_run_take_the_edited_local_files_of_a_draft_waiting_for_approval(local):
    local.configure("require_approval = true\n")
    waiting = local.invoke("run", "--month", "2026-10", registry=local.registry)
    assert waiting.exit_code == 3, waiting.output
    assert CountingDesk.calls == 2  # the run collected; from here on the stored numbers stay
    edit_local_files(local)
    approved = local.invoke("approve", "--month", "2026-10", "--by", "alice", registry=local.registry)
    assert approved.exit_code == 0, approved.output
    result = local.invoke("run", "--month", "2026-10", registry=local.registry)
    assert result.exit_code == 0, result.output
    (sent,) = (local.state / "outbox" / "2026-10").glob("*.eml")
    text = message_from_bytes(sent.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
    assert "Printers fixed" in text and "Laptops rolled out: 57" in text
    assert CountingDesk.calls == 2, "a draft waiting for approval keeps the stored numbers of network sources"


def test_the_live_preview_reads_local_files_at_start_and_on_every_change(local):
    edit_local_files(local)

    def open_workspace(demo_in_memory=False, **extra):
        return Job.open(config_path=str(local.config), registry=local.registry, **extra)

    previewer = Previewer(open_workspace, PreviewOptions(month="2026-10"))
    try:
        draft = previewer.start()
        assert "Printers fixed" in draft.newsletter.text and "Laptops rolled out: 57" in draft.newsletter.text
        local.write("sources/metrics.csv", METRICS.format(laptops=61))
        previewer.reload({local.root / "sources" / "metrics.csv"})
        newer = previewer.wait_newer(draft.version, 10)
        assert newer and "Laptops rolled out: 61" in newer.newsletter.text, newer and newer.error
    finally:
        previewer.close()
    assert CountingDesk.calls == 1


# the frozen-content rule ----------------------------------------------------------------------
TYPO, FIXED = "## Printers fxied\nAll of them.\n", "## Printers fixed\nAll of them.\n"


def smtp_at(port: int, **kwargs) -> str:
    return smtp_config(SimpleNamespace(host="127.0.0.1", port=port), **kwargs)


def plain(message) -> str:
    return message.get_body(("plain",)).get_content()


def test_a_run_that_reached_nobody_sends_the_fixed_draft_next_time(workspace, smtp_server, tmp_path):
    workspace.write("sources/highlights/2026-10.md", TYPO)
    workspace.configure(smtp_at(free_port()), base="")  # nothing listens there: SMTP is down
    down = workspace.invoke("run", "--month", "2026-10")
    assert down.exit_code == 1, down.output
    workspace.write("sources/highlights/2026-10.md", FIXED)
    out = tmp_path / "p.txt"
    looked = workspace.invoke("preview", "--month", "2026-10", "--output", str(out), "--format", "text")
    assert looked.exit_code == 0 and "Printers fixed" in out.read_text()
    assert "frozen" not in looked.stderr

    workspace.configure(smtp_at(smtp_server.port), base="")
    again = workspace.invoke("run", "--month", "2026-10")
    assert again.exit_code == 0, again.output
    (message,) = smtp_server.mailbox.messages
    assert "Printers fixed" in plain(message) and "fxied" not in plain(message)
    assert "Printers fixed" in (workspace.state / "archive" / "2026-10" / "newsletter.txt").read_text()


def test_an_approval_stays_bound_to_the_content_after_a_run_that_reached_nobody(workspace, smtp_server):
    workspace.write("sources/highlights/2026-10.md", TYPO)
    workspace.configure(smtp_at(free_port(), extra="require_approval = true\n"), base="")
    assert workspace.invoke("run", "--month", "2026-10").exit_code == 3
    assert workspace.invoke("approve", "--month", "2026-10", "--by", "alice").exit_code == 0
    assert workspace.invoke("run", "--month", "2026-10").exit_code == 1  # approved, but SMTP is down
    workspace.write("sources/highlights/2026-10.md", FIXED)
    workspace.configure(smtp_at(smtp_server.port, extra="require_approval = true\n"), base="")
    changed = workspace.invoke("run", "--month", "2026-10")
    assert changed.exit_code == 3 and "changed since alice approved" in changed.stderr
    (asked,) = smtp_server.mailbox.messages  # without reviewers the owners are asked, and nobody else mailed
    assert asked["Subject"].startswith("Approval needed")
    assert workspace.invoke("approve", "--month", "2026-10", "--by", "bob").exit_code == 0
    assert workspace.invoke("run", "--month", "2026-10").exit_code == 0
    (_, message) = smtp_server.mailbox.messages
    assert "Printers fixed" in plain(message)


def test_once_anyone_has_the_edition_the_rest_get_the_same_content(workspace, smtp_server, tmp_path):
    box = smtp_server.mailbox
    box.rcpt_codes = {"p0001@example.com": "451 4.7.1 Try again later", "p0002@example.com": "451 4.7.1 Later"}
    workspace.write("sources/highlights/2026-10.md", TYPO)
    workspace.configure(smtp_at(smtp_server.port, recipients=str(people_csv(tmp_path, 3))), base="")
    first = workspace.invoke("run", "--month", "2026-10")
    assert first.exit_code == 1 and "1 sent, 2 temp_failed" in first.output
    workspace.write("sources/highlights/2026-10.md", FIXED)

    out = tmp_path / "p.txt"
    looked = workspace.invoke("preview", "--month", "2026-10", "--output", str(out), "--format", "text")
    assert looked.exit_code == 0, looked.output
    assert "Printers fxied" in out.read_text(), "the preview shows what the rest will get"
    banner = " ".join(looked.stderr.split())
    assert "edition 2026-10 is frozen since 20" in banner and "1 of 3 people have been sent it" in banner
    assert "the rest get exactly this content" in banner

    def open_workspace(demo_in_memory=False, **extra):
        return Job.open(config_path=str(workspace.config), **extra)

    previewer = Previewer(open_workspace, PreviewOptions(month="2026-10"))
    try:
        draft = previewer.start()
        assert "Printers fxied" in draft.newsletter.text and "the rest get exactly this content" in draft.frozen
        assert draft.to_json()["frozen"] == draft.frozen
    finally:
        previewer.close()

    box.rcpt_codes = {}
    rest = workspace.invoke("run", "--month", "2026-10")
    assert rest.exit_code == 0, rest.output
    people = [(rcpts, m) for (_, rcpts), m in zip(box.envelopes, box.messages, strict=True)
              if rcpts != ["owner@example.com"]]  # the owners were told of the first run's failure
    assert [rcpts for rcpts, _ in people] == [["p0000@example.com"], ["p0001@example.com"], ["p0002@example.com"]]
    assert all("Printers fxied" in plain(m) and "fixed" not in plain(m) for _, m in people)
