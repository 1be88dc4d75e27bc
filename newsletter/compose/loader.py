"""Template files as people save them: one not in UTF-8 (an editor's Windows code page) is named with
the byte and line to look at, whichever template includes it, instead of a decoding traceback; one
saved with a byte order mark (Notepad) reads as without, not with an invisible character in front of
the subject."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jinja2
from jinja2.loaders import split_template_path

from newsletter.compose.formatting import where
from newsletter.errors import TemplateError


class ThemeLoader(jinja2.FileSystemLoader):
    def __init__(self, searchpath: Path) -> None:
        super().__init__(searchpath, encoding="utf-8-sig")

    def get_source(self, environment: jinja2.Environment, template: str
                   ) -> tuple[str, str | None, Callable[[], bool] | None]:
        try:
            return super().get_source(environment, template)
        except UnicodeDecodeError as exc:
            path = next(p for p in (Path(s, *split_template_path(template)) for s in self.searchpath) if p.is_file())
            line = path.read_bytes().count(b"\n", 0, exc.start) + 1
            raise TemplateError(f"{where(str(path))}: not UTF-8 at byte {exc.start} (line {line}): save it as "
                                "UTF-8") from None
