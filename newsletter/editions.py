"""The frozen-content rule: what the first person got, everyone gets; until then the draft stays open.

Until anyone has been sent an edition, or may have been (`sending`, `sent`, `accepted` or
`unknown` in the ledger), every run composes the current draft and archives it again: a typo
fixed after a run that reached nobody (the SMTP server down, everyone refused for now) goes
out fixed. From the first such person on, the rest get exactly the archived edition, whatever
changed since, and a preview shows that archived content with since when and why. An approval
names a content hash either way (approval.py), so a changed draft needs a new approval.

This module reads the ledger (through the store) and writes nothing to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from newsletter.errors import NewsletterError, NothingToDo
from newsletter.period import Month, Year

if TYPE_CHECKING:
    from newsletter.compose.render import Newsletter
    from newsletter.jobs import Workspace
    from newsletter.store import Store

# Someone has the edition, or may have it: its data went out (sent, accepted) or may have (sending, unknown).
REACHED_STATES = ("sending", "sent", "accepted", "unknown")


@dataclass(frozen=True)
class Reach:
    """How far an edition got: the people who have it or may have it, by state, out of `total`."""

    counts: dict[str, int]
    total: int
    since: str  # when the first of them was sent it (UTC, ISO 8601)

    @property
    def people(self) -> int:
        return sum(self.counts.values())


def reach(store: Store, month: str) -> Reach | None:
    """Who has the edition or may have it (REACHED_STATES); None while nobody does."""
    states = store.delivery_reach(month)
    reached = {status: found for status, found in states.items() if status in REACHED_STATES}
    if not reached:
        return None
    return Reach({status: n for status, (n, _) in reached.items()}, sum(n for n, _ in states.values()),
                 min(since for _, since in reached.values()))


def frozen_note(store: Store, month: Month | Year, tz: ZoneInfo) -> str | None:
    """Why the edition's content can no longer change, in one line for people; None while it can."""
    got = reach(store, month.label)
    if got is None:
        return None
    since = datetime.fromisoformat(got.since).astimezone(tz)
    states = ", ".join(f"{n} {status}" for status, n in sorted(got.counts.items()))
    return (f"edition {month} is frozen since {since:%Y-%m-%d %H:%M %Z}: {got.people} of {got.total} people "
            f"have been sent it ({states}), so the rest get exactly this content; edits to sources and "
            "templates no longer change it")


def draft(ws: Workspace, month: Month | Year, *, refresh: bool = True) -> tuple[Newsletter, str | None]:
    """What a preview shows: what the next run would send (the archive once frozen), and why frozen."""
    note = ws.frozen(month)
    if note and ws.has_archive(month):
        return ws.load_archive(month), note
    return ws.compose(month, refresh=refresh), note


def for_sending(ws: Workspace, month: Month | Year, *, resend_unknown: bool = False,
                force: bool = False) -> Newsletter:
    """The content the next delivery sends: the current draft, composed, checked and archived again,
    until anyone has the edition; after that, exactly the archived content. A year in review is
    composed for sending only once its year is over, or with `force`."""
    edition = ws.store.edition(month.label)
    if resend_unknown:
        if not (edition and ws.has_archive(month)):
            raise NothingToDo(f"edition {month} was never sent; nothing to re-send")
        return ws.load_archive(month)
    if edition and edition.status == "sent":
        raise NothingToDo(f"edition {month} was already sent ({edition.sent_at}); nothing to do")
    if ws.frozen(month):
        if not ws.has_archive(month):
            raise NewsletterError(f"edition {month} has gone out to some people, but its archive "
                                  f"{ws.archive_dir(month)} is missing: restore it from a backup, so the rest "
                                  "get the same content")
        return ws.load_archive(month)
    if isinstance(month, Year) and not force:
        from newsletter.compose.yearly import refuse_unfinished

        refuse_unfinished(month, ws.clock())
    newsletter = ws.compose(month)
    ws.refuse_broken(newsletter)
    ws.archive(newsletter)
    return newsletter


def refuse_partial(ws: Workspace, month: Month) -> None:
    """`run` sends no edition with a required source that covers only part of the month (without
    --force): raise NewsletterError naming each with why. An edition that went out to someone
    goes on as it is, and local files are read first, so one fixed since `collect` counts as fixed."""
    if ws.frozen(month):
        return
    ws.refresh_local(month)
    required = {source.name for source in ws.config.sources if source.required}
    partial = [f"{r.name}: {'; '.join(r.warnings) or 'partial'}" for r in ws.store.results(month.label)
               if r.status == "ok" and r.partial and r.name in required]
    if partial:
        raise NewsletterError(f"required source covers only part of {month}, not sending: {'; '.join(partial)}; "
                              f"to send it anyway: newsletter run --month {month} --force")
