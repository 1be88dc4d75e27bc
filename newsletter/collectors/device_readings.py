"""Managed devices as counts: one day's reading of a fleet, and a month's DeviceStats from its daily
readings. Pure functions, no HTTP: intune feeds them, and so can any device-management collector.

A reading holds counts only (managed, compliant, patched, per operating system): never a device's
name, user or id, because it is kept in the workspace's store for as long as the months' history.

"Fully patched" (docs/sources/devices.md, "How intune counts"): no management API says which update
a device is missing, so the yardstick is the fleet itself. A device is patched when it runs the
newest version any device of its release line runs, and it checked in within `patch_days` days
(a device silent for longer may have fallen behind unseen). The release lines:
- Windows: the build (10.0.22631 for 10.0.22631.4460): a fully patched Windows 10 is not
  measured against Windows 11;
- macOS, iOS, iPadOS: the major version (14 for 14.6.1), the rest compared;
- Android: one line, compared by the security patch level (2026-10-05).
Other systems (Linux, ChromeOS, unknown) carry no comparable patch state: unknown, so the fleet's
patched count is unknown too when it has any of them, or a device without a readable version.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from newsletter.results import DeviceGroup, DeviceStats

WINDOWS, APPLE, ANDROID = ("windows",), ("macos", "ios", "ipados"), ("android",)
COMPLIANT = "compliant"
OS_NAME_CHARS = 40  # a system's name as a table shows it: Graph's are short, a longer one is cut


@dataclass(frozen=True)
class OsCount:
    managed: int
    compliant: int
    patched: int | None  # None: this system's patch state cannot be judged


@dataclass(frozen=True)
class DeviceReading:
    """One moment's counts of a fleet: the whole, and per operating system."""

    by_os: Mapping[str, OsCount]

    @property
    def managed(self) -> int:
        return sum(group.managed for group in self.by_os.values())

    @property
    def compliant(self) -> int:
        return sum(group.compliant for group in self.by_os.values())

    @property
    def patched(self) -> int | None:
        counts = [group.patched for group in self.by_os.values()]
        return None if any(count is None for count in counts) else sum(counts)  # type: ignore[misc]

    def as_json(self) -> dict[str, Any]:
        """What a daily snapshot stores: counts per system, an unknown patched count as null (never 0)."""
        return {"by_os": {name: {"managed": group.managed, "compliant": group.compliant, "patched": group.patched}
                          for name, group in self.by_os.items()}}

    @classmethod
    def from_json(cls, reading: Mapping[str, Any]) -> DeviceReading:
        """The reading `as_json` stored; ValueError when it is not one."""
        groups = reading.get("by_os") if isinstance(reading, Mapping) else None
        if not isinstance(groups, Mapping):
            raise ValueError("no by_os table")
        try:
            return cls({str(name): OsCount(_whole(g["managed"]), _whole(g["compliant"]),
                                           None if g.get("patched") is None else _whole(g["patched"]))
                        for name, g in groups.items()})
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"a system without its counts ({exc})") from None


def read_devices(devices: Iterable[Mapping[str, Any]], now: datetime, patch_days: int) -> DeviceReading:
    """The reading of a device list in Graph's managedDevice shape (operatingSystem, complianceState,
    osVersion, androidSecurityPatchLevel, lastSyncDateTime), as of `now`."""
    rows = [_device(row) for row in devices]
    newest: dict[tuple[str, tuple[int, ...]], tuple[int, ...]] = {}
    for os_name, _, line, version, _ in rows:
        if line is not None and version is not None:
            key = (os_name, line)
            newest[key] = max(newest.get(key, version), version)
    fresh_from = now - timedelta(days=patch_days)
    tally: dict[str, list[Any]] = {}
    for os_name, compliant, line, version, synced in rows:
        counts = tally.setdefault(os_name, [0, 0, 0])
        counts[0] += 1
        counts[1] += compliant
        if line is None or version is None or counts[2] is None:
            counts[2] = None  # one device whose patch state is unknowable leaves its system's count unknown
        elif version == newest[(os_name, line)] and synced is not None and synced >= fresh_from:
            counts[2] += 1
    return DeviceReading({name: OsCount(*counts) for name, counts in sorted(tally.items())})


def _device(row: Mapping[str, Any]) -> tuple[str, bool, tuple[int, ...] | None, tuple[int, ...] | None,
                                              datetime | None]:
    """(system, compliant, release line, version within it, last sync) of one managedDevice."""
    os_name = str(row.get("operatingSystem") or "").strip()[:OS_NAME_CHARS] or "Unknown"
    family = os_name.lower()
    if family in ANDROID:
        parts = _numbers(row.get("androidSecurityPatchLevel"))
        line: tuple[int, ...] | None = () if parts else None
    else:
        parts = _numbers(row.get("osVersion"))
        cut = 3 if family in WINDOWS else 1 if family in APPLE else None
        line = parts[:cut] if cut is not None and len(parts) > cut else None
    return (os_name, str(row.get("complianceState") or "").strip().lower() == COMPLIANT, line,
            parts + (0,) * (6 - len(parts)) if line is not None else None, _moment(row.get("lastSyncDateTime")))


def _numbers(value: Any) -> tuple[int, ...]:
    """The leading version: 10.0.22631.4460 -> (10, 0, 22631, 4460), '14.7 (23H124)' -> (14, 7),
    2026-10-05 -> (2026, 10, 5); nothing readable -> (), a part of over 12 digits included (no version
    has one, and Python refuses to read thousands of them)."""
    match = re.match(r"\s*(\d+(?:[.-]\d+)*)", str(value or ""))
    parts = re.split(r"[.-]", match[1]) if match else []
    return () if any(len(part) > 12 for part in parts) else tuple(int(part) for part in parts)[:6]


def _moment(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None and moment.year > 1 else None  # 0001-01-01: never synced


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"a count of {value!r}")
    return value


def device_stats(readings: Sequence[tuple[date, DeviceReading]], patch_days: int, *, partial: bool = False,
                 warnings: Sequence[str] = (), covered_days: int | None = None) -> DeviceStats:
    """A month's DeviceStats from its daily readings (oldest first): the figures of the last day
    (`as_of`), and the managed and compliant counts of the first day as the month's start. With no
    reading at all every figure is unknown. `partial`, `warnings` and `covered_days` are the daily
    mechanism's word on the days that are missing."""
    if not readings:
        return DeviceStats(patch_days=patch_days, partial=True, warnings=tuple(warnings),
                           covered_days=covered_days or 0)
    (_, first), (last_day, last) = readings[0], readings[-1]
    groups = sorted(last.by_os.items(), key=lambda item: (-item[1].managed, item[0]))
    return DeviceStats(managed=last.managed, compliant=last.compliant, patched=last.patched, patch_days=patch_days,
                       managed_month_start=first.managed, compliant_month_start=first.compliant,
                       as_of=last_day.isoformat(),
                       by_os=tuple(DeviceGroup(name, g.managed, g.compliant, g.patched) for name, g in groups),
                       partial=partial, warnings=tuple(warnings), covered_days=covered_days)
