"""The approval gate: nothing goes to the whole company that nobody looked at.

With `require_approval = true` in [delivery], `run` and `send` compose the draft and stop (exit 3)
until `newsletter approve` (or the preview's Approve button) records who approved which content.
An approval names a content hash (Newsletter.content_hash: subject, HTML, text and images), so a
change after it (new numbers, an edited template) no longer matches and the reviewers are asked
again. Reviewers are emailed once per content hash: a cron job that retries does not flood them.
This module holds those rules; the `approvals` and `review_requests` tables and their SQL are the
store's (store.py).
"""

from __future__ import annotations

import getpass
import logging
import shlex
from typing import TYPE_CHECKING

from newsletter import i18n
from newsletter.compose.render import Newsletter
from newsletter.drafts import month_context, translations
from newsletter.errors import DeliveryError, NewsletterError, NothingToDo, UsageError
from newsletter.store import Approval, Store, now_iso

if TYPE_CHECKING:
    from newsletter.workspace import Workspace

log = logging.getLogger(__name__)
MIN_HASH = 8  # of a content hash's hex digits: an empty or short one would match any draft
OPEN_STATES = ("draft", "approved")  # an edition not yet going out: its content may still change
SUMMARY_FIGURES = 4  # per source, in the reviewers' email


def find(store: Store, month: str, content_hash: str | None) -> Approval | None:
    """The approval of exactly this content, if any."""
    return store.approval(month, content_hash)


def latest(store: Store, month: str) -> Approval | None:
    """The most recent approval for the month, whatever content it was for."""
    return store.latest_approval(month)


def default_approver() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


def approve(store: Store, newsletter: Newsletter, by: str, *, expected_hash: str | None = None) -> Approval:
    """Record that `by` approved this exact content. `expected_hash` (a prefix) guards against a draft
    that changed between looking at it and approving it."""
    month, digest = newsletter.month, newsletter.content_hash
    by = " ".join(by.split())
    if not by:
        raise UsageError("approve: say who approves (--by NAME)")
    wanted = None if expected_hash is None else expected_hash.strip().lower()
    if wanted is not None and not (len(wanted) >= MIN_HASH and all(c in "0123456789abcdef" for c in wanted)):
        raise UsageError(f"--hash: expected the draft's content hash as preview or check shows it (at least "
                         f"{MIN_HASH} hexadecimal characters), got {expected_hash!r}")
    edition = store.edition(month)
    if edition and edition.status == "sent":
        raise NothingToDo(f"edition {month} was already sent ({edition.sent_at}); nothing to approve")
    if wanted is not None and not digest.startswith(wanted):
        raise NewsletterError(f"the draft of {month} changed since you looked at it (now {digest[:12]}, "
                              f"expected {expected_hash}); look at it again before approving")
    approval = Approval(month, digest, by, now_iso())
    store.save_approval(approval)
    if edition is None or edition.status in OPEN_STATES:
        store.save_edition(month, "approved", newsletter.subject, digest)
    return approval


def refuse_running(ws: Workspace, label: str) -> None:
    """A month's edition is approved once the month has ended (NothingToDo): approved while it runs,
    its numbers so far would be what the run after it sends as the whole month."""
    if "-" not in label:  # a year in review is refused until its year is over when it is composed
        return
    month = ws.month(label)
    if ws.clock() < month.end:
        raise NothingToDo(f"{label} has not ended yet: its numbers cover only the days so far; "
                          f"approve it once the month has ended (from {month.end:%Y-%m-%d})")


def require_approval(ws: Workspace, newsletter: Newsletter) -> Approval:
    """The gate before delivery: the approval of this content, or NothingToDo (exit 3) after
    recording the draft and asking the reviewers."""
    store, month, digest = ws.store, newsletter.month, newsletter.content_hash
    approval = find(store, month, digest)
    if approval:
        log.info("edition %s approved by %s at %s", month, approval.approved_by, approval.approved_at)
        return approval
    edition = store.edition(month)
    if edition is None or edition.status in OPEN_STATES:
        store.save_edition(month, "draft", newsletter.subject, digest)
    earlier = latest(store, month)
    changed = (f" (it changed since {earlier.approved_by} approved {earlier.short_hash} at {earlier.approved_at})"
               if earlier else "")
    asked = notify_reviewers(ws, newsletter, earlier)
    raise NothingToDo(f"edition {month} ({digest[:12]}) waits for approval{changed}; {asked}; "
                      f"approve it with: {approve_command(ws, month)}")


def approve_command(ws: Workspace, label: str, digest: str | None = None) -> str:
    """The command that approves the edition `label` ("2026-10", or "2026": a year in review)."""
    pinned = f" --hash {digest[:12]}" if digest else ""
    return f"newsletter approve {_where(ws)} {_edition_option(label)}{pinned}"


def what_sends(store: Store, label: str) -> str:
    """What sends the approved edition `label`: the run, or, once skipped as too late (the daily
    run leaves it alone then), only a run with --force."""
    edition = store.edition(label)
    if edition is not None and edition.status == "skipped":
        return f"it was skipped as too late, so 'newsletter run {_edition_option(label)} --force' sends it"
    return f"'newsletter run {_edition_option(label)}' sends it"


def preview_command(ws: Workspace, label: str) -> str:
    return f"newsletter preview {_where(ws)} {_edition_option(label)}"


def _where(ws: Workspace) -> str:
    return "--demo" if ws.demo else f"--config {shlex.quote(str(ws.config.path))}"  # pasted into a shell


def _edition_option(label: str) -> str:
    """"--month 2026-10", or "--year 2026" for a year in review's label."""
    return f"--month {label}" if "-" in label else f"--year {label}"


def notify_reviewers(ws: Workspace, newsletter: Newsletter, earlier: Approval | None = None) -> str:
    """Email the reviewers once per content hash (`earlier`: the last approval of other content, which
    the email names); returns what happened, for the exit message."""
    from newsletter.delivery.mailing import envelope
    from newsletter.delivery.notices import build_notice, send_notices
    from newsletter.delivery.registry import make_transport

    # without reviewers the owners are asked: a draft must never wait unseen (`-q run` prints nothing)
    reviewers = ws.config.delivery.reviewers or ws.config.run.owners
    if not reviewers:
        return "no reviewers to notify (delivery.reviewers and run.owners are empty)"
    instead = "" if ws.config.delivery.reviewers else " (delivery.reviewers is empty, so the owners are asked)"
    month, digest = newsletter.month, newsletter.content_hash
    asked_at = ws.store.review_requested_at(month, digest)
    if asked_at:
        return f"reviewers were asked at {asked_at}{instead}"
    language = ws.config.newsletter.language
    with i18n.speaking(language, translations(ws, language)):  # the reviewers read the workspace's language
        changed = i18n.gettext(" (it changed since {by} approved {hash} at {at})").format(
            by=earlier.approved_by, hash=earlier.short_hash, at=earlier.approved_at) if earlier else ""
        body = review_text(ws, newsletter, changed)
        if instead:
            body = i18n.gettext("delivery.reviewers is empty, so the run's owners are asked.") + "\n\n" + body
        subject = i18n.gettext("Approval needed: {subject}").format(subject=newsletter.subject)
    shared = envelope(ws.config)
    notices = [build_notice(shared, reviewer, subject, body, kind=f"review.{month}") for reviewer in reviewers]
    try:
        reached, failures = send_notices(make_transport(ws.config, "reviews"), notices)
    except DeliveryError as exc:  # the mail server unreachable
        if not instead:
            raise
        reached, failures = [], [str(exc)]
    for failure in failures:
        log.warning("review request not delivered to %s", failure)
    if not reached and instead:  # the owners are a fallback: the draft waits as it would unasked, asked next run
        return f"could not ask the owners ({'; '.join(failures)}){instead}"
    if not reached:
        raise DeliveryError(f"could not ask the reviewers ({'; '.join(failures)}); the draft of {month} waits: "
                            f"{approve_command(ws, month)}")
    ws.store.save_review_request(month, digest, reached)
    return "asked " + ", ".join(reached) + instead


def review_text(ws: Workspace, newsletter: Newsletter, changed: str = "") -> str:
    """The reviewers' email, in the current language (newsletter.i18n): what, the numbers, what failed or
    is partial, how to look and how to approve. Sources' errors and warnings stay as the sources said them."""
    _ = i18n.gettext
    year = _edition_option(newsletter.month).startswith("--year")  # its months' numbers are in its text below
    period = ws.period(None, newsletter.month) if year else ws.month(newsletter.month)
    results = [] if year else ws.store.results(newsletter.month)
    context = {} if year else month_context(ws, period)
    lines = [_("The {team} newsletter for {month} is ready and waits for your approval{changed}.").format(
                 team=ws.config.newsletter.team, month=period.name, changed=changed), "",
             _("Subject:   {subject}").format(subject=newsletter.subject),
             _("Preheader: {preheader}").format(preheader=newsletter.preheader),
             _("Content:   {hash} (an approval covers exactly this version)").format(
                 hash=newsletter.content_hash[:12]),
             *([_("Languages: {languages} (the approval covers each; the text below is the first)").format(
                 languages=", ".join(e.language for e in newsletter.editions))] if newsletter.translations else []),
             "",
             _("The numbers:")]
    for kind in ("ticketing", "mail_security", "uptime", "custom"):
        for section in context.get(kind, []):
            if section.ok:
                shown = [f for f in section.figures.values() if f.known][:SUMMARY_FIGURES]
                numbers = "; ".join(f"{f.label} {f.display}" for f in shown)
                lines.append(f"  {section.title} ({section.name}): {numbers}")
    failed = [r for r in results if r.status == "failed"]
    if failed:
        lines += ["", _("Sources that failed (their numbers are missing from the draft):")]
        lines += [f"  {r.name}: {r.error}" for r in failed]
    partial = [r for r in results if r.partial and r.status == "ok"]
    if partial:
        lines += ["", _("Sources that cover only part of the month (the email says so):")]
        lines += [f"  {r.name}: {'; '.join(r.warnings)}" for r in partial]
    lines += ["", _("Look at it:  {command}").format(command=preview_command(ws, newsletter.month)),
              _("Approve it:  {command}").format(command=approve_command(ws, newsletter.month,
                                                                          newsletter.content_hash)),
              _("(or the Approve button in the preview). The next run then sends it."), "",
              _("The plain-text part of the draft follows."), "-" * 72, newsletter.text]
    return "\n".join(lines)
