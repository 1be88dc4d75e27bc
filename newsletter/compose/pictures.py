"""Images inside the email, and pictures people put in their highlights.

A picture in a highlight is a file beside the highlights file (`![Alt](printer.png)`): sent
inside the email by CID and shown at its own width, at most the content width. A hosted picture
(`![Alt](https://...)`) is shown at the content width, since its size cannot be known without
fetching it, and the email checks refuse it like every remote resource: opening the email would
tell its host who read it. Outlook needs a width on every image; the style lets phones shrink it.

The lead story's photo (lead.py) may be a camera's original: it is resized with Pillow to
LEAD_PIXELS wide (the content width at 2x, sharp on any screen), turned upright as the camera
recorded, and saved again without its metadata (a phone photo carries where it was taken).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

CONTENT_WIDTH = 552  # CSS pixels: the 600 px body less the card's padding
MAX_PICTURE_BYTES = 1024 * 1024  # every copy of the email carries it
LEAD_PIXELS = CONTENT_WIDTH * 2
MAX_LEAD_BYTES = 30 * 1024 * 1024  # a camera's original, before it is resized
MAX_LEAD_PIXELS = 60_000_000  # beyond this a "photo" is more likely a decompression bomb
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


@dataclass(frozen=True)
class LeadPhoto:
    """The lead story's photo: the image to send, its description, the size to show it at."""

    image: InlineImage
    alt: str
    width: int  # CSS pixels shown
    height: int
    file: str  # as written in the highlights file

    @property
    def src(self) -> str:
        return f"cid:{self.image.cid}"


def _read_beside(folder: Path, src: str, limit: int) -> bytes | str:
    """The bytes of the file `src` (as written in Markdown) in `folder`, or what is wrong, in words."""
    name = unquote(src)
    missing = f"no picture {name!r} beside the highlights file: save it there (pictures go inside the email)"
    try:
        path = (folder / name).resolve(strict=True)
        if not path.is_relative_to(folder.resolve()):
            return f"{name!r} is not beside the highlights file: save the picture in {folder}"
        if not path.is_file():
            return missing
        with path.open("rb") as file:
            data = file.read(limit + 1)
    except (OSError, RuntimeError, ValueError):
        return missing
    if len(data) > limit:
        return (f"{name!r} is over {limit // 1024 // 1024} MB and every copy of the email carries it: "
                f"save it smaller ({LEAD_PIXELS} pixels wide is plenty)")
    return data


def local_picture(folder: Path, src: str) -> tuple[InlineImage, int] | str:
    """The picture file `src` (as written in Markdown) in `folder`: the image to send and the width to
    show it at; or what is wrong with it, in words that say what to do."""
    name = unquote(src)
    data = _read_beside(folder, src, MAX_PICTURE_BYTES)
    if isinstance(data, str):
        return data
    fmt, width = _format_and_width(data)
    if fmt not in _FORMATS:
        return f"{name!r} is not a PNG, JPEG or GIF picture: save it as one of those"
    digest = hashlib.sha256(data).hexdigest()[:12]
    subtype = _FORMATS[fmt]
    image = InlineImage(f"picture-{digest}@newsletter", data, subtype, f"picture-{digest}.{subtype}")
    return image, min(width, CONTENT_WIDTH)


def picture_subtype(data: bytes) -> str | None:
    """'png', 'jpeg' or 'gif' as the file's content says, whatever its name; None for anything else."""
    return _FORMATS.get(_format_and_width(data)[0])


def _format_and_width(data: bytes) -> tuple[str, int]:
    """What Pillow finds in the file's header ('PNG', 1104); ('', 0) when it is no picture."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.format or "", image.width
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return "", 0


def lead_photo(folder: Path, src: str, alt: str) -> LeadPhoto | str:
    """The lead's photo `src` in `folder`, resized to LEAD_PIXELS wide at most and without its
    metadata; or what is wrong with it (no description, no picture, too big), saying what to do."""
    name = unquote(src)
    if not alt.strip():
        return (f"{name!r} has no description: write what it shows between the brackets, "
                f"![The new server room]({src}), for those who cannot see it")
    data = _read_beside(folder, src, MAX_LEAD_BYTES)
    if isinstance(data, str):
        return data
    resized = _resized(data)
    if isinstance(resized, str):
        return f"{name!r} {resized}"
    encoded, subtype, (width, height) = resized
    if len(encoded) > MAX_PICTURE_BYTES:
        return f"{name!r} is still over 1 MB at {width} pixels wide: save it as a JPEG photo"
    digest = hashlib.sha256(encoded).hexdigest()[:12]
    image = InlineImage(f"lead-{digest}@newsletter", encoded, subtype, f"lead-{digest}.{subtype}")
    shown = min(width, CONTENT_WIDTH)
    return LeadPhoto(image, alt.strip(), shown, round(height * shown / width), name)


def _resized(data: bytes) -> tuple[bytes, str, tuple[int, int]] | str:
    """(encoded, subtype, pixel size): a JPEG stays a JPEG, anything else becomes a PNG (a GIF's
    first frame); or why the file cannot be one."""
    import warnings

    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as original:
                if original.format not in _FORMATS:
                    return "is not a PNG, JPEG or GIF picture: save it as one of those"
                if original.width * original.height > MAX_LEAD_PIXELS:
                    return f"has more than {MAX_LEAD_PIXELS // 1_000_000} million pixels: save it smaller"
                jpeg = original.format == "JPEG"
                picture = ImageOps.exif_transpose(original)
                if picture.width > LEAD_PIXELS:
                    size = (LEAD_PIXELS, max(1, round(picture.height * LEAD_PIXELS / picture.width)))
                    picture = picture.resize(size, Image.Resampling.LANCZOS)
                out = io.BytesIO()
                if jpeg:
                    picture.convert("RGB").save(out, "JPEG", quality=85, optimize=True, progressive=True)
                else:
                    picture.save(out, "PNG", optimize=True)
                return out.getvalue(), "jpeg" if jpeg else "png", picture.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, SyntaxError):
        return "is not a PNG, JPEG or GIF picture (or it is damaged): save it again as one of those"
