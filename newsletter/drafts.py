"""Drafts: an edition composed from what the workspace's store holds now, and checked.

The composer (compose/) turns results into an email and knows nothing of the store, the sources
or the workspace; this module gives it a month's stored results beside the earlier months, the
workspace's facts (company, team, sections, source titles) and the theme, and checks the result
for mail clients. Which draft goes out, and when the content is frozen, is editions.py's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter import i18n
from newsletter.collect import build_collectors, collect_month, refresh_local
from newsletter.compose.context import build_context
from newsletter.compose.render import Newsletter, Renderer, Theme
from newsletter.delivery.recipients import languages_of
from newsletter.errors import ConfigError, TemplateError, UsageError
from newsletter.period import Month, Year
from newsletter.workspace import Workspace

if TYPE_CHECKING:
    from newsletter.compose.checks import Finding
    from newsletter.delivery.mailing import SampleRecipient

log = logging.getLogger(__name__)


def renderer(ws: Workspace) -> Renderer:
    """The workspace's theme, ready to render."""
    settings = ws.config.newsletter
    return Renderer(Theme(settings.templates, settings.theme, ws.config.path))


def compose(ws: Workspace, period: Month | Year, *, refresh: bool = True, detail: str | None = None,
            language: str | None = None) -> Newsletter:
    """The edition as it would go out now; a month's local files are read first (`refresh`). `detail`
    "full" composes the edition's web page (every figure), whatever the theme's layout. `language`
    (default: newsletter.toml's) is the one every word, number and date is written in, with the
    workspace theme's own messages (locale/<language>.po) before the shipped catalog's."""
    language = language or ws.config.newsletter.language
    with i18n.speaking(language, translations(ws, language)):
        return _compose(ws, period, refresh=refresh, detail=detail, language=language)


def compose_all(ws: Workspace, period: Month | Year, *, refresh: bool = True, detail: str | None = None
                ) -> Newsletter:
    """The edition in newsletter.toml's language, with its translations into every other language in
    use (languages_in_use): one composition per language, one content hash for them all."""
    first = compose(ws, period, refresh=refresh, detail=detail)
    others = tuple(compose(ws, period, refresh=False, detail=detail, language=language)
                   for language in languages_in_use(ws))
    return replace(first, translations=others) if others else first


def languages_in_use(ws: Workspace) -> list[str]:
    """The languages besides newsletter.toml's that editions are composed in: `newsletter.languages`,
    else those of the recipients file's `language` column. A listed language without a catalog is a
    ConfigError; a person's language without one reads newsletter.toml's (warned once per language)."""
    settings, recipients_file = ws.config.newsletter, ws.config.delivery.recipients
    listed = bool(settings.languages)
    wanted = settings.languages if listed else (languages_of(recipients_file) if recipients_file else [])
    primary, found = i18n.catalog_language(settings.language), []
    for language in wanted:
        code = i18n.catalog_language(language)
        if code == primary or code in found:
            continue
        if problem := i18n.without_catalog(language):
            if listed:
                raise ConfigError(f"{ws.config.path}: newsletter.languages: {problem}")
            log.warning("%s: language %r has no catalog; those people get the edition in %r",
                        recipients_file, language, settings.language)
            continue
        found.append(code)
    return found


def translations(ws: Workspace, language: str) -> i18n.NullTranslations:
    """The messages of `language` for this workspace: its theme's own .po first, then the package's."""
    theme = renderer(ws).theme
    return i18n.workspace_translations(theme.folder if theme.folder != theme.builtin else None, language)


def _compose(ws: Workspace, period: Month | Year, *, refresh: bool, detail: str | None, language: str
             ) -> Newsletter:
    if isinstance(period, Year):
        from newsletter.compose.yearly import build_year_context

        first = period.months[0]
        stored = ws.store.history(m.label for m in [*first.history(12), *period.months])
        context = build_year_context(period, stored, extra(ws, period.label, detail, language), now=ws.clock())
        return renderer(ws).render(period.label, context, edition="year", detail=detail)
    if refresh:
        refresh_local(ws, period)
    return renderer(ws).render(period.label, month_context(ws, period, detail, language), detail=detail)


def month_context(ws: Workspace, month: Month, detail: str | None = None, language: str | None = None
                  ) -> dict[str, Any]:
    """What the month's templates see: its stored results beside `history_months` earlier ones."""
    results = ws.store.results(month.label)
    window = month.history(max(ws.config.newsletter.history_months, 1))
    history = ws.store.history(m.label for m in window)
    # records "yet" only when the history read holds every month ever stored
    complete = (ws.store.first_month() or month.label) >= window[0].label
    facts = extra(ws, month.label, detail, language)
    return build_context(month, results, history, {**facts, "history_complete": complete})


def extra(ws: Workspace, label: str = "", detail: str | None = None, language: str | None = None) -> dict[str, Any]:
    """Workspace facts every template sees besides the numbers. `web_page`: the edition's page on the
    published site (newsletter.archive_url), "" without one; `web_copy`: this is that page."""
    settings = ws.config.newsletter
    page = f"{settings.archive_url.rstrip('/')}/{label}/" if settings.archive_url and label else ""
    return {"company": settings.company, "team": settings.team, "language": language or settings.language,
            "web_page": page, "web_copy": detail is not None,
            "sections": list(settings.sections),
            "source_titles": {source.name: source.title for source in ws.config.sources}}


def sample_edition(ws: Workspace) -> Newsletter:
    """What `check` renders with this workspace's theme: last month of the built-in demo numbers."""
    demo = Workspace.open(demo=True, in_memory=True, registry=ws.registry)
    month = demo.month("last")
    collectors = build_collectors(demo.config, demo.registry, clock=ws.clock, state=demo.store)
    for each in [*month.history(ws.config.newsletter.history_months), month]:
        demo.store.save_results(each.label, collect_month(collectors, each, progress=logging.DEBUG))
    sample = Workspace(ws.config, demo.store, ws.registry, demo=True, clock=ws.clock)
    return compose_all(sample, month, refresh=False)  # the demo's numbers, not this workspace's files


def findings(ws: Workspace, newsletter: Newsletter) -> list[Finding]:
    """Email-client safety findings for a composed edition, in each of its languages (compose/checks.py:
    the subject's and the preheader's length too); a translation's say which language: "[de] ..."."""
    from newsletter.compose.checks import check_newsletter

    theme = renderer(ws).theme.settings()
    found = check_newsletter(newsletter, theme)
    for translation in newsletter.translations:
        found += [replace(f, message=f"[{translation.language}] {f.message}")
                  for f in check_newsletter(translation, theme)]
    return found


def refuse_broken(ws: Workspace, newsletter: Newsletter) -> None:
    """An edition that would break in mail clients is never sent, in any of its languages: TemplateError
    naming each error (and its language, when there are several)."""
    errors = [f for f in findings(ws, newsletter) if f.level == "error"]
    if errors:
        raise TemplateError(f"edition {newsletter.month} would break in mail clients, not sending: "
                            + "; ".join(f"{f.check}: {f.message}" for f in errors))


# a draft written to a file (`preview --output`) -----------------------------------------------
OUTPUT_FORMATS = {".eml": "eml", ".html": "html", ".htm": "html", ".txt": "text", ".json": "json"}


def output_format(output: Path, given: str | None) -> str:
    """--format, or the one the file's extension names; when both are given they must agree, since
    an `.eml` holding HTML (or a `.txt` holding a message) is a mistake nobody means."""
    if output.is_dir():
        raise UsageError(f"--output {output}: is a folder; give a file name in it, such as {output / 'draft.html'}")
    if not output.parent.is_dir():
        raise UsageError(f"--output {output}: the folder {output.parent} does not exist; create it or write elsewhere")
    implied = OUTPUT_FORMATS.get(output.suffix.lower())
    if given and implied and given != implied:
        raise ConfigError(f"--format {given} does not match {output} (a {output.suffix} file holds {implied}); "
                          "drop --format or change the file name")
    return given or implied or "html"


def write_outline(newsletter: Newsletter, frozen: str | None, output: Path | None,
                  echo: Callable[[str], object]) -> None:
    """The draft as data (compose/outline.py) in `output`, or through `echo` (stdout). A frozen edition
    is the archived one, whose story is not kept: its subject and preheader, why it is frozen, and null
    for the rest (as for the year in review, which has no lead or hero)."""
    import json

    story = newsletter.story or {"month": newsletter.month, "lead": None, "hero": None, "sections": None}
    data = {**story, "subject": newsletter.subject, "preheader": newsletter.preheader, "frozen": frozen}
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        echo(text.rstrip("\n"))


def write_draft(ws: Workspace, newsletter: Newsletter, sample: SampleRecipient | None, output: Path,
                fmt: str) -> Newsletter:
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

        from newsletter.delivery.mailing import envelope
        from newsletter.delivery.message import build_message

        to = sample.recipient if sample else "preview@example.com"
        output.write_bytes(build_message(shown, envelope(ws.config), to).as_bytes(policy=SMTP))
    return shown
