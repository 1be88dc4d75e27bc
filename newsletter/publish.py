"""`newsletter publish DIR`: a static site of every edition that went out, read from the archive.

Each archived edition someone has been sent (editions.REACHED_STATES) gets a page, `DIR/<edition>/`,
showing its web copy (`web.html`: every figure, the full layout; `view.html` for an edition archived
before web copies existed) with links to the months before and after, its images copied beside it.
`DIR/index.html` lists them newest first with each subject, and `DIR/feed.xml` is an Atom feed,
with absolute links when newsletter.archive_url says where the site is served. No page runs any
script. The site's own templates (`site/*.j2`) come through the theme, so a theme can restyle them.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter import i18n
from newsletter.compose.personal import for_everyone
from newsletter.compose.render import Newsletter
from newsletter.drafts import renderer, translations
from newsletter.editions import reach
from newsletter.errors import NewsletterError, NothingToDo, TemplateError, UsageError

if TYPE_CHECKING:
    from newsletter.workspace import Workspace

log = logging.getLogger(__name__)
_BODY_OPEN = re.compile(r"<body[^>]*>", re.IGNORECASE)
_BODY_CLOSE = re.compile(r"</body\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class Published:
    """One edition's page: its label, subject and preheader, when it first went out (UTC, ISO 8601)."""

    label: str
    subject: str
    preheader: str
    updated: str
    source: Path  # the archived HTML the page shows

    @property
    def order(self) -> str:
        """Newest first sorts on this: a year in review comes after its December."""
        return self.label if "-" in self.label else f"{self.label}-13"


def published_editions(ws: Workspace) -> list[Published]:
    """Every complete archive whose edition reached someone, newest first."""
    root = ws.config.state_dir / "archive"
    found = []
    for edition in ws.store.editions():
        label, got = edition.month, reach(ws.store, edition.month)
        if got is None:
            continue
        folder = root / label
        meta_path = folder / "edition.json"
        if not meta_path.is_file():  # it went out: not left off the site unsaid
            log.warning("warning: edition %s went out but its archive %s is missing: it is not on the site; "
                        "restore it from a backup", label, folder)
            continue
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if not (isinstance(meta, dict) and all(isinstance(meta.get(k), str) for k in ("subject", "preheader"))):
                raise ValueError("expected its subject and preheader")
            if not ((folder / "web.html").is_file() or (folder / "view.html").is_file()):
                raise ValueError("its page (web.html or view.html) is missing")
        except (OSError, ValueError) as exc:
            raise NewsletterError(f"{meta_path}: cannot read the archived edition ({exc}); restore it from a "
                                  "backup") from None
        web = folder / "web.html"
        subject = _for_everyone(label, subject=meta["subject"]).subject
        found.append(Published(label, subject, meta["preheader"], _utc(got.since),
                               web if web.is_file() else folder / "view.html"))
    return sorted(found, key=lambda p: p.order, reverse=True)


def publish(ws: Workspace, directory: Path) -> list[Published]:
    """Write the site into `directory` (created; earlier pages of the same editions replaced)."""
    editions = published_editions(ws)
    if not editions:
        raise NothingToDo("no edition has gone out yet, so there is nothing to publish; `newsletter run` or "
                          "`newsletter send` first")
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory}: exists and is not a folder; name a folder for the site")
    settings = ws.config.newsletter
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with i18n.speaking(settings.language, translations(ws, settings.language)):  # the site's own words
            _write_site(ws, directory, editions)
    except OSError as exc:  # a folder that cannot be made or written, a disk full
        raise NewsletterError(f"{exc.filename or directory}: cannot write the site there ({exc.strerror or exc}); "
                              "name a folder you can write to") from None
    return editions


def _write_site(ws: Workspace, directory: Path, editions: list[Published]) -> None:
    """Each edition's page with the links between them, the index and the feed."""
    render = renderer(ws)
    settings = ws.config.newsletter
    base = settings.archive_url.rstrip("/") + "/" if settings.archive_url else ""
    common = {"company": settings.company, "team": settings.team, "language": settings.language,
              "base": base, "editions": editions}
    for i, edition in enumerate(editions):
        newer = editions[i - 1] if i > 0 else None
        older = editions[i + 1] if i + 1 < len(editions) else None
        nav = render.page("site/nav.html.j2", {**common, "edition": edition, "newer": newer, "older": older})
        _write_page(edition, directory / edition.label, nav)
    (directory / "index.html").write_text(render.page("site/index.html.j2", common), encoding="utf-8")
    (directory / "feed.xml").write_text(render.page("site/feed.xml.j2", common), encoding="utf-8")


def _write_page(edition: Published, folder: Path, nav: str) -> None:
    """The archived HTML with the site's links at its top and bottom, images copied beside it."""
    try:
        archived = edition.source.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NewsletterError(f"{edition.source}: the archived page is not UTF-8 text; restore it from a "
                              "backup") from None
    html = _for_everyone(edition.label, html=archived).html
    opening = _BODY_OPEN.search(html)
    html = html[:opening.end()] + nav + html[opening.end():] if opening else nav + html
    closing = list(_BODY_CLOSE.finditer(html))
    html = html[:closing[-1].start()] + nav + html[closing[-1].start():] if closing else html + nav
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(html, encoding="utf-8")
    images = edition.source.parent / "images"
    if images.is_dir():
        shutil.copytree(images, folder / "images", dirs_exist_ok=True)


def _for_everyone(label: str, *, subject: str = "", html: str = "") -> Newsletter:
    """The archive keeps the per-person fields as written (a later run fills them in for each person
    it sends to); the site shows them filled in for nobody in particular, never as [[ ]] and never a
    part meant for one department."""
    try:
        return for_everyone(Newsletter(label, subject, "", html, ""))
    except TemplateError as exc:
        raise NewsletterError(f"edition {label}: its per-person fields cannot be filled in for the site ({exc}); "
                              "give them a default, such as [[ recipient.name or \"colleague\" ]]") from None


def _utc(stamp: str) -> str:
    """An ISO 8601 time as Atom writes it (RFC 3339, with its zone)."""
    moment = datetime.fromisoformat(stamp)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
