"""What `newsletter history` lists: every edition with its deliveries and approval, the people
each did not reach with the server's answer, and the days the daily snapshots cover."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from newsletter.approval import find as find_approval
from newsletter.collect import snapshot_coverage

if TYPE_CHECKING:
    from newsletter.store import Delivery
    from newsletter.workspace import Workspace

NOT_REACHED = ("perm_failed", "temp_failed", "unknown", "queued", "left")  # in the order history lists them


def history_lines(ws: Workspace) -> Iterator[str]:
    """The lines of the listing, in order: a header (or "No editions yet."), a row per edition and
    the people it did not reach below it, then the snapshot coverage."""
    editions = ws.store.editions()
    if not editions:
        yield "No editions yet."
    else:
        yield f"{'month':9}{'status':10}{'deliveries':24}{'approved by':22}{'sent at':27}subject"
    for edition in editions:
        counts = ws.store.delivery_counts(edition.month)
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "-"
        approval = find_approval(ws.store, edition.month, edition.content_hash)
        approver = approval.approved_by if approval else "-"
        yield (f"{edition.month:9}{edition.status:10}{summary:24}{approver:22}{edition.sent_at or '-':27}"
               f"{edition.subject}")
        for row in not_reached(ws, edition.month):
            yield f"    {row.status}: {row.recipient} ({row.last_error or 'no reason recorded'})"
    yield from _snapshot_coverage(ws)


def not_reached(ws: Workspace, month: str) -> list[Delivery]:
    """Everyone refused (with the server's answer), unknown, or queued with a reason (a run that stopped)."""
    rows = [r for r in ws.store.deliveries(month, NOT_REACHED) if r.status != "queued" or r.last_error]
    return sorted(rows, key=lambda r: NOT_REACHED.index(r.status))


def _snapshot_coverage(ws: Workspace) -> Iterator[str]:
    """Per source that needs daily snapshots, the days of last month and this one that have one."""
    last = ws.month("last")
    covered = [snapshot_coverage(ws, month) for month in (last, last.next())]
    if covered[0]:
        yield "\nDaily snapshots (days with one):"
    for (name, before), (_, now) in zip(*covered, strict=True):
        yield f"    {name}: {before.coverage()}; {now.coverage()}"
