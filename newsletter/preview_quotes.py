"""Quotes a person picks in the preview for "What colleagues said" in the month's highlights file.

The help desks' positive comments (a ticketing result's `quotes`) are only candidates: nothing a
colleague wrote in a ticket reaches the email until someone reads it in the preview and picks it.
Picking one adds it to the month's highlights file (`<dir>/YYYY-MM.md` of the first highlights
source) under the `# What colleagues said` heading, which is created at the end of the file when
missing; each quote is one `## A colleague, 2 October` item (in the workspace's language) whose
body is the quote as a Markdown quotation. The words are the collector's, already without
addresses or ticket numbers, and no requester field is ever written; what would make a link, a
picture or a heading of them ("[", "<", a leading "#") is escaped, so a comment's "[link](...)"
shows as typed instead of becoming a link. A quote already in the file is not added twice, and
none is added once someone has the edition (it is frozen: the file would change, the email people
have would not).
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel.dates import format_date

from newsletter import drafts, editions, i18n
from newsletter.collectors.highlights import read_highlights
from newsletter.errors import NewsletterError, SourceError, UsageError
from newsletter.i18n import N_

if TYPE_CHECKING:
    from newsletter.period import Month
    from newsletter.workspace import Workspace

HEADING = "# What colleagues said"
N_("What colleagues said")  # the heading as the edition shows it, in its language (the `translated` filter)
_SECTION = re.compile(r"^#\s+What colleagues said\s*#*\s*$", re.IGNORECASE)
_TOP_HEADING = re.compile(r"^#\s")
_LINKING = re.compile(r"([\\\[<])")  # what starts a link, a picture or an autolink (and the escape itself)


def as_markdown(text: str) -> str:
    """`text` as Markdown without links, pictures or a heading: "[", "<", a backslash and a leading
    "#" escaped; the rest (a colleague's own *emphasis*) reads in the plain-text part as typed."""
    escaped = _LINKING.sub(r"\\\1", text)
    return "\\" + escaped if escaped.startswith("#") else escaped


def quote_id(source: str, text: str) -> str:
    """A short stable id for one candidate: what the page sends back (never the words themselves)."""
    return hashlib.sha256(f"{source}\0{text}".encode()).hexdigest()[:16]


def candidates(ws: Workspace, month: Month) -> list[dict[str, str]]:
    """The month's stored quote candidates: id, source, text and day, in the sources' order."""
    found: list[dict[str, str]] = []
    for result in ws.store.results(month.label):
        quotes = result.metrics.get("quotes") if result.status == "ok" and result.kind == "ticketing" else None
        for quote in quotes if isinstance(quotes, list) else ():
            if isinstance(quote, dict) and all(isinstance(quote.get(k), str) for k in ("text", "rated_at")):
                found.append({"id": quote_id(result.name, quote["text"]), "source": result.name,
                              "text": quote["text"], "rated_at": quote["rated_at"]})
    return found


def highlights_file(ws: Workspace, month: Month) -> Path:
    """The month's highlights file of the first highlights source; UsageError when there is none."""
    folder = next((s.settings.dir for s in ws.config.sources if s.type == "highlights"), None)
    if folder is None:
        raise UsageError("no highlights source is configured: add one (type = \"highlights\") to keep quotes")
    return Path(folder) / f"{month.label}.md"


def pick(ws: Workspace, month: Month, chosen: str) -> tuple[Path, str]:
    """Add the candidate `chosen` (its id) to the month's highlights file; (the file, what was done)."""
    quote = next((q for q in candidates(ws, month) if q["id"] == chosen), None)
    if quote is None:
        raise UsageError("no such quote among this month's candidates: reload the page")
    note = editions.frozen(ws, month)
    if note:  # the file would change, the edition people have would not
        raise NewsletterError(f"{note}; the quote was not added")
    path = highlights_file(ws, month)
    try:
        text = read_highlights(path) if path.exists() else ""
    except SourceError as exc:
        raise NewsletterError(f"{exc}; the quote was not added") from None
    body = quotation(quote["text"])
    if any(line.strip() == body for line in text.splitlines()):
        return path, f"already in {path.name}"
    language = ws.config.newsletter.language
    entry = item(quote, language, drafts.translations(ws, language))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(with_quote(text, entry), encoding="utf-8")
    except OSError as exc:
        raise NewsletterError(f"{path}: cannot write it ({exc.strerror}); the quote was not added") from None
    return path, f"added to {path.name} under \"What colleagues said\""


def quotation(text: str) -> str:
    """The quote's line in the file: what `item` writes and `pick` looks for, so none is added twice.
    On one line: a plugin's line break would end the quotation and could start a heading of its own."""
    return f"> {as_markdown(' '.join(text.split()))}"


def item(quote: dict[str, Any], language: str = i18n.DEFAULT_LANGUAGE,
         translations: i18n.NullTranslations | None = None) -> str:
    """The quote's `## ` item, its title in `language` (the edition shows it as written): "A colleague,
    2 October", "Eine Kollegin oder ein Kollege, 2. Oktober"; without the day when `rated_at` has none."""
    day = rated_day(quote["rated_at"])
    with i18n.speaking(language, translations):
        title = i18n.gettext("A colleague, {day} {month}").format(
            day=day.day, month=format_date(day, "MMMM", locale=i18n.locale())) if day else i18n.gettext("A colleague")
    return f"## {title}\n\n{quotation(quote['text'])}\n"


def rated_day(text: str) -> date | None:
    """The day of `rated_at`: YYYY-MM-DD as collectors give it, or the date of a plugin's ISO time
    ('2026-10-02T16:40:00+02:00', its own day); None for anything else, so no day is made up."""
    for parse in (date.fromisoformat, lambda t: datetime.fromisoformat(t).date()):
        try:
            return parse(text.strip())
        except ValueError:
            continue
    return None


def with_quote(text: str, entry: str) -> str:
    """`text` with `entry` at the end of its "What colleagues said" section (created at the end)."""
    lines = text.splitlines()
    start = next((n for n, line in enumerate(lines) if _SECTION.match(line)), None)
    if start is None:
        head = "\n".join(lines).rstrip()
        return (f"{head}\n\n" if head else "") + f"{HEADING}\n\n{entry}"
    end = next((n for n in range(start + 1, len(lines)) if _TOP_HEADING.match(lines[n])), len(lines))
    before = "\n".join(lines[:end]).rstrip()
    after = "\n".join(lines[end:])
    return f"{before}\n\n{entry}" + (f"\n{after}\n" if after else "")
