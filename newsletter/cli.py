"""The command line: one small function per command, wiring only.

Exit codes: 0 done, 1 failed, 2 bad config/template/usage, 3 nothing to do or waiting.
Logs and progress go to stderr; --json output to stdout.
"""

from __future__ import annotations

import functools
import json
import logging
import shutil
import sys
from pathlib import Path

import click

from newsletter import __version__
from newsletter.errors import DeliveryError, NewsletterError
from newsletter.jobs import Workspace

log = logging.getLogger("newsletter")


class NewsletterGroup(click.Group):
    """Turns our errors into one line on stderr and the documented exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            if exc.exit_code == 3:  # nothing to do: said like progress, so `-q` in cron stays silent
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
        return func(open_workspace=lambda **extra: Workspace.open(
            config_path=config_path, demo=demo, state_dir=state_dir, **extra), **kwargs)

    return wrapper


month_option = click.option("--month", default="last", show_default=True, help="YYYY-MM or 'last'.")


@click.group(cls=NewsletterGroup)
@click.version_option(__version__, prog_name="newsletter")
@click.option("-v", "--verbose", count=True, help="More detail on stderr (-vv for debugging).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")
def cli(verbose: int, quiet: bool) -> None:
    """A monthly newsletter that makes the IT team's quiet work visible."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(stream=sys.stderr, level=level, format="newsletter: %(message)s", force=True)
    if verbose < 2:
        logging.getLogger("urllib3").setLevel(logging.WARNING)


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
def init(directory: Path) -> None:
    """Create a workspace in DIRECTORY: newsletter.toml and sources/ to edit."""
    from newsletter.resources import BUILTIN

    target = directory / "newsletter.toml"
    if target.exists():
        raise click.UsageError(f"{target} exists already; choose another folder")
    (directory / "sources" / "highlights").mkdir(parents=True, exist_ok=True)
    (directory / "templates").mkdir(exist_ok=True)
    shutil.copyfile(BUILTIN / "newsletter.toml", target)
    for source in (BUILTIN / "sources").glob("*.toml"):
        shutil.copyfile(source, directory / "sources" / source.name)
    for example in (BUILTIN / "sources" / "highlights").glob("*.md"):
        shutil.copyfile(example, directory / "sources" / "highlights" / example.name)
    click.echo(f"Created {target}. Edit it and sources/*.toml, then: newsletter check --config {target}")


@cli.command()
@workspace_options
def check(open_workspace) -> None:
    """Validate the config, every source and the templates, without any network call."""
    from newsletter.collect import build_collectors

    ws = open_workspace(in_memory=True)
    collectors = build_collectors(ws.config, ws.registry)
    ws.renderer().check()
    names = ", ".join(source.name for source, _ in collectors) or "none"
    click.echo(f"{ws.config.path}: ok ({len(collectors)} sources: {names})")


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
            click.echo(f"{r.name:20} {r.status:8} {r.error or ''}".rstrip())
    if any(r.status == "failed" for r in results):
        sys.exit(1)


@cli.command()
@workspace_options
@month_option
@click.option("--output", "-o", type=click.Path(path_type=Path), required=True, help="Write the draft here.")
@click.option("--format", "fmt", type=click.Choice(["html", "text", "eml"]), default="html", show_default=True)
def preview(open_workspace, month: str, output: Path, fmt: str) -> None:
    """Write the month's draft to a file. Sends nothing."""
    from email.policy import SMTP

    from newsletter.delivery.message import build_message

    ws = open_workspace(in_memory=True) if _demo_flag() else open_workspace()
    period = ws.month(month)
    ws.ensure_collected(period)
    newsletter = ws.compose(period)
    if fmt == "html":
        output.write_text(newsletter.html, encoding="utf-8")
    elif fmt == "text":
        output.write_text(newsletter.text, encoding="utf-8")
    else:
        to = ws.config.delivery.to[0] if ws.config.delivery.to else "preview@example.com"
        output.write_bytes(build_message(newsletter, ws.envelope(), to).as_bytes(policy=SMTP))
    click.echo(f"Draft for {period.name} written to {output} ({newsletter.subject})")


def _demo_flag() -> bool:
    return bool(click.get_current_context().params.get("demo"))


@cli.command()
@workspace_options
@month_option
@click.option("--test-to", metavar="ADDRESS", help="Send one test copy here; it does not count as the real send.")
@click.option("--resend-unknown", is_flag=True, help="Send again, on purpose, to the people whose delivery is "
              "unknown (the connection was lost after the data): some may get a second copy.")
def send(open_workspace, month: str, test_to: str | None, resend_unknown: bool) -> None:
    """Send the month's edition from what is stored (no collecting)."""
    ws = open_workspace()
    period = ws.month(month)
    if test_to:
        if ws.demo:
            ws.ensure_collected(period)
        reply = ws.send_test(ws.compose(period), test_to)
        click.echo(f"Test copy of {period} sent to {test_to}: {reply}")
        return
    with ws.lock():
        if not resend_unknown:
            ws.ensure_collected(period)
        _deliver(ws, period, resend_unknown=resend_unknown)


@cli.command()
@workspace_options
@month_option
@click.option("--force", is_flag=True, help="Send even an edition more than run.max_days_late days late, or "
              "before run.send_day.")
def run(open_workspace, month: str, force: bool) -> None:
    """The daily job: when last month's edition is due and not sent, collect, compose and send it."""
    from newsletter.operations import Monitor, missed_before, scheduled_month

    ws = open_workspace()
    period = ws.month(month)
    with ws.lock(), Monitor(ws.config, "run", period.label, ws.store).watch():
        scheduled_month(ws.config, ws.store, ws.clock(), period, force=force or ws.demo)
        missed = missed_before(ws.store, period)
        if missed:
            log.warning("%s", missed)
        edition = ws.store.edition(period.label)
        if not (edition and edition.status in ("sending", "failed")):
            results = ws.collect(period, backfill=ws.config.newsletter.history_months if ws.demo else 0)
            failures = ws.required_failures(results)
            if failures:
                raise NewsletterError("required source failed, not sending: " + "; ".join(failures))
        _deliver(ws, period)


def _deliver(ws: Workspace, period, *, resend_unknown: bool = False) -> None:
    newsletter = ws.edition_for_sending(period, resend_unknown=resend_unknown)
    ws.check_approved(newsletter)
    report = ws.deliver(newsletter, resend_unknown=resend_unknown)
    click.echo(f"Edition {period} ({newsletter.subject}) via {ws.config.delivery.transport}: {report.summary()}")
    if ws.config.delivery.transport == "outbox":
        click.echo(f"Email: {ws.config.outbox_dir / period.label}")
    click.echo(f"HTML copy: {ws.archive_dir(period) / 'newsletter.html'}")
    if not report.complete:
        raise DeliveryError(f"edition {period} did not reach everyone ({report.summary()}); "
                            "see 'newsletter history'")


@cli.command()
@workspace_options
def history(open_workspace) -> None:
    """List editions: month, status, deliveries, subject."""
    ws = open_workspace()
    editions = ws.store.editions()
    if not editions:
        click.echo("No editions yet.")
    for edition in editions:
        counts = ws.store.delivery_counts(edition.month)
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "-"
        click.echo(f"{edition.month}  {edition.status:8} {summary:28} {edition.sent_at or '':25} {edition.subject}")
        for row in ws.store.deliveries(edition.month, ["unknown"]):
            click.echo(f"    unknown: {row.recipient} ({row.last_error})")


def main() -> None:
    cli(prog_name="newsletter")
