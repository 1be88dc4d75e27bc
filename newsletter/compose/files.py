"""Editions on disk: a browser can open the HTML, and an archived edition reloads byte for byte.

The email's HTML refers to its inline images as `cid:` URLs, which only a mail client resolves.
A copy meant for a browser gets the images written beside it and its `cid:` URLs rewritten;
the email itself is never changed.
"""

from __future__ import annotations

from pathlib import Path

from newsletter.compose.render import InlineImage, Newsletter


def images_dir(html_path: Path) -> Path:
    """'draft.html' -> 'draft_images/' beside it."""
    return html_path.with_name(f"{html_path.stem}_images")


def write_browser_copy(newsletter: Newsletter, html_path: Path, folder: Path | None = None) -> Path:
    """Write the HTML for a browser: images in `folder` (default `<name>_images/` beside it),
    `cid:` URLs pointing at them."""
    html = newsletter.html
    if newsletter.images:
        folder = folder or images_dir(html_path)
        folder.mkdir(parents=True, exist_ok=True)
        prefix = folder.relative_to(html_path.parent).as_posix()
        for image in newsletter.images:
            (folder / image.filename).write_bytes(image.data)
            html = html.replace(f"cid:{image.cid}", f"{prefix}/{image.filename}")
    html_path.write_text(html, encoding="utf-8")
    return html_path


def save_images(newsletter: Newsletter, folder: Path) -> list[dict[str, str]]:
    """Write the inline images into `folder/images/`; return what `load_images` needs."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    index = []
    for image in newsletter.images:
        (folder / "images" / image.filename).write_bytes(image.data)
        index.append({"cid": image.cid, "filename": image.filename, "subtype": image.subtype})
    return index


def load_images(folder: Path, index: list[dict[str, str]]) -> tuple[InlineImage, ...]:
    return tuple(InlineImage(entry["cid"], (folder / "images" / entry["filename"]).read_bytes(), entry["subtype"],
                             entry["filename"]) for entry in index)

