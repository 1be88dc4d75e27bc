"""Render the newsletter: Jinja (sandboxed, autoescaped, strict) -> MJML -> HTML, plus its own text part.

Template lookup (a ChoiceLoader): the workspace's `templates/<theme>/` first, then the built-in
default theme. `default:NAME` always means the built-in file, so a branded template can
`{% extends "default:newsletter.mjml.j2" %}` and override one block.
"""

from __future__ import annotations

import hashlib
import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from newsletter import i18n
from newsletter.compose import formatting, theme_words
from newsletter.compose.bounded import bounded_concat
from newsletter.compose.formatting import where
from newsletter.compose.links import BadReference
from newsletter.compose.loader import ThemeLoader
from newsletter.compose.mjml_errors import MarkingEnvironment, MjmlRefused, describe, refuse_unknown
from newsletter.compose.outline import outline
from newsletter.compose.personal import PlacedMarkup, PlacedText, for_everyone, neutralize, placed
from newsletter.compose.pictures import InlineImage, picture_subtype
from newsletter.compose.printable import printable_value
from newsletter.compose.theme_settings import check_theme, merge, read_theme_toml
from newsletter.errors import ConfigError, TemplateError
from newsletter.resources import builtin_theme
from newsletter.sections import DEFAULT_SECTIONS

HTML_TEMPLATE = "newsletter.mjml.j2"
TEXT_TEMPLATE = "newsletter.txt.j2"
SUBJECT_TEMPLATE = "subject.txt.j2"
PREHEADER_TEMPLATE = "preheader.txt.j2"
# Each edition's templates: html, text, subject, preheader. The year's extend the month's.
EDITIONS = {
    "month": (HTML_TEMPLATE, TEXT_TEMPLATE, SUBJECT_TEMPLATE, PREHEADER_TEMPLATE),
    "year": ("year.mjml.j2", "year.txt.j2", "year_subject.txt.j2", "year_preheader.txt.j2"),
}
THEME_FILE = "theme.toml"
_EXTENDS = re.compile(r"""{%-?\s*extends\s+["']([^"']+)["']""")
_COMMENT = re.compile(r"{#.*?#}", re.DOTALL)
# names, quotes and commas only: the stack is printed into CSS, in style attributes and <style> alike
MAX_LOGO_BYTES = 512 * 1024
_ALWAYS = {"head", "header", "footer"}  # blocks every edition shows, around its sections


@dataclass(frozen=True)
class Newsletter:
    """One composed edition, ready for any transport."""

    month: str
    subject: str
    preheader: str
    html: str
    text: str
    images: tuple[InlineImage, ...] = field(default=())
    # links and pictures people wrote that cannot go out (markdown.py): the email checks refuse to send
    # them. Not part of the content: an edition reloaded from its archive has none.
    refused: tuple[BadReference, ...] = field(default=(), compare=False)
    # the draft as data (outline.py: lead, hero facts, sections), for `preview --format json`; None
    # for an edition reloaded from its archive
    story: dict[str, Any] | None = field(default=None, compare=False)
    # the language it is written in (newsletter.i18n), and the same edition in the other languages in
    # use (per-person language: each person gets `in_language(theirs)`)
    language: str = field(default="", compare=False)
    translations: tuple[Newsletter, ...] = field(default=(), compare=False)

    @property
    def content_hash(self) -> str:
        """What exactly would be sent: subject, both parts and every image, in every language (an
        approval covers them all)."""
        digest = hashlib.sha256()
        for part in (self.subject, self.html, self.text):
            digest.update(part.encode("utf-8") + b"\0")
        for image in self.images:
            digest.update(image.cid.encode() + b"\0" + image.data)
        for other in self.translations:
            digest.update(b"\1" + other.language.encode() + b"\0" + other.content_hash.encode())
        return digest.hexdigest()

    @property
    def editions(self) -> tuple[Newsletter, ...]:
        """This edition and its translations: one per language in use."""
        return (self, *self.translations)

    def in_language(self, language: str | None) -> Newsletter:
        """The edition a person whose language is `language` gets: the translation of that language
        ('de-AT' reads 'de'), else this one."""
        wanted = i18n.catalog_language(language) if language else ""
        return next((t for t in self.translations if i18n.catalog_language(t.language) == wanted), self)


class Theme:
    """A theme folder: templates plus theme.toml, falling back to the built-in default theme."""

    def __init__(self, templates_root: Path, name: str, config: Path | None = None) -> None:
        self.name = name
        self.builtin = builtin_theme()
        self.config = config  # the newsletter.toml whose `theme` and `sections` these are
        own = templates_root / name
        if not own.is_dir() and name != "default":
            raise ConfigError(f"{self.config_key('newsletter.theme')}: no theme {name!r} in {templates_root}")
        self.folder = own if own.is_dir() else self.builtin
        self._checked: dict[str, Any] | None = None  # the theme.toml last checked: its warnings said once

    def config_key(self, key: str) -> str:
        """`newsletter.toml: key`, as every other setting's error names it."""
        return f"{self.config}: {key}" if self.config else key

    def settings(self) -> dict[str, Any]:
        """Built-in theme.toml (its words in the current language: theme_words.py), overlaid by the
        workspace theme's own."""
        merged = theme_words.translated(read_theme_toml(self.builtin / THEME_FILE))
        if self.folder != self.builtin and (self.folder / THEME_FILE).is_file():
            own = read_theme_toml(self.folder / THEME_FILE)
            if own != self._checked:  # an edit (the live preview) is checked again
                check_theme(own, merged, self.folder / THEME_FILE)
                self._checked = own
            merge(merged, own)
        return merged

    def environment(self, kind: type[SandboxedEnvironment] = SandboxedEnvironment) -> SandboxedEnvironment:
        """The templates' environment; `kind` MarkingEnvironment only to locate an MJML error."""
        builtin = ThemeLoader(self.builtin)
        loaders: list[jinja2.BaseLoader] = [jinja2.PrefixLoader({"default": builtin}, delimiter=":")]
        if self.folder != self.builtin:
            loaders.insert(0, ThemeLoader(self.folder, within=self.folder.parent))
        loaders.append(builtin)
        env = kind(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=lambda name: not (name or "").endswith(".txt.j2"),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            # compiled templates are cached per user (Jinja checks the folder is private), keyed by the
            # source's checksum: a preview skips recompiling templates that did not change
            bytecode_cache=_bytecode_cache() if kind is SandboxedEnvironment else None,
            finalize=_printed,
            extensions=["jinja2.ext.i18n"],
        )
        env.concat = bounded_concat  # type: ignore[method-assign]
        # the templates' {% trans %} and _() ask newsletter.i18n, so they speak the current language
        env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext)
        env.filters.update(number=formatting.number, percent=formatting.percent, duration=formatting.duration,
                           fit=formatting.fit, upper_first=formatting.upper_first, placed=placed,
                           # a heading the highlights file names, in the edition's language when the
                           # catalogs know it ("What colleagues said"), else as written; never formatted
                           translated=i18n.gettext)
        return env

    def logo_image(self) -> InlineImage | None:
        """A local logo file (theme.toml [logo] file), sent inline; None for a hosted URL or no logo."""
        logo = self.settings().get("logo", {})
        if not logo.get("file"):
            return None
        folder = self.folder if (self.folder / THEME_FILE).is_file() else self.builtin
        path = folder / logo["file"]
        where = f"{folder / THEME_FILE}: logo.file"
        if not path.resolve().is_relative_to(folder.resolve()):  # it goes to every colleague: nothing else
            raise ConfigError(f"{where}: {logo['file']!r} is outside the theme's folder; put the logo beside "
                              f"{THEME_FILE}")
        subtype = path.suffix.lower().lstrip(".").replace("jpg", "jpeg")
        if subtype not in ("png", "jpeg", "gif"):
            raise ConfigError(f"{where}: {path.name} must be a .png, .jpg or .gif image")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read {path} ({exc.strerror})") from None
        subtype = picture_subtype(data)  # a logo saved from a web page may be WebP, or the page, named .png
        if subtype is None:
            raise ConfigError(f"{where}: {path.name} is not a PNG, JPEG or GIF picture inside: save it again as one "
                              "(mail clients would show a broken image)")
        if len(data) > MAX_LOGO_BYTES:  # inlined in every message: a big one makes relays refuse them
            raise ConfigError(f"{where}: {path.name} is {len(data) / 1024:,.0f} KB; a logo of at most "
                              f"{MAX_LOGO_BYTES // 1024} KB keeps every message small (save it at twice its width)")
        return InlineImage(f"logo-{hashlib.sha256(data).hexdigest()[:12]}@newsletter", data, subtype, f"logo.{subtype}")


def _printed(value: Any) -> Any:
    """Every value any template prints passes here (Jinja's `finalize`): no character that breaks
    MJML or a terminal (printable.py), and per-person fields ([[ ... ]]) only from the templates."""
    return neutralize(value if isinstance(value, PlacedText | PlacedMarkup) else printable_value(value))


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    try:
        return jinja2.FileSystemBytecodeCache()
    except (OSError, RuntimeError):  # no private temporary folder: compile every time
        return None


class Renderer:
    def __init__(self, theme: Theme) -> None:
        self.theme = theme
        self.env = theme.environment()
        self._blocks: dict[str, set[str]] = {}

    def check(self, sections: list[str] | None = None, edition: str | None = None) -> list[str]:
        """Load (parse) the edition's templates (every edition's when None) and check the configured
        sections; raise TemplateError. Returns warnings: a section only the HTML template has, which
        the plain-text part leaves out."""
        for kind, names in EDITIONS.items():
            for name in names if edition in (None, kind) else ():
                self._template(name)
        self.theme.logo_image()
        edition = edition or "month"
        html = EDITIONS[edition][0]
        twice = sorted({name for name in sections or () if list(sections or ()).count(name) > 1})
        if twice:
            raise TemplateError(f"{self.theme.config_key('newsletter.sections')}: {twice[0]!r} is listed twice; "
                                "name each section once")
        known = ", ".join(sorted(self.blocks(html) - _ALWAYS))
        listed = [name for name in sections or () if name in _ALWAYS]
        if listed:  # shown twice in the email, or (head) its styles in the body
            raise TemplateError(f"{self.theme.config_key('newsletter.sections')}: {listed[0]!r} is not a section: the "
                                f"header and the footer always show; known sections: {known}")
        missing = [name for name in sections or () if name not in self.blocks(html)]
        if missing:
            raise TemplateError(f"{self.theme.config_key('newsletter.sections')}: no block {missing[0]!r} in theme "
                                f"{self.theme.name!r} ({html}); known sections: {known}")
        text = EDITIONS[edition][1]
        return [f"{self.theme.config_key('newsletter.sections')}: {name!r} has a block in {html} but none in {text}, "
                f"so the plain-text part leaves it out; add {{% block {name} %}}...{{% endblock %}} to "
                f"{where(str(self.theme.folder / text))}"
                for name in sections or () if name not in self.blocks(text)]

    def blocks(self, name: str) -> set[str]:
        """Every block a template defines, its parents' included: the sections it can show."""
        if name not in self._blocks:
            self._blocks[name] = self._find_blocks(name)
        return self._blocks[name]

    def _find_blocks(self, name: str) -> set[str]:
        found: set[str] = set()
        seen: set[str] = set()
        while name and name not in seen:
            seen.add(name)
            found |= set(self._template(name).blocks)
            source = self.env.loader.get_source(self.env, name)[0] if self.env.loader else ""
            parent = _EXTENDS.search(_COMMENT.sub("", source))
            if parent and parent[1] in seen:  # `default:` left out: Jinja would recurse until it gives up
                raise TemplateError(f"{where(self._template(name).filename or name)}: extends itself "
                                    f"(\"{parent[1]}\"); extend the built-in one with \"default:{parent[1]}\"")
            name = parent[1] if parent else ""
        return found

    def render(self, month: str, context: dict[str, Any], edition: str = "month",
               detail: str | None = None) -> Newsletter:
        """Compose one edition: `month` is its label ('2026-10', or '2026' for the year in review);
        `detail` ("full" for the published web page) overrides theme.toml's [layout] detail."""
        from newsletter.compose import charts

        html_name, text_name, subject_name, preheader_name = EDITIONS[edition]
        theme = self.theme.settings()
        if detail:
            theme.setdefault("layout", {})["detail"] = detail
        logo = self.theme.logo_image()
        theme["logo"]["src"] = f"cid:{logo.cid}" if logo else theme["logo"].get("url", "")
        sections = list(context.get("sections") or DEFAULT_SECTIONS)
        self.check(sections, edition)
        planned = charts.plan_charts(context) if "trends" in sections else []
        title = (theme.get("year_title", "{year}").replace("{year}", month) if edition == "year"
                 else theme.get("title", "{month}").replace("{month}", context["month"]["name"]))
        context = {**context, "theme": theme, "sections": sections, "charts": planned, "title": title}
        subject = " ".join(self._render(subject_name, context).split())
        preheader = " ".join(self._render(preheader_name, context).split())
        # the parts print them as values, where a [[ field ]] would stay its source: filled in for nobody
        context.update(subject=_shown(month, subject), preheader=_shown(month, preheader))
        html_context = {**context, "blocks": self.blocks(html_name)}
        mjml_source = self._render(html_name, html_context)
        try:
            html = compile_mjml(mjml_source)
        except MjmlRefused as refused:
            raise TemplateError(self._locate(refused, mjml_source, html_name, html_context)) from None
        text = self._render(text_name, {**context, "blocks": self.blocks(text_name)})
        images = [logo] if logo and logo.cid in html else []
        images += [InlineImage(c.cid, charts.draw(c, theme["colors"]), filename=c.filename)
                   for c in planned if c.cid in html]
        pictures = {p.cid: p for p in context.get("markdown_pictures", ()) if p.cid in html}
        return Newsletter(month=month, subject=subject, preheader=preheader, html=html, text=text,
                          images=(*images, *pictures.values()), language=i18n.current_language(),
                          refused=tuple(dict.fromkeys(context.get("markdown_refused", ()))),
                          story=outline(context) if edition == "month" else None)

    def page(self, name: str, context: dict[str, Any]) -> str:
        """A page of the published site (`site/*.j2`), through the same theme lookup as the email."""
        return self._render(name, {**context, "theme": self.theme.settings()})

    def _locate(self, refused: MjmlRefused, source: str, name: str, context: dict[str, Any]) -> str:
        """The MJML error with the template file and line it comes from (mjml_errors.py)."""
        template = self._template(name)
        marking = self.theme.environment(MarkingEnvironment)
        return describe(refused, source, lambda: marking.get_template(name).render(context),
                        template.filename or name)

    def _template(self, name: str) -> jinja2.Template:
        try:
            return self.env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{where(exc.filename or exc.name or name)}:{exc.lineno}: {exc.message}") from None
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"{name}: template not found ({exc.name}) in {self.theme.folder}") from None

    def _render(self, name: str, context: dict[str, Any]) -> str:
        template = self._template(name)
        try:
            return template.render(context)
        except TemplateError:  # an included file the loader refused (loader.py): it names the one to edit
            raise
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{where(exc.filename or exc.name or name)}:{exc.lineno}: {exc.message}") from None
        except jinja2.TemplateNotFound as exc:  # an {% include %} or {% import %} of a file that is not there
            raise TemplateError(f"{_template_frame(exc, template)}: no template {exc.name!r} in the theme's folder "
                                "or the built-in theme (a name is relative to the theme's folder)") from None
        except Exception as exc:  # a template mistake at render time: report the template line
            raise TemplateError(f"{_template_frame(exc, template)}: {exc}") from None


def _template_frame(exc: BaseException, template: jinja2.Template) -> str:
    """`file:line` of the innermost template frame in the traceback Jinja rewrote."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(".j2"):
            return f"{where(frame.filename)}:{frame.lineno}"
    return where(template.filename or template.name or "template")


def compile_mjml(source: str) -> str:
    """MJML to HTML; MjmlRefused (a TemplateError) with mrml's reason when it cannot. `fonts={}`: MRML
    otherwise adds a Google Fonts import for any font-family naming Roboto, Lato and the like, and every
    reader's mail client would fetch it on opening the email (remote CSS that tells a third party who
    opened it). A theme that wants a web font says so with <mj-font>, and the email checks report it.
    An <mj-...> that is no MJML element is refused before MRML passes it on as HTML."""
    import mjml

    refuse_unknown(source)
    try:
        return mjml.mjml2html(source, disable_comments=True, fonts={})
    except Exception as exc:  # mjml-python raises a plain error with MRML's message
        raise MjmlRefused(str(exc)) from None


_FIELDS = re.compile(r"\[\[.*?\]\]|\[%.*?%\]|\[#.*?#\]", re.DOTALL)


def _shown(month: str, line: str) -> str:
    """The subject or preheader as the HTML's <title> and preview text show it to everyone: its
    per-person fields filled in for nobody in particular, or left out where they cannot be."""
    if "[" not in line:
        return line
    try:
        return for_everyone(Newsletter(month, line, "", "", "")).subject
    except TemplateError:
        return " ".join(_FIELDS.sub("", line).split())
