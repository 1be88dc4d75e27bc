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
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from newsletter.errors import TemplateError

if TYPE_CHECKING:  # render.py imports `neutralize` from here
    from newsletter.compose.render import Newsletter

SYNTAX = {"variable_start_string": "[[", "variable_end_string": "]]", "block_start_string": "[%",
          "block_end_string": "%]", "comment_start_string": "[#", "comment_end_string": "#]"}
_OPENERS = ("[[", "[%", "[#")
_BREAK = "[\u200b"  # a zero-width space between the brackets: looks the same, is not syntax


def neutralize(value: Any) -> Any:
    """First-pass `finalize`: a printed value never opens a per-person field."""
    if isinstance(value, str) and any(o in value for o in _OPENERS):
        cleaned = str(value)
        for opener in _OPENERS:
            cleaned = cleaned.replace(opener, _BREAK + opener[1])
        return Markup(cleaned) if isinstance(value, Markup) else cleaned
    return value


def is_personal(newsletter: Newsletter) -> bool:
    parts = (newsletter.subject, newsletter.html, newsletter.text)
    return any(opener in part for part in parts for opener in _OPENERS)


class Personalizer:
    """The edition's three parts compiled once as templates; `for_recipient()` per person."""

    def __init__(self, newsletter: Newsletter) -> None:
        self.newsletter = newsletter
        self.personal = is_personal(newsletter)
        if not self.personal:
            return
        html_env = SandboxedEnvironment(autoescape=True, undefined=jinja2.StrictUndefined, **SYNTAX)
        text_env = SandboxedEnvironment(autoescape=False, undefined=jinja2.StrictUndefined,
                                        keep_trailing_newline=True, **SYNTAX)
        self._templates = {
            "subject": _compile(text_env, newsletter.subject, "subject"),
            "html": _compile(html_env, newsletter.html, "HTML part"),
            "text": _compile(text_env, newsletter.text, "text part"),
        }

    def for_recipient(self, recipient: dict[str, str]) -> Newsletter:
        if not self.personal:
            return self.newsletter
        parts = {}
        for name, template in self._templates.items():
            try:
                parts[name] = template.render(recipient=recipient)
            except jinja2.TemplateError as exc:
                raise TemplateError(f"per-person field in the {name}: {exc.message}; the recipients' columns "
                                    f"are: {', '.join(sorted(recipient))}") from None
        parts["subject"] = " ".join(parts["subject"].split())
        return dataclasses.replace(self.newsletter, **parts)


def _compile(env: SandboxedEnvironment, source: str, what: str) -> jinja2.Template:
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"per-person field in the {what}, line {exc.lineno}: {exc.message}") from None
