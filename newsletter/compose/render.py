"""Render the newsletter: Jinja (sandboxed, autoescaped, strict) -> MJML -> HTML, plus its own text part.

Template lookup (a ChoiceLoader): the workspace's `templates/<theme>/` first, then the built-in
default theme. `default:NAME` always means the built-in file, so a branded template can
`{% extends "default:newsletter.mjml.j2" %}` and override one block.
"""

from __future__ import annotations

import hashlib
import tomllib
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from newsletter.compose import formatting
from newsletter.delivery.personal import neutralize
from newsletter.errors import ConfigError, TemplateError
from newsletter.resources import builtin_theme

HTML_TEMPLATE = "newsletter.mjml.j2"
TEXT_TEMPLATE = "newsletter.txt.j2"
SUBJECT_TEMPLATE = "subject.txt.j2"
PREHEADER_TEMPLATE = "preheader.txt.j2"
THEME_FILE = "theme.toml"


@dataclass(frozen=True)
class InlineImage:
    cid: str
    data: bytes
    subtype: str = "png"
    filename: str = "image.png"


@dataclass(frozen=True)
class Newsletter:
    """One composed edition, ready for any transport."""

    month: str
    subject: str
    preheader: str
    html: str
    text: str
    images: tuple[InlineImage, ...] = field(default=())

    @property
    def content_hash(self) -> str:
        """What exactly would be sent: subject, both parts and every image."""
        digest = hashlib.sha256()
        for part in (self.subject, self.html, self.text):
            digest.update(part.encode("utf-8") + b"\0")
        for image in self.images:
            digest.update(image.cid.encode() + b"\0" + image.data)
        return digest.hexdigest()


class Theme:
    """A theme folder: templates plus theme.toml, falling back to the built-in default theme."""

    def __init__(self, templates_root: Path, name: str) -> None:
        self.name = name
        self.builtin = builtin_theme()
        own = templates_root / name
        if not own.is_dir() and name != "default":
            raise ConfigError(f"newsletter.theme: no theme {name!r} in {templates_root}")
        self.folder = own if own.is_dir() else self.builtin

    def settings(self) -> dict[str, Any]:
        """Built-in theme.toml, overlaid by the workspace theme's own."""
        merged = _read_theme_toml(self.builtin / THEME_FILE)
        if self.folder != self.builtin and (self.folder / THEME_FILE).is_file():
            _deep_merge(merged, _read_theme_toml(self.folder / THEME_FILE))
        return merged

    def environment(self) -> SandboxedEnvironment:
        builtin = jinja2.FileSystemLoader(self.builtin)
        loaders: list[jinja2.BaseLoader] = [jinja2.PrefixLoader({"default": builtin}, delimiter=":")]
        if self.folder != self.builtin:
            loaders.insert(0, jinja2.FileSystemLoader(self.folder))
        loaders.append(builtin)
        env = SandboxedEnvironment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=lambda name: not (name or "").endswith(".txt.j2"),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            finalize=neutralize,  # per-person fields ([[ ... ]]) come only from the templates themselves
        )
        env.filters.update(number=formatting.number, percent=formatting.percent, duration=formatting.duration)
        return env


def _read_theme_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read theme settings ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> None:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value


class Renderer:
    def __init__(self, theme: Theme) -> None:
        self.theme = theme
        self.env = theme.environment()

    def check(self) -> None:
        """Load (parse) every template the newsletter needs; raise TemplateError on the first bad one."""
        for name in (HTML_TEMPLATE, TEXT_TEMPLATE, SUBJECT_TEMPLATE, PREHEADER_TEMPLATE):
            self._template(name)

    def render(self, month: str, context: dict[str, Any]) -> Newsletter:
        context = {**context, "theme": self.theme.settings()}
        subject = " ".join(self._render(SUBJECT_TEMPLATE, context).split())
        preheader = " ".join(self._render(PREHEADER_TEMPLATE, context).split())
        context.update(subject=subject, preheader=preheader)
        mjml_source = self._render(HTML_TEMPLATE, context)
        html = compile_mjml(mjml_source)
        text = self._render(TEXT_TEMPLATE, context)
        return Newsletter(month=month, subject=subject, preheader=preheader, html=html, text=text)

    def _template(self, name: str) -> jinja2.Template:
        try:
            return self.env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{_where(exc.filename or exc.name or name)}:{exc.lineno}: {exc.message}") from None
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"{name}: template not found ({exc.name}) in {self.theme.folder}") from None

    def _render(self, name: str, context: dict[str, Any]) -> str:
        template = self._template(name)
        try:
            return template.render(context)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{_where(exc.filename or exc.name or name)}:{exc.lineno}: {exc.message}") from None
        except Exception as exc:  # a template mistake at render time: report the template line
            raise TemplateError(f"{_template_frame(exc, template)}: {exc}") from None


def _where(filename: str) -> str:
    path = Path(filename)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _template_frame(exc: BaseException, template: jinja2.Template) -> str:
    """`file:line` of the innermost template frame in the traceback Jinja rewrote."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(".j2"):
            return f"{_where(frame.filename)}:{frame.lineno}"
    return _where(template.filename or template.name or "template")


def compile_mjml(source: str) -> str:
    import mjml

    try:
        return mjml.mjml2html(source, disable_comments=True)
    except Exception as exc:  # mjml-python raises a plain error with MRML's message
        raise TemplateError(f"{HTML_TEMPLATE}: MJML could not be compiled: {exc}") from None
