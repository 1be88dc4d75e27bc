"""Template files as people save them: one not in UTF-8 (an editor's Windows code page) is named with
the byte and line to look at, whichever template includes it, instead of a decoding traceback; one
saved with a byte order mark (Notepad) reads as without, not with an invisible character in front of
the subject. A template that is a link to a file outside the templates folder (a theme from elsewhere
pointing at a key file, say) is refused: the email would show that file to everyone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jinja2
from jinja2.loaders import split_template_path

from newsletter.compose.formatting import where
from newsletter.errors import TemplateError


class ThemeLoader(jinja2.FileSystemLoader):
    def __init__(self, searchpath: Path, within: Path | None = None) -> None:
        """`within`: a folder templates may really be in (links followed) besides `searchpath`'s own: the
        workspace's templates folder, so themes there can share a file by a link."""
        super().__init__(searchpath, encoding="utf-8-sig")
        self.within = (within or searchpath).resolve()
        self.folders = {searchpath.resolve(), self.within}  # a theme folder that is a link: its files too

    def get_source(self, environment: jinja2.Environment, template: str
                   ) -> tuple[str, str | None, Callable[[], bool] | None]:
        try:
            source, filename, uptodate = super().get_source(environment, template)
        except UnicodeDecodeError as exc:
            path = next(p for p in (Path(s, *split_template_path(template)) for s in self.searchpath) if p.is_file())
            line = path.read_bytes().count(b"\n", 0, exc.start) + 1
            raise TemplateError(f"{where(str(path))}: not UTF-8 at byte {exc.start} (line {line}): save it as "
                                "UTF-8") from None
        real = Path(filename or "").resolve()
        if not any(real.is_relative_to(folder) for folder in self.folders):
            raise TemplateError(f"{where(filename or template)}: links to {real}, outside the templates folder "
                                f"{self.within}; copy the file into the theme instead")
        return source, filename, uptodate
