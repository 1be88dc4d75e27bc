"""The draft is fresh: what the manager previews is what the company gets, through the CLI on a real
workspace (tests/fixtures/workspace.py) and, for the live preview, the in-process server."""

from __future__ import annotations

from email import message_from_bytes, policy
from importlib.metadata import entry_points

import pytest

from newsletter.collectors.base import Collector
from newsletter.collectors.registry import GROUP, CollectorRegistry
from newsletter.jobs import Workspace as Job
from newsletter.preview import Previewer, PreviewOptions

METRICS = "month,name,value,label,unit,better\n2026-10,laptops_rolled_out,{laptops},Laptops rolled out,count,\n"


class CountingDesk(Collector):
    """A help desk on the network: counts how often it is asked (it must be asked by `collect` only)."""

    type = "counting_desk"
    kind = "ticketing"
    calls = 0

    def collect(self, month):
        type(self).calls += 1
        return self.result({"opened": 40, "resolved": 38})


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
