"""Per-person fields, filled in after MJML: a second, cheap Jinja pass over the compiled edition.

MJML is compiled once per edition. Templates write per-person fields with square brackets,
`[[ recipient.name or "colleague" ]]` (and `[% if %]` blocks), which the first pass leaves alone
and MJML passes through; this module compiles the finished subject, HTML and text once as
templates and renders them per person. The HTML pass autoescapes, the subject is folded to one
line afterwards. Collected text cannot smuggle in a `[[`: the first pass breaks up those pairs
in every value it prints (`neutralize`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from newsletter.compose.printable import printable_value
from newsletter.errors import TemplateError

if TYPE_CHECKING:  # render.py imports `neutralize` from here
    from newsletter.compose.render import Newsletter

SYNTAX = {"variable_start_string": "[[", "variable_end_string": "]]", "block_start_string": "[%",
          "block_end_string": "%]", "comment_start_string": "[#", "comment_end_string": "#]"}
_OPENERS = ("[[", "[%", "[#")
_BREAK = "[\u200b"  # a zero-width space between the brackets: looks the same, is not syntax
PARTS = {"subject": "subject", "html": "HTML part", "text": "text part"}  # as messages name them
Pieces = tuple[str, list[str], list[str]]  # a person's subject, text chunks and HTML chunks


class PlacedText(str):
    """A block's output printed by the layout (`{{ self[name]() | placed }}`): the template's own text,
    whose values were cleaned when the block printed them, so its [[ ... ]] are fields to fill in."""


class PlacedMarkup(Markup):
    """PlacedText for the HTML templates, where a block's output is Markup."""


def placed(output: str) -> str:
    """The `placed` filter: mark a block's output as the template's own (see PlacedText)."""
    return PlacedMarkup(output) if isinstance(output, Markup) else PlacedText(output)


def neutralize(value: Any) -> Any:
    """First-pass `finalize`: a printed value never opens a per-person field; a block's own output
    (PlacedText, PlacedMarkup) passes as it is."""
    if isinstance(value, PlacedText | PlacedMarkup):
        return value
    if isinstance(value, str) and any(o in value for o in _OPENERS):
        cleaned = str(value)
        for opener in _OPENERS:
            cleaned = cleaned.replace(opener, _BREAK + opener[1])
        return Markup(cleaned) if isinstance(value, Markup) else cleaned
    return value


def is_personal(newsletter: Newsletter) -> bool:
    parts = (newsletter.subject, newsletter.html, newsletter.text)
    return any(opener in part for part in parts for opener in _OPENERS)


class _Probe(dict):
    """A recipient whose every field is a new string: what stays identical between two renders is static."""

    def __missing__(self, key: str) -> str:
        return "".join(["probe-", key])


class _Everyone(dict):
    """The reader of a copy for everyone (the published site): every field of theirs empty, so
    `[[ recipient.name or "colleague" ]]` says "colleague" and a part for one department shows to none."""

    def __missing__(self, key: str) -> str:
        return ""


def for_everyone(newsletter: Newsletter) -> Newsletter:
    """The edition as anybody may read it, with every per-person field filled in for nobody in
    particular: the template's own [[ ]] and [% %] never reach a public page. TemplateError when a
    field cannot be filled in with empty values."""
    return Personalizer(newsletter).for_recipient(_Everyone())


class Personalizer:
    """The edition's three parts compiled once as templates, rendered per person as pieces.

    `pieces()` gives each part as the chunks Jinja yields: the template's own text comes back as
    the very same string objects every time (`is_static`), so the message builder encodes those
    once per edition and only the per-person values per person.
    """

    def __init__(self, newsletter: Newsletter) -> None:
        self.newsletter = newsletter
        self.personal = is_personal(newsletter)
        self._static: dict[int, str] = {id(part): part for part in (newsletter.html, newsletter.text)}
        self._parts: dict[str, _Part] = {}  # the parts with fields, compiled
        if not self.personal:
            return
        # a person's fields are cleaned like every other printed value (printable.py)
        html_env = SandboxedEnvironment(autoescape=True, undefined=jinja2.StrictUndefined, finalize=printable_value,
                                        **SYNTAX)
        text_env = SandboxedEnvironment(autoescape=False, undefined=jinja2.StrictUndefined, finalize=printable_value,
                                        keep_trailing_newline=True, **SYNTAX)
        parts = {"subject": (text_env, newsletter.subject), "html": (html_env, newsletter.html),
                 "text": (text_env, newsletter.text)}
        # a part without fields stays as it is
        parts = {name: part for name, part in parts.items() if any(o in part[1] for o in _OPENERS)}
        self._parts = {name: _Part(_compile(env, source, PARTS[name])) for name, (env, source) in parts.items()}
        for name in ("html", "text"):
            if name in self._parts:
                self._static.update(_static_chunks(self._parts[name].template))

    def is_static(self, chunk: str) -> bool:
        return self._static.get(id(chunk)) is chunk

    def pieces(self, recipient: dict[str, str]) -> Pieces:
        """Subject, text chunks and HTML chunks for one person."""
        if not self.personal:
            return self.newsletter.subject, [self.newsletter.text], [self.newsletter.html]
        news = self.newsletter
        subject = " ".join("".join(self._render("subject", recipient)).split()) if "subject" in self._parts \
            else news.subject
        text = self._render("text", recipient) if "text" in self._parts else [news.text]
        html = self._render("html", recipient) if "html" in self._parts else [news.html]
        return subject, text, html

    def _render(self, name: str, recipient: dict[str, str]) -> list[str]:
        try:
            return list(self._parts[name].chunks(recipient))
        except Exception as exc:  # a filter's own error too (int("x"), a division by zero): one person's
            raise TemplateError(f"{_failure(name, exc)}; the recipients' columns "
                                f"are: {', '.join(sorted(recipient))}") from None

    def filled(self, recipient: dict[str, str]) -> tuple[Pieces | None, str | None]:
        """`pieces()` and None, or None and why they cannot be filled in (`problem()`'s words); never
        raises. The check before a run uses it, so the builder can use what it already filled in."""
        try:
            return self.pieces(recipient), None
        except TemplateError:
            return None, self.problem(recipient)

    def problem(self, recipient: dict[str, str]) -> str | None:
        """Why this person's fields cannot be filled in, or None; never raises. Costs what filling
        them in costs (tens of microseconds: the template's own text comes back as it is), so
        every person can be checked before the first message goes out."""
        for name, part in self._parts.items():
            try:
                for _ in part.chunks(recipient):
                    pass
            except Exception as exc:
                return _failure(name, exc)
        return None

    def for_recipient(self, recipient: dict[str, str]) -> Newsletter:
        if not self.personal:
            return self.newsletter
        subject, text, html = self.pieces(recipient)
        return dataclasses.replace(self.newsletter, subject=subject, text="".join(text), html="".join(html))


class _Part:
    """One compiled part and its globals as a plain dict, copied once rather than per person."""

    def __init__(self, template: jinja2.Template) -> None:
        self.template, self.globals = template, dict(template.globals)

    def chunks(self, recipient: dict[str, str]) -> Iterator[str]:
        """What `template.generate(recipient=...)` yields, without merging the environment's
        globals (a ChainMap) into a new dict for every person, a third of the time a person's
        fields take: the context is Jinja's `shared` one, on a dict that holds the globals and
        the recipient, so every name resolves as it does in generate()."""
        template = self.template
        return template.root_render_func(template.new_context({**self.globals, "recipient": recipient}, shared=True))


def _static_chunks(template: jinja2.Template) -> dict[int, str]:
    """The chunks two renders with different values share (by identity): the template's own text.

    A template that fails on the probe's values (`[[ 100 // recipient.size|int ]]`) has none
    found: every chunk is then encoded per person, slower but the same message."""
    try:
        first = list(template.generate(recipient=_Probe()))
        again = {id(chunk): chunk for chunk in template.generate(recipient=_Probe())}
    except Exception:
        return {}
    return {id(c): c for c in first if again.get(id(c)) is c}


def _failure(name: str, exc: Exception) -> str:
    message = exc.message if isinstance(exc, jinja2.TemplateError) and exc.message else f"{type(exc).__name__}: {exc}"
    return f"per-person field in the {PARTS[name]}: {message}"


def _compile(env: SandboxedEnvironment, source: str, what: str) -> jinja2.Template:
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"per-person field in the {what}, line {exc.lineno}: {exc.message}") from None
