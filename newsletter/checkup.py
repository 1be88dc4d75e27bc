"""`newsletter check`: the whole workspace checked, without a network call and without writing anything.

It binds every source and validates its collector, renders the theme with the built-in demo numbers
and checks that email for mail clients, reads the recipients and fills each person's fields into it,
and asks whether a run could use the state directory. A mistake that stops every run raises (the
ConfigError or TemplateError of the part that fails); what only might go wrong is a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter.binding import unset_secrets
from newsletter.collect import Unstarted, build_collectors
from newsletter.collectors.metrics_file import MetricsFile
from newsletter.config import Config, shared_titles
from newsletter.drafts import findings, renderer, sample_edition
from newsletter.errors import ConfigError, TemplateError
from newsletter.state_dir import check_state_dir

if TYPE_CHECKING:
    from newsletter.compose.checks import Finding
    from newsletter.compose.render import Newsletter
    from newsletter.delivery.recipients import RecipientList
    from newsletter.workspace import Workspace


@dataclass(frozen=True)
class Checkup:
    """What `check` found: the sources, the recipients, warnings (one line each) and the email checks."""

    config: Path
    sources: list[str]
    recipients: int
    skipped: int  # recipient rows left out (each was a warning with its file and line)
    warnings: list[str]
    findings: list[Finding]
    plugins: str  # 'sources: rt (it-newsletter 0.4), ... · transport: smtp (it-newsletter 0.4)'
    directory: str | None = None  # what the directory holds: members, without an address, duplicates

    def refuse_broken(self) -> None:
        """TemplateError (exit 2) when the theme would break the email in mail clients."""
        if any(f.level == "error" for f in self.findings):
            raise TemplateError(f"{self.config}: the theme would break the email in mail clients (errors above)")

    def summary(self) -> str:
        names = ", ".join(self.sources) or "none"
        skipped = f" ({self.skipped} skipped, see above)" if self.skipped else ""
        if self.directory:
            skipped += f"; directory: {self.directory}"
        count = len(self.findings)
        return (f"{self.config}: ok ({len(self.sources)} sources: {names}; recipients: {self.recipients}{skipped}; "
                f"email checks: {count} warning{'s' if count != 1 else ''})")


def check_workspace(ws: Workspace) -> Checkup:
    """Check everything a run needs, in the order a run meets it; raise what would stop every run."""
    from newsletter.delivery.mailing import recipients

    check_state_dir(ws.config.state_dir)  # runs must create and write it; check creates nothing
    collectors = build_collectors(ws.config, ws.registry)
    for source, collector in collectors:
        try:
            collector.check_content()
        except ConfigError as exc:
            raise ConfigError(f"{source.file}: {exc}") from None
    metric_names: dict[tuple[str, str], tuple[Any, MetricsFile]] = {}
    for source, collector in collectors:
        if isinstance(collector, MetricsFile):
            collector.check_names(source, metric_names)
    plain_text_gaps = renderer(ws).check(list(ws.config.newsletter.sections))
    sample = sample_edition(ws)
    found = findings(ws, sample)
    everyone = recipients(ws.config)  # each bad or repeated row is a warning with its file and line
    unstarted = [collector.problem for _, collector in collectors if isinstance(collector, Unstarted)]
    warnings = [*unstarted, *held_back(sample, everyone), *_unset_secrets(ws.config), *shared_titles(ws.config),
                *_without_catalog(ws.config), *_nobody_reviews(ws.config), *plain_text_gaps]
    return Checkup(ws.config.path, [source.name for source, _ in collectors], len(everyone), len(everyone.skipped),
                   warnings, found, plugins_in_use(ws),
                   everyone.roster.summary() if everyone.roster is not None else None)


def _nobody_reviews(config: Config) -> list[str]:
    """Approval required with no reviewers: each draft waits, and `-q run` says nothing about it."""
    if not config.delivery.require_approval or config.delivery.reviewers:
        return []
    asked = ("the run's owners (run.owners) are asked instead" if config.run.owners
             else "nobody is asked (run.owners is empty too)")
    return [f"{config.path}: delivery.require_approval is true but delivery.reviewers is empty: each draft waits "
            f"for approval and {asked}; list who approves in delivery.reviewers"]


def _without_catalog(config: Config) -> list[str]:
    """newsletter.language without a shipped catalog: the edition would be in English, so say so."""
    from newsletter.i18n import shipped_languages, without_catalog

    language = config.newsletter.language
    if without_catalog(language) is None:
        return []
    return [f"{config.path}: newsletter.language: no catalog for {language!r}, so the edition's words are in "
            f"English (its numbers and dates in {language!r}'s formats when known); shipped: "
            f"{', '.join(shipped_languages())} (docs/languages.md says how to add one)"]


def plugins_in_use(ws: Workspace) -> str:
    """Each source type and the transport in use with the distribution that provides it: whom to ask."""
    from newsletter.plugins import listing

    types = dict.fromkeys(source.type for source in ws.config.sources if source.enabled)
    transport = ws.config.transport
    return (f"sources: {listing((t, ws.registry.provider(t)) for t in types)} · "
            f"transport: {listing([(transport.name, transport.provider)])}")


def held_back(sample: Newsletter, recipients: RecipientList) -> list[str]:
    """Each person's fields filled into the sample edition: who a send would hold back; the
    template's mistake (TemplateError) when it fails for everyone."""
    from newsletter.compose.personal import Personalizer
    from newsletter.delivery.ledger import fails_for_everyone, field_problems

    people, columns = recipients.recipients, recipients.columns
    problems = field_problems(Personalizer(sample), people, columns)
    if problems and len(problems) == len(people):
        raise TemplateError(fails_for_everyone(people, problems, columns))
    return [f"{person.email} ({person.where}): {problems[person.key]}; this person would be held back, not sent"
            for person in people if person.key in problems]


def _unset_secrets(config: Config) -> list[str]:
    """Secrets named by environment variables that this shell lacks: a warning, since cron's may have them."""
    places = [(config.path, f"{key}.", getattr(config, key)) for key in ("newsletter", "delivery", "run")]
    places += [(config.path, f"delivery.{name}.", table) for name, table in config.transport_settings.items()]
    places += [(s.file, "", s.settings) for s in config.sources if s.enabled]
    return [f"{path}: {problem} here (the run needs it)" for path, prefix, settings in places
            for problem in unset_secrets(settings, prefix)]
