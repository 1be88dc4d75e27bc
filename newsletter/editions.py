"""Editions: what is due, what was sent, the approval gate and the frozen-content rule.

The frozen-content rule: what the first person got, everyone gets; until then the draft stays open.
Until anyone has been sent an edition, or may have been (`sending`, `sent`, `accepted` or
`unknown` in the ledger), every run composes the current draft and archives it again: a typo
fixed after a run that reached nobody (the SMTP server down, everyone refused for now) goes
out fixed. From the first such person on, the rest get exactly the archived edition, whatever
changed since, and a preview shows that archived content with since when and why. An approval
names a content hash either way (approval.py), so a changed draft needs a new approval.

This module reads the ledger (through the store) and writes nothing to it; the delivering is
delivery/mailing.py's, and when `run` sends is operations.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from newsletter import approval
from newsletter.archive import archive, archive_dir, archived_hash, has_archive, load_archive
from newsletter.collect import collected_running, refresh_local
from newsletter.drafts import compose, compose_all, refuse_broken
from newsletter.errors import DeliveryError, NewsletterError, NothingToDo
from newsletter.period import Month, Year

if TYPE_CHECKING:
    from newsletter.compose.render import Newsletter
    from newsletter.config import Config
    from newsletter.delivery.ledger import DeliveryReport
    from newsletter.store import Store
    from newsletter.workspace import Workspace

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


def frozen(ws: Workspace, period: Month | Year) -> str | None:
    """Why the workspace's edition can no longer change (someone has it), or None."""
    return frozen_note(ws.store, period, ws.config.tz)


def due_date(config: Config, month: Month) -> datetime:
    """When `month`'s edition is due: `run.send_day` of the month after, midnight local time."""
    return month.end + timedelta(days=config.run.send_day - 1)


def draft(ws: Workspace, period: Month | Year, *, refresh: bool = True, language: str | None = None
          ) -> tuple[Newsletter, str | None]:
    """What a preview shows: what the next run would send (the archive once frozen), and why frozen;
    `language` previews the draft in another language than newsletter.toml's (never frozen: what
    was sent is the archive's)."""
    note = frozen(ws, period)
    if note and has_archive(ws, period) and not language:
        return load_archive(ws, period), note
    if language:
        return compose(ws, period, refresh=refresh, language=language), note
    return compose_all(ws, period, refresh=refresh), note


def for_sending(ws: Workspace, period: Month | Year, *, resend_unknown: bool = False,
                force: bool = False) -> Newsletter:
    """The content the next delivery sends: the current draft, composed, checked and archived again,
    until anyone has the edition; after that, exactly the archived content. A year in review is
    composed for sending only once its year is over, or with `force`."""
    edition = ws.store.edition(period.label)
    if resend_unknown:  # only what went out: an archive alone may be a draft that waited for approval
        if not (edition and frozen(ws, period) and has_archive(ws, period)):
            raise NothingToDo(f"edition {period} was never sent; nothing to re-send")
        return _as_archived(ws, period)
    if edition and edition.status == "sent":
        raise NothingToDo(f"edition {period} was already sent ({edition.sent_at}); nothing to do")
    if frozen(ws, period):
        if not has_archive(ws, period):
            raise NewsletterError(f"edition {period} has gone out to some people, but its archive "
                                  f"{archive_dir(ws, period)} is missing: restore it from a backup, so the rest "
                                  "get the same content")
        return _as_archived(ws, period)
    if isinstance(period, Year) and not force:
        from newsletter.compose.yearly import refuse_unfinished

        refuse_unfinished(period, ws.clock())
    newsletter = compose_all(ws, period)  # one edition per language in use
    refuse_broken(ws, newsletter)
    archive(ws, newsletter, web=compose(ws, period, refresh=False, detail="full"))
    return newsletter


def _as_archived(ws: Workspace, period: Month | Year) -> Newsletter:
    """The archived edition, refused when its files no longer hold what was archived (an edit, a
    disk's damage): the rest would get another email than the first people did."""
    newsletter = load_archive(ws, period)
    kept = archived_hash(ws, period)
    if kept and newsletter.content_hash != kept:
        raise NewsletterError(f"the archive of {period} ({archive_dir(ws, period)}) no longer holds what went out "
                              f"(content {newsletter.content_hash[:12]}, archived as {kept[:12]}); restore it from "
                              "a backup, so the rest get what the first people got")
    return newsletter


def check_approved(ws: Workspace, newsletter: Newsletter) -> None:
    """The approval gate: raise NothingToDo (exit 3) while this exact content waits for approval.

    It gets the very edition (and its content hash) about to go out, as read from the archive
    on a re-run; reviewers are asked once per version (approval.py).
    """
    if ws.config.delivery.require_approval:
        approval.require_approval(ws, newsletter)


def refuse_partial(ws: Workspace, month: Month) -> None:
    """`run` sends no edition with a required source that covers only part of the month (without
    --force): raise NewsletterError naming each with why. An edition that went out to someone
    goes on as it is, and local files are read first, so one fixed since `collect` counts as fixed."""
    if frozen(ws, month):
        return
    refresh_local(ws, month)
    required = {source.name for source in ws.config.sources if source.required}
    partial = [f"{r.name}: {'; '.join(r.warnings) or 'partial'}" for r in ws.store.results(month.label)
               if r.status == "ok" and r.partial and r.name in required]
    if partial:
        raise NewsletterError(f"required source covers only part of {month}, not sending: {'; '.join(partial)}; "
                              f"to send it anyway: newsletter run --month {month} --force")


def refuse_collected_running(ws: Workspace, month: Month) -> None:
    """Numbers stored while `month` ran (a `collect` or `preview --collect` on the 15th) are never sent
    or approved as the month once it has ended: NewsletterError saying to collect it again. Local files
    are read first; an edition that went out to someone goes on as it is."""
    if ws.clock() < month.end or frozen(ws, month):
        return
    refresh_local(ws, month)
    if collected_running(ws.store.results(month.label), month):
        raise NewsletterError(f"the numbers stored for {month} were collected while it was still running, so they "
                              f"cover only part of it; collect the whole month first: newsletter collect --month "
                              f"{month}")


@dataclass(frozen=True)
class Sent:
    """What one delivery of an edition did, for the command to print."""

    period: Month | Year
    newsletter: Newsletter
    report: DeliveryReport
    transport: str
    outbox: Path | None  # the edition's .eml files, with the outbox transport
    view: Path  # the archived copy a browser can open

    def lines(self) -> list[str]:
        lines = [f"Edition {self.period} ({self.newsletter.subject}) via {self.transport}: {self.report.summary()}"]
        if self.outbox is not None:
            lines += [f"Email: {email}" for email in sorted(self.outbox.glob("*.eml"))]
        return [*lines, f"HTML copy: {self.view}"]

    def refuse_incomplete(self) -> None:
        """DeliveryError (exit 1) unless everyone has the edition: a run that stopped says so."""
        if not self.report.complete:
            raise DeliveryError(f"edition {self.period} did not reach everyone ({self.report.summary()}); "
                                "see 'newsletter history'")


def send_edition(ws: Workspace, period: Month | Year, *, resend_unknown: bool = False,
                 force: bool = False) -> Sent:
    """The edition's content for sending (for_sending), past the approval gate, delivered to everyone
    the ledger has not reached. `force`: a year in review before its year is over."""
    from newsletter.delivery.mailing import deliver

    newsletter = for_sending(ws, period, resend_unknown=resend_unknown, force=force)
    check_approved(ws, newsletter)
    report = deliver(ws, newsletter, resend_unknown=resend_unknown)
    transport = ws.config.delivery.transport
    outbox = ws.config.outbox_dir / period.label if transport == "outbox" else None
    return Sent(period, newsletter, report, transport, outbox, archive_dir(ws, period) / "view.html")
