"""rspamd: the controller's `/stat` counters, turned into a month by snapshots.

rspamd's counters are cumulative since its last reset, so every collection, `newsletter snapshot`
and the daily `run` save a snapshot of them in the store (collect.take_snapshots), and a month is
the difference between the snapshot at (or just before) its start and the one at (or just after)
its end. A counter that went down means rspamd lost its
counters in between (a crash, `rspamc stat_reset`, a new server); the count after the reset is
added and the result says so. A month without a snapshot near its start (the first month after
setting it up) is counted from its first snapshot in the month, and the result says how many
days that covers; a month without any is refused, not guessed.

Actions map to metrics (docs/sources/mail-security.md, "rspamd"): reject and discard are blocked;
add header, rewrite subject, soft reject and quarantine are spam; greylist and no action are neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from newsletter.binding import Secret
from newsletter.collectors.common import HttpSource, HttpSourceSettings, check_range, whole_count
from newsletter.errors import ConfigError, SourceError
from newsletter.period import Month
from newsletter.results import MailStats
from newsletter.snapshots import save_reading

DEFAULT_ACTIONS = {
    "reject": "blocked", "discard": "blocked",
    "add header": "spam", "rewrite subject": "spam", "soft reject": "spam", "quarantine": "spam",
    "greylist": "ignore", "no action": "ignore",
}
CATEGORIES = ("blocked", "spam", "ignore")
SLACK = timedelta(minutes=15)  # a snapshot this close after a month starts still counts as its start


@dataclass(frozen=True, kw_only=True)
class RspamdSettings(HttpSourceSettings):
    base_url: str = "http://127.0.0.1:11334"
    password: Secret | None = None  # the controller password; loopback is trusted without one
    actions: dict[str, str] = field(default_factory=dict)  # overrides of DEFAULT_ACTIONS
    max_gap_h: float = 24.0  # how far from a month's boundary a snapshot may be


@dataclass(frozen=True)
class Window:
    """The counter difference over [start, end] and what went on in between."""

    start: datetime
    end: datetime
    counts: dict[str, int]
    resets: list[tuple[datetime, datetime]]  # (last snapshot before, first after) each reset
    late_start: bool = False  # no snapshot near the month's start: counted from its first one in the month


class Rspamd(HttpSource):
    """rspamd controller counters; needs `newsletter collect` near each month's boundaries."""

    type = "rspamd"
    kind = "mail_security"
    vendor = "rspamd"
    Settings = RspamdSettings
    needs_snapshots = True  # the daily run keeps counters near every month's edges, not only at collect

    def validate(self) -> None:
        super().validate()
        check_range(self.name, "max_gap_h", self.settings.max_gap_h, 0, 24 * 14)
        for action, category in self.settings.actions.items():
            if category not in CATEGORIES:
                raise ConfigError(f"source {self.name}: actions.{action}: expected one of "
                                  f"{', '.join(CATEGORIES)}, got {category!r}")

    def collect(self, month: Month) -> MailStats:
        if self.state is None:
            raise SourceError("rspamd needs the workspace store to keep its counter snapshots")
        now = self.clock()
        try:  # rspamd down now: the snapshots the daily run stored may still hold the whole month
            save_reading(self, self.state, now, self.take_snapshot())
            unread = None
        except SourceError as exc:
            unread = exc
        gap = timedelta(hours=self.settings.max_gap_h)
        if now < month.end:
            raise unread or SourceError(f"{month} has not ended yet: rspamd counters are cumulative, so the month "
                                        "is counted from a snapshot taken after it ends (collect it next month)")
        start, end = month.start.astimezone(UTC), month.end.astimezone(UTC)  # elapsed time, across DST too
        try:
            window = difference(self.state.snapshots(self.name, start - gap, end + gap), month, gap)
        except SourceError:
            if unread is not None:
                raise unread from None
            raise
        result = self.stats(window, month)
        if unread is None or now > month.end + gap:  # a reading now would not have been the month's end
            return result
        return replace(result, warnings=(*result.warnings, f"rspamd could not be read now ({unread}): counted from "
                                                           "the snapshots stored"))

    def take_snapshot(self) -> dict[str, int]:
        """The counters now (`newsletter snapshot`, the daily run): the same as collect() saves."""
        return self.read_counters()

    def read_counters(self) -> dict[str, int]:
        headers = {}
        if self.settings.password is not None:
            headers["Password"] = self.settings.password.reveal()
        client = self.http_client(credential_hint=self._hint(), headers=headers, secrets=tuple(headers.values()))
        return parse_stat(client.get_json("/stat"))

    def _hint(self) -> str:
        password = self.settings.password
        return f"the controller password ({password.hint})" if password else "the controller's secure_ip"

    def stats(self, window: Window, month: Month) -> MailStats:
        mapping = {**DEFAULT_ACTIONS, **self.settings.actions}
        totals = dict.fromkeys(CATEGORIES, 0)
        unmapped = []
        for key, count in window.counts.items():
            if key.startswith("action:"):
                action = key.removeprefix("action:")
                category = mapping.get(action)
                if category is None:  # an action this rspamd has that we do not know: count it nowhere
                    unmapped.append(action)
                    category = "ignore"
                totals[category] += count
        warnings = [f"rspamd's counters were reset between {_at(before, month)} and {_at(after, month)}; mail scanned "
                    "in that span before the reset is not counted" for before, after in window.resets]
        inexact, days = False, None
        if window.late_start:
            days = int((min(window.end, month.end) - window.start).total_seconds() // 86400)
            warnings.append(f"no rspamd counter snapshot within {self.settings.max_gap_h:g} h before {month} began: "
                            f"counted from the first one in it, {_at(window.start, month)}, so these numbers cover "
                            f"{days} of its {month.days} days; schedule 'newsletter collect' at 00:00 on the 1st "
                            "(docs/sources/mail-security.md, rspamd)")
        edges = [("began", month.start, window.start)] if not window.late_start else []
        for label, edge, moment in [*edges, ("ended", month.end, window.end)]:
            off = abs((moment - edge).total_seconds())
            if off > 3600:
                inexact = True
                warnings.append(f"counted from snapshots up to {off / 3600:.0f} h away from when the month {label} "
                                f"({_at(moment, month)}); collect at 00:00 on the 1st for exact months")
        if unmapped:
            warnings.append("actions not mapped (set them under [actions]): " + ", ".join(sorted(unmapped)))
        return MailStats(scanned=window.counts.get("scanned"), spam=totals["spam"], phishing=None, malware=None,
                         blocked_total=totals["spam"] + totals["blocked"], rejected=totals["blocked"],
                         partial=bool(window.resets) or inexact or window.late_start, warnings=tuple(warnings),
                         covered_days=days,
                         extra={"window_start": window.start.astimezone(month.tz).isoformat(),
                                "window_end": window.end.astimezone(month.tz).isoformat()})


def parse_stat(data: Any) -> dict[str, int]:
    """`scanned` plus `action:<name>` for every action in /stat's `actions` (numbers may be strings)."""
    if not isinstance(data, dict) or not isinstance(data.get("actions"), dict) or "scanned" not in data:
        raise SourceError("rspamd's /stat answer has no 'scanned' and 'actions'; check base_url points at "
                          "the controller (port 11334)")
    counters = {"scanned": _count("scanned", data["scanned"])}
    counters.update({f"action:{name}": _count(str(name), count) for name, count in data["actions"].items()})
    return counters


def _count(name: str, value: Any) -> int:
    """A counter as /stat sends it (a number, or a string of one): whole and not negative. A reset
    makes counters smaller, never negative; 12.5, NaN or an infinity is no count to cut to a whole one."""
    count = whole_count(value)
    if count is None:
        raise SourceError(f"rspamd's /stat has {name[:40]} = {str(value)[:40]}, not a whole number of messages")
    return count


def difference(snapshots: list[tuple[datetime, dict[str, int]]], month: Month, gap: timedelta) -> Window:
    """Sum of counter increases from the snapshot at the month's start to the one at its end.

    The start snapshot is the one closest to the start among those up to `gap` before it (or up to
    SLACK after it, so a cron job at 00:00 on the 1st serves); the end snapshot likewise. Without a
    start snapshot, the first one inside the month starts the window (`late_start`).
    """
    start, end = month.start.astimezone(UTC), month.end.astimezone(UTC)  # elapsed time, across DST too
    first = _closest([s for s in snapshots if start - gap <= s[0] <= start + SLACK], start)
    last = _closest([s for s in snapshots if end - SLACK <= s[0] <= end + gap], end)
    hours = f"{gap.total_seconds() / 3600:g} h"
    inside = [s for s in snapshots if start + SLACK < s[0] < end - SLACK]
    late_start = first is None and bool(inside) and last is not None
    if late_start:
        first = inside[0]
    if first is None:
        later = min((s[0] for s in snapshots if s[0] > month.start), default=None)
        raise SourceError(
            f"no rspamd counter snapshot within {hours} before {month} began ({_at(month.start, month)}"
            + (f"; the first one after it is from {_at(later, month)}" if later else "")
            + "), so the month cannot be counted: rspamd's counters are cumulative and a snapshot is saved at "
            "every 'newsletter collect'; schedule it at 00:00 on the 1st "
            "(docs/sources/mail-security.md, rspamd)")
    if last is None:
        raise SourceError(f"no rspamd counter snapshot within {hours} after {month} ended "
                          f"({_at(month.end, month)}); collect each month right after it ends "
                          "(docs/sources/mail-security.md, rspamd)")
    span = [s for s in snapshots if first[0] <= s[0] <= last[0]]
    counts: dict[str, int] = dict.fromkeys(last[1], 0)
    resets = []
    for (was_at, old), (now_at, new) in pairwise(span):
        # counters fall only when rspamd restarts; an action gone from /stat (its config changed) is no fall
        reset = any(key in new and new[key] < value for key, value in old.items())
        if reset:
            resets.append((was_at, now_at))
        for key, value in new.items():
            counts[key] = counts.get(key, 0) + (value if reset else value - old.get(key, 0))
    return Window(first[0], last[0], counts, resets, late_start)


def _closest(snapshots: list[tuple[datetime, dict[str, int]]], moment: datetime):
    return min(snapshots, key=lambda s: abs((s[0] - moment).total_seconds()), default=None)


def _at(moment: datetime, month: Month) -> str:
    """A moment as people of the configured zone read it."""
    return moment.astimezone(month.tz).strftime("%Y-%m-%d %H:%M %Z")
