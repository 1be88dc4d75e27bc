"""The command line: one small function per command, wiring only.

Exit codes: 0 done, 1 failed, 2 bad config/template/usage, 3 nothing to do or waiting.
Logs and progress go to stderr; --json output to stdout.
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import re
import sqlite3
import sys
from pathlib import Path

import click

from newsletter import __version__, drafts
from newsletter.collectors.registry import CollectorRegistry
from newsletter.config import MAX_HISTORY_MONTHS
from newsletter.errors import LockHeld, NewsletterError, UsageError
from newsletter.period import Year
from newsletter.workspace import Workspace, create_workspace

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
        except (OSError, sqlite3.OperationalError) as exc:
            problem = _out_of_room(exc)
            if problem is None:
                raise
            click.echo(f"newsletter: {problem}", err=True)
            ctx.exit(1)


def _out_of_room(exc: OSError | sqlite3.OperationalError) -> str | None:
    """The line for a disk that filled up (or turned read-only) midway through a command, once the
    run's monitor has told the owners; None for any other failure. Nobody is sent a second copy by
    the next run (the ledger), so the person's part is to make room."""
    if isinstance(exc, sqlite3.OperationalError):
        if not any(word in str(exc) for word in ("disk is full", "disk I/O", "readonly")):
            return None
        what, why = "the state database (newsletter.db)", str(exc)
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        what, why = (exc.filename, exc.strerror) if exc.filename else ("a file in the state directory", exc.strerror)
    else:
        return None
    return f"{what} could not be written ({why}); free some space on its disk (or make it writable) and run it again"


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
    logging.getLogger().handlers[0].addFilter(_ours_or_a_warning)
    logging.getLogger().handlers[0].addFilter(_hide_query_strings)
    log.setLevel(level)
    # urllib3's "Retrying (Retry(total=3, ...)) after connection broken by ..." is detail: the retry
    # either works or ends in the source's own error. Only -v shows it; cron mails whatever is printed.
    logging.getLogger("urllib3").setLevel(logging.WARNING if verbose and not quiet else logging.ERROR)


def _ours_or_a_warning(record: logging.LogRecord) -> bool:
    """Another library's line reaches stderr at WARNING or above only, even when that library set its
    own logger to INFO (werkzeug does, for every request it serves): `-q` in cron mails nothing else."""
    return record.name.partition(".")[0] == "newsletter" or record.levelno >= logging.WARNING


def _hide_query_strings(record: logging.LogRecord) -> bool:
    """A library's log line keeps the path of a URL, never its query string (it may hold a key)."""
    if record.name.startswith("urllib3"):
        record.msg, record.args = _QUERY.sub("", record.getMessage()), ()
    return True


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
def init(directory: Path) -> None:
    """Create a workspace in DIRECTORY: newsletter.toml and sources/ to edit."""
    target = create_workspace(directory)
    click.echo(f"Created {target}. Replace the demo sources in sources/ with yours (samples in "
               f"sources/examples/), then: newsletter check --config {target}")


@cli.command()
@workspace_options
def check(open_workspace) -> None:
    """Validate the config, every source and the templates, without calling a source; a configured
    directory is read, to count its members, those without an address and the duplicates."""
    from newsletter.checkup import check_workspace

    checkup = check_workspace(open_workspace(in_memory=True))
    for warning in checkup.warnings:
        click.echo(f"newsletter: warning: {warning}", err=True)
    _report(checkup.findings)
    checkup.refuse_broken()
    click.echo(checkup.summary())
    click.echo(checkup.plugins)


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
@click.option("--backfill", default=0, show_default=True, type=click.IntRange(0, MAX_HISTORY_MONTHS),
              help="Also collect this many earlier months not stored.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout.")
def collect(open_workspace, month: str, backfill: int, as_json: bool) -> None:
    """Collect the month's numbers from every source and store them."""
    from newsletter.collect import collect as collect_into_store
    from newsletter.collect import required_failures

    ws = open_workspace()
    period = ws.month(month)
    results = collect_into_store(ws, period, backfill=backfill)
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
    required = required_failures(ws.config, results)
    for r in results:
        if r.status == "failed" and not any(failure.startswith(f"{r.name}: ") for failure in required):
            log.warning("warning: optional source %s failed; the edition goes out without it "
                        "(required = true would stop it)", r.name)
    if required:
        log.error("required source failed: %s", "; ".join(required))
        sys.exit(1)


@cli.command()
@workspace_options
def snapshot(open_workspace) -> None:
    """Store today's reading of every source that needs daily snapshots (systems that only know
    rolling windows or counters since a restart). The daily `run` does it too.

    Exit 0 when every one was stored, 1 naming each that failed (the others are stored all the
    same), 3 when no source needs snapshots."""
    from newsletter.collect import take_snapshots
    from newsletter.errors import NothingToDo

    ws = open_workspace()
    taken = take_snapshots(ws)
    if not taken:
        raise NothingToDo("no source needs daily snapshots; nothing to do")
    for outcome in taken:
        click.echo(f"{outcome.source:20} {'stored' if outcome.ok else 'failed  ' + str(outcome.error)}".rstrip())
    failed = [outcome.source for outcome in taken if not outcome.ok]
    if failed:
        raise NewsletterError(f"no snapshot stored today for {', '.join(failed)} (see above)")


@cli.command()
@workspace_options
@edition_options
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write the draft here instead of serving it.")
@click.option("--format", "fmt", type=click.Choice(["html", "text", "eml", "json"]),
              help="What --output holds; default: as its name says (.eml, .html/.htm, .txt, .json), otherwise "
              "html. json without --output prints the draft as data on stdout.")
@click.option("--collect", "collect_first", is_flag=True, help="Collect the month from every source first.")
@click.option("--host", help="Serve on this address instead of 127.0.0.1 (the printed URL carries a token on any).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="0 picks a free one.")
@click.option("--no-open", is_flag=True, help="Do not open a browser.")
@click.option("--language", metavar="LANG", help="Show or write the draft in this language (de, fr, es, en) "
              "instead of newsletter.toml's; the live preview's language switch starts there.")
def preview(open_workspace, month: str | None, year: str | None, output: Path | None, fmt: str | None,
            collect_first: bool, host: str | None, port: int, no_open: bool, language: str | None) -> None:
    """Serve the month's draft with live reload, test sends and approval; or write it to --output."""
    from newsletter.collect import collect as collect_into_store
    from newsletter.collect import ensure_collected
    from newsletter.compose.personal import is_personal
    from newsletter.editions import draft

    if output is None and fmt != "json":
        if year:
            raise click.UsageError("the live preview shows a month; write the year in review with --output FILE")
        from newsletter.preview import PreviewOptions
        from newsletter.preview_http import serve

        options = PreviewOptions(month=month or "last", host=host, port=port, open_browser=not no_open,
                                 collect=collect_first, language=_language(language))
        serve(open_workspace, options, echo=click.echo)
        return
    fmt = drafts.output_format(output, fmt) if output else fmt
    ws = open_workspace(demo_in_memory=True)
    period = ws.period(month, year)
    if collect_first and not isinstance(period, Year):
        collect_into_store(ws, period)
    ensure_collected(ws, period)
    newsletter, frozen = draft(ws, period, language=_language(language))
    if frozen:
        click.echo(f"newsletter: {frozen}", err=True)
    _report(drafts.findings(ws, newsletter))
    _report_failed_sources(ws, period)
    if fmt == "json":
        drafts.write_outline(newsletter, frozen, output, echo=click.echo)
        if output:
            click.echo(f"Draft for {period.name} written to {output} ({newsletter.subject})", err=True)
        return
    # the recipients (and the email package) are read only when they change what is written
    sample = _sample_recipient(ws) if fmt == "eml" or is_personal(newsletter) else None
    try:
        shown = drafts.write_draft(ws, newsletter, sample, output, fmt)
    except OSError as exc:  # a folder not writable, a disk full: the person's to fix, in one line
        raise UsageError(f"--output {output}: cannot write it ({exc.strerror or exc})") from None
    seen_by = f", as {sample}" if sample and shown is not newsletter else ""
    click.echo(f"Draft for {period.name} written to {output} ({shown.subject}){seen_by}")


def _language(language: str | None) -> str | None:
    """--language as given, when the package has its catalog (or it is English); exit 2 otherwise."""
    from newsletter.i18n import without_catalog

    problem = None if language is None else without_catalog(language)
    if problem:
        raise click.BadParameter(problem, param_hint="--language")
    return language


def _sample_recipient(ws: Workspace):
    from newsletter.delivery.mailing import sample_recipient

    return sample_recipient(ws.config)


@cli.command()
@workspace_options
@edition_options
@click.option("--test-to", metavar="ADDRESS", help="Send one test copy here; it does not count as the real send.")
@click.option("--resend-unknown", is_flag=True, help="Send again, on purpose, to the people whose delivery is "
              "unknown (the connection was lost after the data): some may get a second copy.")
@click.option("--force", is_flag=True, help="Send a month's edition before the month is over, or a year in "
              "review before its year is over.")
def send(open_workspace, month: str | None, year: str | None, test_to: str | None,
         resend_unknown: bool, force: bool) -> None:
    """Send the month's edition from what is stored (no collecting)."""
    from newsletter import operations

    ws = open_workspace()
    period = ws.period(month, year)
    if test_to is not None:  # even "": never the real send by mistake
        reply = operations.send_test(ws, period, test_to)
        click.echo(f"Test copy of {period} sent to {test_to}: {reply}")
        return
    operations.send(ws, period, resend_unknown=resend_unknown, force=force, echo=click.echo)


@cli.command()
@workspace_options
@edition_options
@click.option("--force", is_flag=True, help="Send even an edition more than run.max_days_late days late, "
              "before run.send_day, or with a required source that covers only part of the month; or a year in "
              "review before its year is over.")
def run(open_workspace, month: str | None, year: str | None, force: bool) -> None:
    """The daily job: when last month's edition is due and not sent, collect, compose and send it.

    With --year, the year in review, built from the months already stored, goes out when asked."""
    from newsletter import operations

    ws = open_workspace()
    period = ws.period(month, year) if month or year else operations.month_to_run(ws.config, ws.store, ws.clock())
    operations.run(ws, period, force=force, echo=click.echo)


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
@edition_options
@click.option("--by", "approver", metavar="NAME", help="Who approves (default: your user name).")
@click.option("--hash", "expected", metavar="HASH", help="Approve only if the draft is still this content "
              "(the hash in the reviewers' email).")
def approve(open_workspace, month: str | None, year: str | None, approver: str | None,
            expected: str | None) -> None:
    """Approve the month's draft (or the year in review's) as it is now: run and send then deliver
    exactly this content."""
    from newsletter import operations
    from newsletter.approval import approve as record
    from newsletter.approval import default_approver, refuse_running, what_sends
    from newsletter.collect import ensure_collected
    from newsletter.editions import for_sending, refuse_collected_running

    ws = open_workspace()
    period = ws.period(month, year)
    refuse_running(ws, period.label)
    with operations.lock(ws.config.state_dir):  # it archives the draft: never under a run that is sending it
        ensure_collected(ws, period)
        if not isinstance(period, Year):
            refuse_collected_running(ws, period)
        newsletter = for_sending(ws, period)
        approval = record(ws.store, newsletter, approver or default_approver(), expected_hash=expected)
    click.echo(f"Approved {period} ({newsletter.subject}), content {approval.short_hash}, by {approval.approved_by}. "
               f"{what_sends(ws.store, period.label)}; any change to it needs a new approval.")


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
@workspace_options
def publish(directory: Path, open_workspace) -> None:
    """Write a static site of every edition that went out: an index, a page each, an Atom feed."""
    from newsletter.publish import publish as write_site

    ws = open_workspace()
    editions = write_site(ws, directory)
    click.echo(f"Published {len(editions)} edition(s) to {directory} (index.html, feed.xml, "
               f"{', '.join(e.label for e in editions[:3])}{', ...' if len(editions) > 3 else ''}).")


@cli.command()
@workspace_options
def history(open_workspace) -> None:
    """List editions: month, status, deliveries, who approved, when sent, subject; then each person
    not reached (refused for good or for now, unknown, left the recipients) with the server's answer."""
    from newsletter.history import history_lines

    for line in history_lines(open_workspace()):
        click.echo(line)


def main() -> None:
    cli(prog_name="newsletter")
