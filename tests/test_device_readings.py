"""A fleet's daily reading (counts by system: managed, compliant, fully patched) and a month's
DeviceStats from its daily readings, counted by hand."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from newsletter.collectors.device_readings import DeviceReading, OsCount, device_stats, read_devices
from newsletter.result_checks import result_problem

NOW = datetime(2026, 10, 31, 20, 0, tzinfo=UTC)


def device(os_name, version, compliance, synced, patch_level=None, name="LAPTOP-0042"):
    """A managedDevice as Graph lists it (with the fields a reading must never keep)."""
    return {"id": f"id-{name}", "deviceName": name, "userPrincipalName": "sarah.thomas@corp.example",
            "operatingSystem": os_name, "osVersion": version, "complianceState": compliance,
            "lastSyncDateTime": synced, "androidSecurityPatchLevel": patch_level}


FLEET = [
    device("Windows", "10.0.22631.4460", "compliant", "2026-10-30T08:00:00Z"),  # newest 22631: patched
    device("Windows", "10.0.22631.4391", "noncompliant", "2026-10-31T08:00:00Z"),  # behind
    device("Windows", "10.0.19045.5131", "compliant", "2026-10-29T08:00:00Z"),  # newest Windows 10: patched
    device("Windows", "10.0.22631.4460", "compliant", "2026-10-10T08:00:00Z"),  # silent 21 days: not counted
    device("Windows", "10.0.22631.4460", "inGracePeriod", "2026-10-31T07:00:00Z"),  # patched, not compliant
    device("macOS", "14.6.1", "compliant", "2026-10-31T09:00:00Z"),  # behind 14.7.1
    device("macOS", "14.7.1", "compliant", "2026-10-31T09:00:00Z"),
    device("macOS", "15.1", "compliant", "2026-10-30T09:00:00Z"),
    device("iOS", "18.1", "compliant", "2026-10-31T10:00:00Z"),
    device("iOS", "18.0.1", "noncompliant", "2026-10-31T10:00:00Z"),
    device("Android", "14", "compliant", "2026-10-31T10:00:00Z", patch_level="2026-10-05"),
    device("Android", "14", "compliant", "2026-10-31T10:00:00Z", patch_level="2026-09-01"),
]


def test_a_fleet_counted_by_hand():
    reading = read_devices(FLEET, NOW, patch_days=7)
    assert dict(reading.by_os) == {"Android": OsCount(2, 2, 1), "Windows": OsCount(5, 3, 3),
                                   "iOS": OsCount(2, 1, 1), "macOS": OsCount(3, 3, 2)}
    assert (reading.managed, reading.compliant, reading.patched) == (12, 9, 7)


def test_a_longer_patch_window_counts_the_quiet_laptop():
    assert read_devices(FLEET, NOW, patch_days=30).by_os["Windows"] == OsCount(5, 3, 4)


def test_a_system_without_a_patch_state_leaves_patched_unknown_never_zero():
    fleet = [*FLEET, device("Linux", "Ubuntu 24.04", "compliant", "2026-10-31T10:00:00Z")]
    reading = read_devices(fleet, NOW, patch_days=7)
    assert reading.by_os["Linux"] == OsCount(1, 1, None)
    assert reading.patched is None and reading.managed == 13
    unreadable = read_devices([*FLEET, device("Windows", "", "compliant", "2026-10-31T10:00:00Z")], NOW, 7)
    assert unreadable.by_os["Windows"].patched is None and unreadable.by_os["macOS"].patched == 2


def test_a_reading_keeps_counts_only_and_comes_back_from_them():
    reading = read_devices(FLEET, NOW, patch_days=7)
    stored = json.loads(json.dumps(reading.as_json()))
    assert stored["by_os"]["Windows"] == {"managed": 5, "compliant": 3, "patched": 3}
    assert not any(word in json.dumps(stored) for word in ("LAPTOP", "sarah", "id-", "10.0."))
    assert DeviceReading.from_json(stored) == reading
    with_linux = read_devices([*FLEET, device("Linux", "6.8", "unknown", None)], NOW, 7)
    assert with_linux.as_json()["by_os"]["Linux"] == {"managed": 1, "compliant": 0, "patched": None}
    assert DeviceReading.from_json(json.loads(json.dumps(with_linux.as_json()))) == with_linux


@pytest.mark.parametrize("stored", [{}, {"by_os": []}, {"by_os": {"Windows": {"managed": 5}}},
                                    {"by_os": {"Windows": {"managed": -1, "compliant": 0}}},
                                    {"by_os": {"Windows": {"managed": "5", "compliant": 0}}}])
def test_a_stored_reading_that_is_not_one_is_refused(stored):
    with pytest.raises(ValueError):
        DeviceReading.from_json(stored)


def test_the_month_is_its_last_reading_with_its_first_as_the_start():
    start = read_devices(FLEET[:8], datetime(2026, 10, 1, 6, 0, tzinfo=UTC), patch_days=7)
    middle = read_devices(FLEET[:10], datetime(2026, 10, 15, 6, 0, tzinfo=UTC), patch_days=7)
    end = read_devices(FLEET, NOW, patch_days=7)
    stats = device_stats([(date(2026, 10, 1), start), (date(2026, 10, 15), middle), (date(2026, 10, 31), end)], 7)
    assert (stats.managed, stats.compliant, stats.patched, stats.as_of) == (12, 9, 7, "2026-10-31")
    assert (stats.managed_month_start, stats.compliant_month_start) == (8, 6)
    assert (stats.compliant_pct, stats.patched_pct) == (75.0, 58.3333)  # 9 / 12, 7 / 12
    # most devices first, equal counts by name
    assert [group.os for group in stats.by_os] == ["Windows", "macOS", "Android", "iOS"]
    assert stats.by_os[0].metrics() == {"os": "Windows", "managed": 5, "compliant": 3, "patched": 3}
    assert result_problem("devices", stats) is None


def test_no_reading_leaves_every_figure_unknown():
    stats = device_stats([], 7, partial=True, warnings=("no snapshot in 2026-10",), covered_days=0)
    assert (stats.managed, stats.compliant, stats.patched, stats.as_of) == (None, None, None, None)
    assert stats.partial is True and stats.warnings == ("no snapshot in 2026-10",)


def test_a_system_name_is_cut_to_what_a_table_shows():
    reading = read_devices([device("Windows" + "x" * 500, "10.0.26100.1", "compliant", "2026-10-31T08:00:00Z")],
                           NOW, 7)
    assert list(reading.by_os) == ["Windows" + "x" * 33]


def test_a_build_in_brackets_is_not_part_of_the_version():
    """macOS may report '14.7 (23H124)': the same release as '14.7', both newest."""
    fleet = [device("macOS", "14.7 (23H124)", "compliant", "2026-10-31T08:00:00Z"),
             device("macOS", "14.7", "compliant", "2026-10-31T08:00:00Z"),
             device("macOS", "14.6.1 (23G93)", "compliant", "2026-10-31T08:00:00Z")]
    assert read_devices(fleet, NOW, 7).by_os["macOS"] == OsCount(3, 3, 2)


def test_a_trailing_zero_is_the_same_version():
    fleet = [device("iOS", "18.1", "compliant", "2026-10-31T08:00:00Z"),
             device("iOS", "18.1.0", "compliant", "2026-10-31T08:00:00Z")]
    assert read_devices(fleet, NOW, 7).by_os["iOS"] == OsCount(2, 2, 2)


def test_a_version_of_thousands_of_digits_is_no_crash():
    """Python refuses to read an int of over 4300 digits: such a version is garbage, not a reason to fail."""
    fleet = [device("Windows", "10.0.22631." + "9" * 5000, "compliant", "2026-10-30T08:00:00Z"),
             device("Android", "14", "compliant", "2026-10-31T10:00:00Z", patch_level="2026-" + "1" * 5000)]
    reading = read_devices(fleet, NOW, 14)
    assert (reading.managed, reading.compliant, reading.patched) == (2, 2, None)  # unreadable: unknown
