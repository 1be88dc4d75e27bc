"""Where MJML refused a rendered document: the template file and line, and the value when one was to blame.

mrml (through mjml-python) says what it refused and sometimes where ("at position 921:931",
bytes into the document). When it does not, the spot is found from the outside: a beginning
of the document that ends before the fault only lacks its end ("unexpected end of stream"),
one that holds the fault fails as the whole does, so halving finds the first failing piece.

The template line comes from rendering once more with templates compiled by
`MarkingCodeGenerator`, which puts a marker before every piece of output naming its template
file, its line and whether it is the template's own text or a printed value. Taking the markers
out must give back exactly the document MJML refused; if it does not (a theme that measures its
own output, say), the error names the template file without a line. Only a failed compile pays
for any of this.
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import SandboxedEnvironment

from newsletter.compose.formatting import where
from newsletter.errors import TemplateError

# Private-use characters: printable, so the cleaning of printed values (printable.py) keeps them.
_OPEN, _SEP, _CLOSE = "\ue000", "\ue001", "\ue002"
_MARKER = re.compile(f"{_OPEN}([sv])(\\d+){_SEP}([^{_CLOSE}]*){_CLOSE}")
_POSITION = re.compile(r"at position (\d+):(\d+)")
_END_OF_STREAM = "end of stream"
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_TAG = re.compile(r"""<(/?)([a-zA-Z][\w:.-]*)((?:"[^"]*"|'[^']*'|[^'">])*)>""")
# HTML's elements without a closing tag, as mrml knows them
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                   "track", "wbr"})
SNIPPET = 60
# MJML's elements: mrml passes any other <mj-...> in the body through as HTML, so a misspelt one
# (<mj-colum>) would compile and lose or misplace its content in the email
ELEMENTS = ("mjml", "mj-head", "mj-body", "mj-attributes", "mj-all", "mj-class", "mj-breakpoint", "mj-font",
            "mj-preview", "mj-style", "mj-title", "mj-include", "mj-accordion", "mj-accordion-element",
            "mj-accordion-title", "mj-accordion-text", "mj-button", "mj-carousel", "mj-carousel-image", "mj-column",
            "mj-divider", "mj-group", "mj-hero", "mj-image", "mj-navbar", "mj-navbar-link", "mj-raw", "mj-section",
            "mj-social", "mj-social-element", "mj-spacer", "mj-table", "mj-text", "mj-wrapper")
_ELEMENT = re.compile(r"</?(mj-[\w-]*)")


class MjmlRefused(TemplateError):
    """MJML could not compile a document; `reason` is mrml's own message."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"MJML could not be compiled: {reason}")
        self.reason = reason

    def said(self, located: bool) -> str:
        """The complaint in our words: mrml's 'root template' is the whole document, and its byte
        position means nothing to a person once the template line is known."""
        reason = self.reason.replace(" in root template", "")
        if located:
            reason = _POSITION.sub("", reason).rstrip()
        if _END_OF_STREAM in reason:
            reason += " (an element is left open: each <mj-...> and HTML tag needs its closing tag)"
        return f"MJML could not be compiled: {reason}"


class MarkingCodeGenerator(CodeGenerator):
    """Compiles templates whose output carries a marker before each piece (see the module's docstring).
    Output captured into a variable (`{% set %}` blocks, macros) stays unmarked."""

    def visit_Output(self, node: nodes.Output, frame: Frame) -> None:
        if frame.buffer is not None:
            return super().visit_Output(node, frame)
        marked: list[nodes.Expr] = []
        for child in node.nodes:
            kind = "s" if isinstance(child, nodes.TemplateData) else "v"
            marked += [nodes.TemplateData(f"{_OPEN}{kind}{child.lineno}{_SEP}{self.filename or self.name}{_CLOSE}",
                                          lineno=child.lineno), child]
        return super().visit_Output(nodes.Output(marked, lineno=node.lineno), frame)


class MarkingEnvironment(SandboxedEnvironment):
    code_generator_class = MarkingCodeGenerator


@dataclass(frozen=True)
class _Piece:
    start: int  # where it begins in the document
    value: bool  # a printed value, not the template's own text
    line: int
    filename: str


def refuse_unknown(source: str) -> None:
    """MjmlRefused for the first <mj-...> or </mj-...> that is no MJML element, with the nearest one that is
    (MRML would read a misspelt closing tag as text, and the rest of the email with it)."""
    text = _COMMENT.sub(lambda comment: " " * len(comment[0]), source)
    for match in _ELEMENT.finditer(text):
        if match[1] not in ELEMENTS:
            near = difflib.get_close_matches(match[1], ELEMENTS, n=1, cutoff=0.6)
            start = len(source[:match.start()].encode("utf-8"))
            raise MjmlRefused(f"unknown element <{match[1]}>" + (f" (did you mean <{near[0]}>?)" if near else "")
                              + f" at position {start}:{start + len(match[0].encode('utf-8'))}")


def describe(refused: MjmlRefused, source: str, render_marked: Callable[[], str], template_file: str) -> str:
    """`file:line: MJML could not be compiled: ...` for the document `source`, as precisely as can be
    told; `render_marked` renders it again with a MarkingEnvironment."""
    offset = error_offset(refused.reason, source, _compiles_up_to)
    pieces = _pieces(source, render_marked) if offset is not None else None
    index = bisect.bisect_right([p.start for p in pieces], offset) - 1 if pieces and offset is not None else -1
    if index < 0 or offset is None or pieces is None:
        return f"{where(template_file)}: {refused.said(located=False)}"
    piece = pieces[index]
    if piece.value:
        end = pieces[index + 1].start if index + 1 < len(pieces) else len(source)
        return (f"{where(piece.filename)}:{piece.line}: {refused.said(located=True)}, in the value printed there: "
                f"{_snippet(source[piece.start:end])}")
    line = piece.line + source.count("\n", piece.start, offset)
    start, end = source.rfind("\n", 0, offset) + 1, source.find("\n", offset)
    cut = max(start, offset - SNIPPET // 2)  # a long line: shown from a little before the fault
    near = _snippet(("…" if cut > start else "") + source[cut:end if end >= 0 else None])
    return f"{where(piece.filename)}:{line}: {refused.said(located=True)}, near {near}"


def error_offset(reason: str, source: str, compiles: Callable[[str], str | None]) -> int | None:
    """Where in `source` (a character offset) MJML stopped; None when it cannot be told (an element
    left open fails only at the very end). `compiles` returns mrml's complaint, None for none."""
    position = _POSITION.search(reason)
    if position:
        offset = len(source.encode("utf-8")[:int(position[1])].decode("utf-8", "ignore"))
        # a closing tag that closes nothing ends its parents early: mrml stops only at what follows them
        unbalanced = _unbalanced(source[:offset])
        return offset if unbalanced is None else unbalanced
    if _END_OF_STREAM in reason:
        return _unbalanced(source)

    def fails_before(end: int) -> bool:
        complaint = compiles(source[:end])
        return complaint is not None and _END_OF_STREAM not in complaint

    tags = [match.start() for match in re.finditer("<", source)] + [len(source)]
    first = _first(0, len(tags) - 1, lambda k: fails_before(tags[k]))  # the piece after tags[first - 1] fails
    low, high = (tags[first - 1] if first else 0), tags[first]
    return max(low, _first(low, high, fails_before) - 1)


def _unbalanced(source: str) -> int | None:
    """Where the first closing tag that does not close the innermost open element begins, or that
    element when the closing tag is of one further out (it was left open); None when each one does."""
    text = _COMMENT.sub(lambda comment: " " * len(comment[0]), source)
    open_tags: list[tuple[str, int]] = []
    for match in _TAG.finditer(text):
        name = match[2].lower()
        if not match[1]:
            if not match[3].rstrip().endswith("/") and match[2] not in _VOID:
                open_tags.append((name, match.start()))
        elif open_tags and open_tags[-1][0] == name:
            open_tags.pop()
        else:
            return open_tags[-1][1] if any(tag == name for tag, _ in open_tags) else match.start()
    return None


def _first(low: int, high: int, holds: Callable[[int], bool]) -> int:
    """The smallest k in [low, high] for which `holds` (monotonic, true at `high`) is true."""
    while low < high:
        middle = (low + high) // 2
        if holds(middle):
            high = middle
        else:
            low = middle + 1
    return low


def _compiles_up_to(document: str) -> str | None:
    import mjml

    try:
        mjml.mjml2html(document, disable_comments=True)
    except Exception as exc:  # mjml-python raises a plain error with mrml's message
        return str(exc)
    return None


def _pieces(source: str, render_marked: Callable[[], str]) -> list[_Piece] | None:
    try:
        marked = render_marked()
    except Exception:  # the marked render is a best effort; the error then names the file only
        return None
    pieces, text, taken = [], [], 0
    for match in _MARKER.finditer(marked):
        text.append(marked[taken:match.start()])
        taken = match.end()
        pieces.append(_Piece(sum(map(len, text)), match[1] == "v", int(match[2]), match[3]))
    text.append(marked[taken:])
    return pieces if "".join(text) == source else None


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= SNIPPET else text[:SNIPPET - 1] + "…")
