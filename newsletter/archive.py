"""Archived editions: what went out, on disk in `<state_dir>/archive/<edition>/`, whole or not at all.

An edition is archived every time it is composed for sending (editions.for_sending): the email's
HTML and text, a copy a browser can open (`view.html`, images beside it), its web page with every
figure (`web.html`: the full layout, what `newsletter publish` shows), its inline images, and
`edition.json` (subject, preheader, content hash, the sources' results), written last so that its
presence means the archive is complete. Once anyone has been sent the edition, the rest get exactly
this archived content (editions.py), reloaded byte for byte. `delivery.json` beside it says how the
delivery went, rewritten after every run that sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.compose.files import load_images, save_images, write_browser_copy
from newsletter.compose.render import Newsletter
from newsletter.state_dir import write_private

if TYPE_CHECKING:
    from newsletter.period import Month, Year
    from newsletter.workspace import Workspace


def archive_dir(ws: Workspace, edition: Month | Year | str) -> Path:
    """The edition's folder ('2026-10', or '2026' for the year in review); it may not exist."""
    return ws.config.state_dir / "archive" / str(edition)


def has_archive(ws: Workspace, edition: Month | Year) -> bool:
    """True when the edition's archive is complete (edition.json is written last)."""
    return (archive_dir(ws, edition) / "edition.json").is_file()


def archive(ws: Workspace, newsletter: Newsletter, web: Newsletter | None = None) -> Path:
    """Write the edition's archive (replacing an earlier one) and return its folder; `web` is the
    edition composed in the full layout, for its published page. Each translation is archived the
    same way in `languages/<language>/`, before the first language's edition.json (last: complete)."""
    folder = archive_dir(ws, newsletter.month)
    folder.mkdir(parents=True, exist_ok=True)
    if web is not None:
        write_browser_copy(web, folder / "web.html", folder / "images")
    for translation in newsletter.translations:
        _write_copy(translation, folder / "languages" / translation.language)
    _write_copy(newsletter, folder, {
        "content_hash": newsletter.content_hash, "sources": [r.to_json() for r in ws.store.results(newsletter.month)],
        "language": newsletter.language, "languages": [t.language for t in newsletter.translations]})
    return folder


def _write_copy(newsletter: Newsletter, folder: Path, meta: dict | None = None) -> None:
    """One language's edition in `folder`: the email's HTML and text, the browser copy, the images and
    edition.json (subject, preheader, images and `meta`), written last: its presence means complete."""
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / "newsletter.html", newsletter.html)
    _write(folder / "newsletter.txt", newsletter.text)
    write_browser_copy(newsletter, folder / "view.html", folder / "images")
    meta = {"subject": newsletter.subject, "preheader": newsletter.preheader,
            "images": save_images(newsletter, folder), **(meta or {})}
    _write(folder / "edition.json", json.dumps(meta, indent=2), private=True)  # its sources: colleagues' comments


def archive_delivery(ws: Workspace, month: str, skipped: list[str]) -> None:
    """Beside the edition: how its delivery went (the ledger's counts, the addresses skipped as invalid)."""
    meta = {"month": month, "counts": ws.store.delivery_counts(month), "skipped_addresses": skipped,
            "updated_at": ws.clock().isoformat(timespec="seconds")}
    _write(archive_dir(ws, month) / "delivery.json", json.dumps(meta, indent=2), private=True)


def archived_hash(ws: Workspace, edition: Month | Year) -> str | None:
    """The content hash the edition had when it was archived (edition.json), None if it says none."""
    meta = json.loads((archive_dir(ws, edition) / "edition.json").read_text(encoding="utf-8"))
    found = meta.get("content_hash") if isinstance(meta, dict) else None
    return found if isinstance(found, str) and found else None


def load_archive(ws: Workspace, edition: Month | Year) -> Newsletter:
    """The archived edition exactly as it was composed (same content hash)."""
    folder = archive_dir(ws, edition)
    meta = json.loads((folder / "edition.json").read_text(encoding="utf-8"))
    translations = tuple(_load(folder / "languages" / language, edition.label, language)
                         for language in meta.get("languages", []))
    return _load(folder, edition.label, meta.get("language", ""), meta, translations)


def _load(folder: Path, label: str, language: str, meta: dict | None = None,
          translations: tuple[Newsletter, ...] = ()) -> Newsletter:
    meta = meta or json.loads((folder / "edition.json").read_text(encoding="utf-8"))
    return Newsletter(month=label, subject=meta["subject"], preheader=meta["preheader"],
                      html=(folder / "newsletter.html").read_text(encoding="utf-8"),
                      text=(folder / "newsletter.txt").read_text(encoding="utf-8"),
                      images=load_images(folder, meta.get("images", [])), language=language,
                      translations=translations)


def _write(path: Path, text: str, *, private: bool = False) -> None:
    """Whole or not at all: a crash never leaves half a file for the next run to send. `private`:
    readable by this user alone (colleagues' addresses, the comments they wrote in tickets: the sources'
    quote candidates, which no one has picked for publishing); the edition itself is what the site shows."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    if private:
        write_private(temporary, text.encode("utf-8"))
    else:
        temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
