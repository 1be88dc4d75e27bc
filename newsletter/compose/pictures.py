"""Images inside the email, and pictures people put in their highlights.

A picture in a highlight is a file beside the highlights file (`![Alt](printer.png)`): sent
inside the email by CID and shown at its own width, at most the content width. A hosted picture
(`![Alt](https://...)`) is shown at the content width, since its size cannot be known without
fetching it, and the email checks refuse it like every remote resource: opening the email would
tell its host who read it. Outlook needs a width on every image; the style lets phones shrink it.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

CONTENT_WIDTH = 552  # CSS pixels: the 600 px body less the card's padding
MAX_PICTURE_BYTES = 1024 * 1024  # every copy of the email carries it
_FORMATS = {"PNG": "png", "JPEG": "jpeg", "GIF": "gif"}


@dataclass(frozen=True)
class InlineImage:
    cid: str
    data: bytes
    subtype: str = "png"
    filename: str = "image.png"


def img_tag(src: str, alt: str, width: int, title: str = "") -> str:
    """An <img> every mail client shows at `width` or narrower: escaped, with alt text and a width."""
    from html import escape

    title_attr = f' title="{escape(title)}"' if title else ""
    return (f'<img src="{escape(src)}" alt="{escape(alt)}"{title_attr} width="{width}" '
            f'style="display:block;width:100%;max-width:{width}px;height:auto;border:0" />')


def local_picture(folder: Path, src: str) -> tuple[InlineImage, int] | str:
    """The picture file `src` (as written in Markdown) in `folder`: the image to send and the width to
    show it at; or what is wrong with it, in words that say what to do."""
    name = unquote(src)
    missing = f"no picture {name!r} beside the highlights file: save it there (pictures go inside the email)"
    try:
        path = (folder / name).resolve(strict=True)
        if not path.is_relative_to(folder.resolve()):
            return f"{name!r} is not beside the highlights file: save the picture in {folder}"
        if not path.is_file():
            return missing
        with path.open("rb") as file:
            data = file.read(MAX_PICTURE_BYTES + 1)
    except (OSError, RuntimeError, ValueError):
        return missing
    if len(data) > MAX_PICTURE_BYTES:
        return (f"{name!r} is over {MAX_PICTURE_BYTES // 1024 // 1024} MB and every copy of the email carries it: "
                f"save it smaller ({CONTENT_WIDTH * 2} pixels wide is plenty)")
    fmt, width = _format_and_width(data)
    if fmt not in _FORMATS:
        return f"{name!r} is not a PNG, JPEG or GIF picture: save it as one of those"
    digest = hashlib.sha256(data).hexdigest()[:12]
    subtype = _FORMATS[fmt]
    image = InlineImage(f"picture-{digest}@newsletter", data, subtype, f"picture-{digest}.{subtype}")
    return image, min(width, CONTENT_WIDTH)


def _format_and_width(data: bytes) -> tuple[str, int]:
    """What Pillow finds in the file's header ('PNG', 1104); ('', 0) when it is no picture."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.format or "", image.width
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return "", 0
