"""Highlights the team writes by hand: `highlights/YYYY-MM.md`, one `## Title` per item.

A `# Heading` groups the items after it into a section (`# Thanks`, `# Tip of the month`);
items before any `#` heading belong to "highlights". The Markdown is kept as written: the
composer renders it safely, because collectors know nothing of HTML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from newsletter.collectors.base import Collector
from newsletter.errors import ConfigError, SourceError, SourceSkipped
from newsletter.period import Month
from newsletter.results import Highlight, MonthHighlights

_HEADING = re.compile(r"(#{1,2})\s")  # "# " or "## ": the title follows (_heading)
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")  # CommonMark's code fences, closed by the same kind
# Byte order marks of the Unicode encodings an editor may save in instead (UTF-32 LE first: it
# begins with UTF-16 LE's mark)
_OTHER_UNICODE = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe", "UTF-16"),
                  (b"\xfe\xff", "UTF-16"))
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # Markdown's; str.splitlines also splits at VT, FF, NEL...
MAX_BYTES = 2**20  # far more than an email holds (at most 102 KB): a larger file is another file


@dataclass(frozen=True)
class HighlightsSettings:
    dir: Path = Path("highlights")


def section_key(title: str) -> str:
    """'Tip of the month' -> 'tip_of_the_month': the name templates use for a section."""
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_") or "highlights"


def read_highlights(path: Path) -> str:
    """The file's text, from UTF-8 (a byte order mark is dropped); SourceError naming the file, and
    the byte and line, when it is not UTF-8, so the fix is one "save as" away."""
    if path.exists() and not path.is_file():  # a pipe or a device would be read forever
        raise SourceError(f"{_shown(path)}: not a regular file; save the highlights as a file")
    try:
        with path.open("rb") as file:
            data = file.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SourceError(f"{_shown(path)}: cannot read it ({exc.strerror})") from None
    if len(data) > MAX_BYTES:
        size = path.stat().st_size
        raise SourceError(f"{_shown(path)}: {max(size, len(data)) / 2**20:.3g} MB is far more than a month's "
                          f"highlights (at most {MAX_BYTES // 2**20} MB); is it the right file?")
    for bom, name in _OTHER_UNICODE:
        if data.startswith(bom):
            raise SourceError(f"{_shown(path)}: saved as {name}: save it as UTF-8") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SourceError(f"{_shown(path)}: not UTF-8 at byte {exc.start} (line {line}): save it as UTF-8") from None


def _shown(path: Path) -> str:
    """The path as a person reads it: relative to the current folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except (OSError, ValueError):
        return str(path)


def _heading(line: str) -> tuple[int, str] | None:
    """(level, title) of a `#` or `##` heading, without its closing #s (only after a space: "C#"
    stays), or None. By hand rather than one regex, which would try every length of a long run of
    spaces at every position (minutes for one line)."""
    found = _HEADING.match(line)
    if not found:
        return None
    title = line[found.end():].strip()
    bare = title.rstrip("#")
    if bare != title and bare and bare[-1].isspace():
        title = bare.rstrip()
    return (len(found[1]), title) if title else None


def parse_highlights(text: str) -> list[Highlight]:
    items: list[Highlight] = []
    section, title, body = "highlights", None, []

    def flush() -> None:
        if title is not None:
            items.append(Highlight(title=title, body="\n".join(body).strip(), section=section))

    fence = ""  # the open code fence's run of ` or ~: a "# comment" inside one is no heading
    for line in _LINE_BREAK.split(text):
        if found := _FENCE.match(line):
            run = found[1]
            if not fence:
                fence = run
            elif run[0] == fence[0] and len(run) >= len(fence) and not line.strip()[len(run):]:
                fence = ""
        match = None if fence or found else _heading(line)
        if match and match[0] == 1:
            flush()
            section, title, body = section_key(match[1]), None, []
        elif match:
            flush()
            title, body = match[1], []
        elif title is not None:
            body.append(line)
    flush()
    return items


class Highlights(Collector):
    """Reads the month's highlights file; a month without one is skipped, not failed."""

    type = "highlights"
    kind = "highlights"
    offline = True
    Settings = HighlightsSettings

    def validate(self) -> None:
        if self.settings.dir.exists() and not self.settings.dir.is_dir():
            raise ConfigError(f"source {self.name}: dir {self.settings.dir} is not a folder")

    def collect(self, month: Month) -> MonthHighlights:
        path = self.settings.dir / f"{month.label}.md"
        if not path.exists():
            raise SourceSkipped(f"no highlights written ({path})")
        text = read_highlights(path)
        if not text.strip():  # created ahead of the month and not written yet: as if there were none
            raise SourceSkipped(f"no highlights written ({path} is empty)")
        items = parse_highlights(text)
        if not items:
            raise SourceError(f"{path} has no '## Title' items; write one heading per highlight")
        # the file: the composer names it in problems and finds the pictures beside it
        return MonthHighlights(tuple(items), file=str(path.resolve()))
