"""The command line: one small function per command, wiring only.

Exit codes: 0 done, 1 failed, 2 bad config/template/usage, 3 nothing to do or waiting.
Logs and progress go to stderr; --json output to stdout.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from newsletter import __version__
from newsletter.collectors.registry import CollectorRegistry
from newsletter.errors import ConfigError, DeliveryError, LockHeld, NewsletterError, TemplateError
from newsletter.jobs import Workspace
from newsletter.period import Year

if TYPE_CHECKING:
    from newsletter.compose.render import Newsletter
    from newsletter.delivery.recipients import RecipientList
    from newsletter.store import Delivery

log = logging.getLogger("newsletter")
_QUERY = re.compile(r"\?[^\s'\"]*")


class NewsletterGroup(click.Group):
    """Turns our errors into one line on stderr and the documented exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            if exc.exit_code == 3 and not isinstance(exc, LockHeld):  # said like progress: `-q` in cron stays silent
                log.info("%s", exc)
            else:
                click.echo(f"newsletter: {exc}", err=True)
            ctx.exit(exc.exit_code)


def workspace_options(func):
    """--config, --demo and --state-dir, shared by every command that opens a workspace."""

    @click.option("--config", "config_path", metavar="FILE", help="newsletter.toml (default: $NEWSLETTER_CONFIG "
                  "or ./newsletter.toml)")
    @click.option("--demo", is_flag=True, help="Use the embedded demo workspace: demo sources, outbox delivery.")
    @click.option("--state-dir", type=click.Path(path_type=Path), help="Where state, outbox and archive live.")
    @functools.wraps(func)
    def wrapper(config_path, demo, state_dir, **kwargs):
        # A program embedding the CLI (or a test) may pass its own collectors as click's `obj`;
        # looked up here, on the main thread, since the preview opens the workspace on its worker.
        registry = click.get_current_context().find_object(CollectorRegistry)

        def open_workspace(*, demo_in_memory: bool = False, **extra) -> Workspace:
            """`demo_in_memory`: a demo that only shows something keeps its state in memory."""
            in_memory = extra.pop("in_memory", False) or (demo and demo_in_memory)
            return Workspace.open(config_path=config_path, demo=demo, state_dir=state_dir, in_memory=in_memory,
                                  **{"registry": registry, **extra})

        return func(open_workspace=open_workspace, **kwargs)

    return wrapper


month_option = click.option("--month", default="last", show_default=True, help="YYYY-MM or 'last'.")


def edition_options(func):
    """--month or --year: a monthly edition, or the year in review built from the stored months."""
    func = click.option("--year", metavar="YYYY", help="The year in review instead of a month.")(func)
    return click.option("--month", default=None, help="YYYY-MM or 'last' (the default).")(func)


@click.group(cls=NewsletterGroup)
@click.version_option(__version__, prog_name="newsletter")
@click.option("-v", "--verbose", count=True, help="More detail on stderr (-vv for debugging).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")
def cli(verbose: int, quiet: bool) -> None:
    """A monthly newsletter that makes the IT team's quiet work visible."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    # Our own progress only; other libraries speak at WARNING (urllib3's debug lines carry full URLs).
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="newsletter: %(message)s", force=True)
    logging.getLogger().handlers[0].addFilter(_hide_query_strings)
    log.setLevel(level)
    # urllib3's "Retrying (Retry(total=3, ...)) after connection broken by ..." is detail: the retry
    # either works or ends in the source's own error. Only -v shows it; cron mails whatever is printed.
    logging.getLogger("urllib3").setLevel(logging.WARNING if verbose and not quiet else logging.ERROR)


def _hide_query_strings(record: logging.LogRecord) -> bool:
    """A library's log line keeps the path of a URL, never its query string (it may hold a key)."""
    if record.name.startswith("urllib3"):
        record.msg, record.args = _QUERY.sub("", record.getMessage()), ()
    return True


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
def init(directory: Path) -> None:
    """Create a workspace in DIRECTORY: newsletter.toml and sources/ to edit."""
    target = directory / "newsletter.toml"
    _refuse_unusable_folder(directory)
    if target.exists():
        raise ConfigError(f"{target} exists already; choose another folder")
    try:
        _copy_workspace(directory, target)
    except OSError as exc:
        raise ConfigError(f"{directory}: cannot create the workspace there ({exc.strerror or exc}); "
                          "choose a folder you can write to") from None
    click.echo(f"Created {target}. Replace the demo sources in sources/ with yours (samples in "
               f"sources/examples/), then: newsletter check --config {target}")


def _refuse_unusable_folder(directory: Path) -> None:
    """DIRECTORY, or the nearest part of its path that exists, must be a folder: a file is a mistake."""
    existing = next(p for p in (directory, *directory.parents) if p.exists() or p.is_symlink())
    if not existing.is_dir():
        what = "it" if existing == directory else str(existing)
        raise ConfigError(f"{directory}: {what} is a file, not a folder; give init a folder for the new "
                          "workspace (it is created when missing)")


def _copy_workspace(directory: Path, target: Path) -> None:
    from newsletter.resources import BUILTIN

    (directory / "sources" / "highlights").mkdir(parents=True, exist_ok=True)
    (directory / "templates").mkdir(exist_ok=True)
    shutil.copyfile(BUILTIN / "newsletter.toml", target)
    for source in (BUILTIN / "sources").glob("*.toml"):
        shutil.copyfile(source, directory / "sources" / source.name)
    for example in (BUILTIN / "sources" / "highlights").glob("*.md"):
        shutil.copyfile(example, directory / "sources" / "highlights" / example.name)
    # one sample per source type, to copy up into sources/ (only sources/*.toml are read)
    shutil.copytree(BUILTIN / "sources" / "examples", directory / "sources" / "examples", dirs_exist_ok=True)


@cli.command()
@workspace_options
def check(open_workspace) -> None:
    """Validate the config, every source and the templates, without calling a source; a configured
    directory is read, to count its members, those without an address and the duplicates."""
    from newsletter.collect import build_collectors
    from newsletter.store import check_state_dir

    ws = open_workspace(in_memory=True)
    check_state_dir(ws.config.state_dir)  # runs must create and write it; check creates nothing
    collectors = build_collectors(ws.config, ws.registry)
    ws.renderer().check(list(ws.config.newsletter.sections))
    sample = ws.sample_edition()
    findings = ws.findings(sample)
    names = ", ".join(source.name for source, _ in collectors) or "none"
    recipients = ws.recipients()  # each bad or repeated row is a warning with its file and line
    skipped = f" ({len(recipients.skipped)} skipped, see above)" if recipients.skipped else ""
    if recipients.roster is not None:
        skipped += f"; directory: {recipients.roster.summary()}"
    _check_fields(sample, recipients)
    _warn_unset_secrets(ws)
    _warn_shared_titles(ws)
    _report(findings)
    if any(f.level == "error" for f in findings):
        raise TemplateError(f"{ws.config.path}: the theme would break the email in mail clients (errors above)")
    click.echo(f"{ws.config.path}: ok ({len(collectors)} sources: {names}; recipients: {len(recipients)}{skipped}; "
               f"email checks: {len(findings)} warning{'s' if len(findings) != 1 else ''})")


def _check_fields(sample: Newsletter, recipients: RecipientList) -> None:
    """Each person's fields filled into the sample edition: who a send would hold back, or the
    template's mistake when it fails for everyone."""
    from newsletter.compose.personal import Personalizer
    from newsletter.delivery.ledger import fails_for_everyone, field_problems

    people, columns = recipients.recipients, recipients.columns
    problems = field_problems(Personalizer(sample), people, columns)
    if problems and len(problems) == len(people):
        raise TemplateError(fails_for_everyone(people, problems, columns))
    for person in people:
        if person.key in problems:
            click.echo(f"newsletter: warning: {person.email} ({person.where}): {problems[person.key]}; this person "
                       "would be held back, not sent", err=True)


def _warn_unset_secrets(ws: Workspace) -> None:
    """Secrets named by environment variables that this shell lacks: a warning, since cron's may have them."""
    from newsletter.settings import unset_secrets

    places = [(ws.config.path, ws.config)] + [(s.file, s.settings) for s in ws.config.sources if s.enabled]
    for path, settings in places:
        for problem in unset_secrets(settings):
            click.echo(f"newsletter: warning: {path}: {problem} here (the run needs it)", err=True)


def _warn_shared_titles(ws: Workspace) -> None:
    """Two sources the email would call by the same name: readers could not tell them apart."""
    from newsletter.config import shared_titles

    for problem in shared_titles(ws.config):
        click.echo(f"newsletter: warning: {problem}", err=True)


def _report(findings) -> None:
    for finding in findings:
        click.echo(f"newsletter: {finding}", err=True)


def _report_failed_sources(ws: Workspace, period) -> None:
    """What the live preview shows as a banner: every source of the month that failed, with its error."""
    for result in [] if isinstance(period, Year) else ws.store.results(period.label):
        if result.status == "failed":
            click.echo(f"newsletter: source {result.name} failed, not in this draft: {result.error}", err=True)


@cli.command()
@workspace_options
@month_option
@click.option("--backfill", default=0, show_default=True, help="Also collect this many earlier months not stored.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout.")
def collect(open_workspace, month: str, backfill: int, as_json: bool) -> None:
    """Collect the month's numbers from every source and store them."""
    ws = open_workspace()
    period = ws.month(month)
    results = ws.collect(period, backfill=backfill)
    if as_json:
        payload = {"month": period.label, "timezone": ws.config.newsletter.timezone,
                   "sources": [r.to_json() for r in results]}
        click.echo(json.dumps(payload, indent=2))
    else:
        for r in results:
            status, detail = ("partial", "; ".join(r.warnings)) if r.partial else (r.status, r.error or "")
            click.echo(f"{r.name:20} {status:8} {detail}".rstrip())
    # Cron mails whatever exits non-zero: that is for a failure that stops the edition (a required
    # source); an optional source's failure is a warning, and the edition goes out without it.
    required = ws.required_failures(results)
    for r in results:
        if r.status == "failed" and not any(failure.startswith(f"{r.name}: ") for failure in required):
            log.warning("warning: optional source %s failed; the edition goes out without it "
                        "(required = true would stop it)", r.name)
    if required:
        log.error("required source failed: %s", "; ".join(required))
        sys.exit(1)


@cli.command()
@workspace_options
@edition_options
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write the draft here instead of serving it.")
@click.option("--format", "fmt", type=click.Choice(["html", "text", "eml"]),
              help="What --output holds; default: as its name says (.eml, .html/.htm, .txt), otherwise html.")
@click.option("--collect", "collect_first", is_flag=True, help="Collect the month from every source first.")
@click.option("--host", help="Serve on this address instead of 127.0.0.1 (the printed URL carries a token on any).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="0 picks a free one.")
@click.option("--no-open", is_flag=True, help="Do not open a browser.")
def preview(open_workspace, month: str | None, year: str | None, output: Path | None, fmt: str | None,
            collect_first: bool, host: str | None, port: int, no_open: bool) -> None:
    """Serve the month's draft with live reload, test sends and approval; or write it to --output."""
    from newsletter.compose.personal import is_personal

    if output is None:
        if year:
            raise click.UsageError("the live preview shows a month; write the year in review with --output FILE")
        from newsletter.preview import PreviewOptions, serve

        options = PreviewOptions(month=month or "last", host=host, port=port, open_browser=not no_open,
                                 collect=collect_first)
        serve(open_workspace, options, echo=click.echo)
        return
    fmt = output_format(output, fmt)
    ws = open_workspace(demo_in_memory=True)
    period = ws.period(month, year)
    if collect_first and not isinstance(period, Year):
        ws.collect(period)
    ws.ensure_collected(period)
    newsletter, frozen = ws.draft(period)
    if frozen:
        click.echo(f"newsletter: {frozen}", err=True)
    _report(ws.findings(newsletter))
    _report_failed_sources(ws, period)
    # the recipients (and the email package) are read only when they change what is written
    sample = ws.sample_recipient() if fmt == "eml" or is_personal(newsletter) else None
    shown = _write_draft(ws, newsletter, sample, output, fmt)
    seen_by = f", as {sample}" if sample and shown is not newsletter else ""
    click.echo(f"Draft for {period.name} written to {output} ({shown.subject}){seen_by}")


def _write_draft(ws: Workspace, newsletter, sample, output: Path, fmt: str):
    """Write the edition as the sample person gets it (per-person fields filled in); return that copy."""
    from newsletter.compose.files import write_browser_copy
    from newsletter.compose.personal import Personalizer

    shown = Personalizer(newsletter).for_recipient(sample.fields()) if sample else newsletter
    if fmt == "html":
        write_browser_copy(shown, output)
    elif fmt == "text":
        output.write_text(shown.text, encoding="utf-8")
    else:  # the email package and delivery code load only for .eml
        from email.policy import SMTP

        from newsletter.delivery.message import build_message

        to = sample.recipient if sample else "preview@example.com"
        output.write_bytes(build_message(shown, ws.envelope(), to).as_bytes(policy=SMTP))
    return shown


OUTPUT_FORMATS = {".eml": "eml", ".html": "html", ".htm": "html", ".txt": "text"}


def output_format(output: Path, given: str | None) -> str:
    """--format, or the one the file's extension names; when both are given they must agree, since
    an `.eml` holding HTML (or a `.txt` holding a message) is a mistake nobody means."""
    implied = OUTPUT_FORMATS.get(output.suffix.lower())
    if given and implied and given != implied:
        raise ConfigError(f"--format {given} does not match {output} (a {output.suffix} file holds {implied}); "
                          "drop --format or change the file name")
    return given or implied or "html"


@cli.command()
@workspace_options
@edition_options
@click.option("--test-to", metavar="ADDRESS", help="Send one test copy here; it does not count as the real send.")
@click.option("--resend-unknown", is_flag=True, help="Send again, on purpose, to the people whose delivery is "
              "unknown (the connection was lost after the data): some may get a second copy.")
@click.option("--force", is_flag=True, help="Send a year in review before its year is over.")
def send(open_workspace, month: str | None, year: str | None, test_to: str | None,
         resend_unknown: bool, force: bool) -> None:
    """Send the month's edition from what is stored (no collecting)."""
    ws = open_workspace()
    period = ws.period(month, year)
    if test_to is not None:  # even "": never the real send by mistake
        from newsletter.jobs import recipient_for_test

        recipient_for_test(test_to)  # a wrong address says so before anything is composed
        ws.ensure_collected(period)
        reply = ws.send_test(ws.draft(period)[0], test_to)
        click.echo(f"Test copy of {period} sent to {test_to}: {reply}")
        return
    with ws.lock():
        if not resend_unknown:
            ws.ensure_collected(period)
        _deliver(ws, period, resend_unknown=resend_unknown, force=force)


@cli.command()
@workspace_options
@edition_options
@click.option("--force", is_flag=True, help="Send even an edition more than run.max_days_late days late, "
              "before run.send_day, or with a required source that covers only part of the month; or a year in "
              "review before its year is over.")
def run(open_workspace, month: str | None, year: str | None, force: bool) -> None:
    """The daily job: when last month's edition is due and not sent, collect, compose and send it.

    With --year, the year in review, built from the months already stored, goes out when asked."""
    from newsletter.editions import refuse_partial
    from newsletter.operations import Monitor, missed_before, scheduled_month

    ws = open_workspace()
    period = ws.period(month, year)
    with ws.lock(), Monitor(ws.config, "run", period.label, ws.store).watch():
        edition = ws.store.edition(period.label)
        if isinstance(period, Year):  # edition_for_sending says so when it was already sent
            ws.ensure_collected(period)
            _deliver(ws, period, force=force)
            return
        scheduled_month(ws.config, ws.store, ws.clock(), period, force=force or ws.demo)
        missed = missed_before(ws.store, period)
        if missed:
            log.warning("%s", missed)
        # A draft waiting for approval keeps the numbers the reviewers see; `newsletter collect` refreshes them.
        awaiting = edition and edition.status in ("draft", "approved") and ws.store.has_results(period.label)
        if not (edition and edition.status in ("sending", "failed")) and not awaiting:
            results = ws.collect(period, backfill=ws.config.newsletter.history_months if ws.demo else 0)
            failures = ws.required_failures(results)
            if failures:
                raise NewsletterError("required source failed, not sending: " + "; ".join(failures))
        if not force:
            refuse_partial(ws, period)
        _deliver(ws, period)


def _deliver(ws: Workspace, period, *, resend_unknown: bool = False, force: bool = False) -> None:
    newsletter = ws.edition_for_sending(period, resend_unknown=resend_unknown, force=force)
    ws.check_approved(newsletter)
    report = ws.deliver(newsletter, resend_unknown=resend_unknown)
    click.echo(f"Edition {period} ({newsletter.subject}) via {ws.config.delivery.transport}: {report.summary()}")
    if ws.config.delivery.transport == "outbox":
        for email in sorted((ws.config.outbox_dir / period.label).glob("*.eml")):
            click.echo(f"Email: {email}")
    click.echo(f"HTML copy: {ws.archive_dir(period) / 'view.html'}")
    if not report.complete:
        raise DeliveryError(f"edition {period} did not reach everyone ({report.summary()}); "
                            "see 'newsletter history'")


@cli.group()
def theme() -> None:
    """Branding: create a theme of your own."""


@theme.command("new")
@click.argument("name")
@workspace_options
def theme_new(open_workspace, name: str) -> None:
    """Create templates/NAME/ with a theme.toml and a template extending the built-in one."""
    from newsletter.compose.scaffold import create_theme

    ws = open_workspace(in_memory=True)
    folder = create_theme(ws.config.newsletter.templates, name)
    click.echo(f"Created {folder} (theme.toml, newsletter.mjml.j2). Set theme = \"{name}\" in "
               f"{ws.config.path}, then: newsletter preview --output draft.html")


@cli.command()
@workspace_options
@month_option
@click.option("--by", "approver", metavar="NAME", help="Who approves (default: your user name).")
@click.option("--hash", "expected", metavar="HASH", help="Approve only if the draft is still this content "
              "(the hash in the reviewers' email).")
def approve(open_workspace, month: str, approver: str | None, expected: str | None) -> None:
    """Approve the month's draft as it is now: run and send then deliver exactly this content."""
    from newsletter.approval import approve as record
    from newsletter.approval import default_approver

    ws = open_workspace()
    period = ws.month(month)
    ws.ensure_collected(period)
    newsletter = ws.edition_for_sending(period)
    approval = record(ws.store, newsletter, approver or default_approver(), expected_hash=expected)
    click.echo(f"Approved {period} ({newsletter.subject}), content {approval.short_hash}, by {approval.approved_by}. "
               f"'newsletter run --month {period}' sends it; any change to it needs a new approval.")


@cli.command()
@workspace_options
def history(open_workspace) -> None:
    """List editions: month, status, deliveries, who approved, when sent, subject; then each person
    not reached (refused for good or for now, unknown, left the recipients) with the server's answer."""
    from newsletter.approval import find as find_approval

    ws = open_workspace()
    editions = ws.store.editions()
    if not editions:
        click.echo("No editions yet.")
    else:
        click.echo(f"{'month':9}{'status':10}{'deliveries':24}{'approved by':22}{'sent at':27}subject")
    for edition in editions:
        counts = ws.store.delivery_counts(edition.month)
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "-"
        approval = find_approval(ws.store, edition.month, edition.content_hash)
        approver = approval.approved_by if approval else "-"
        click.echo(f"{edition.month:9}{edition.status:10}{summary:24}{approver:22}{edition.sent_at or '-':27}"
                   f"{edition.subject}")
        for row in _not_reached(ws, edition.month):
            click.echo(f"    {row.status}: {row.recipient} ({row.last_error or 'no reason recorded'})")


NOT_REACHED = ("perm_failed", "temp_failed", "unknown", "queued", "left")  # in the order history lists them


def _not_reached(ws: Workspace, month: str) -> list[Delivery]:
    """Everyone refused (with the server's answer), unknown, or queued with a reason (a run that stopped)."""
    rows = [r for r in ws.store.deliveries(month, NOT_REACHED) if r.status != "queued" or r.last_error]
    return sorted(rows, key=lambda r: NOT_REACHED.index(r.status))


def main() -> None:
    cli(prog_name="newsletter")
