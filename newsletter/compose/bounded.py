"""What one template may print: a loop that runs away (nested loops over a range, say) is stopped
with its template line instead of filling memory for hours.

Jinja joins a template's, a block's and a macro's output with the environment's `concat`; this one
counts as it goes and, past MAX_PRINTED, raises inside the template's own code while it is still
printing, so Jinja's traceback names the line.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable

MAX_PRINTED = 5_000_000  # characters: fifty times what Gmail shows before it clips


class PrintedTooMuch(Exception):
    def __init__(self) -> None:
        super().__init__(f"printed more than {MAX_PRINTED:,} characters, far more than an email holds (Gmail "
                         "clips it at 102 KB): a loop here runs too often")


def bounded_concat(chunks: Iterable[str]) -> str:
    """`"".join(chunks)`, or PrintedTooMuch once they pass MAX_PRINTED."""
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size > MAX_PRINTED:
            if isinstance(chunks, Generator):
                chunks.throw(PrintedTooMuch())
            raise PrintedTooMuch()
    return "".join(parts)
