"""What the uptime collectors share: choosing and naming services, and reading their numbers.

People read "Email", not "https://mx1.corp.example:443": every uptime source takes `include`,
`exclude` (glob patterns matched against a monitor's id, name and URL) and `rename` (a table
from any of those to the name the newsletter shows).
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from newsletter.results import ServiceUptime


@dataclass(frozen=True, kw_only=True)
class ServiceSelection:
    """Mixed into an uptime collector's Settings: `include`, `exclude`, `rename`."""

    include: list[str] = field(default_factory=list)  # empty: every monitor
    exclude: list[str] = field(default_factory=list)
    rename: dict[str, str] = field(default_factory=dict)

    def display_name(self, keys: Iterable[object]) -> str | None:
        """The name to show for a monitor known by `keys` (id, name, URL...), or None to leave it out.

        The first key is the fallback name.
        """
        names = [str(k) for k in keys if k not in (None, "")]
        if not names:
            return None
        if self.include and not any(_matches(n, self.include) for n in names):
            return None
        if any(_matches(n, self.exclude) for n in names):
            return None
        for name in names:
            if name in self.rename:
                return self.rename[name]
        return names[0]


def _matches(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def unmonitored(name: str, status: str) -> ServiceUptime:
    """A service with no figures for the month and the reason: paused is not 100% and not 0%."""
    return ServiceUptime(name, None, None, None, None, status=status)


def number(value: object, kind: type = float) -> float | int | None:
    """A vendor's number, whether sent as a number or as a string ("99.980", "60"); None otherwise,
    NaN and infinities included (JSON as Python reads it may hold them: they are no figure)."""
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(result):
        return None
    return int(result) if kind is int else result
