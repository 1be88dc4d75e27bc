"""Microsoft Intune through Graph: the managed devices, read every day, as a month's end state.

`GET /v1.0/deviceManagement/managedDevices` with `$select` (application permission
DeviceManagementManagedDevices.Read.All), paged by `@odata.nextLink`, which is followed only to
the server the token is meant for. Intune knows the fleet as it is now, not as it was: a month's
figure comes from daily snapshots (newsletter/snapshots.py). Each day `take_snapshot` stores the
fleet's counts by system (device_readings.py: counts only, never a device's name, user or id), and
`collect` (which stores one of now first) reports the month's last reading (`as_of`) with its first
one as the month's start; missing days make it partial, naming them.

The token comes from msal with client credentials (collectors/entra_source.py), the same app
registration as m365_defender's when it holds both permissions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from newsletter.collectors.common import check_range
from newsletter.collectors.device_readings import DeviceReading, device_stats, read_devices
from newsletter.collectors.entra_source import EntraSource, EntraSourceSettings
from newsletter.errors import SourceError
from newsletter.hosts import same_origin
from newsletter.http import HttpClient, PageGuard
from newsletter.period import Month
from newsletter.results import DeviceStats
from newsletter.snapshots import month_after_reading_now

DEVICES = "/deviceManagement/managedDevices"
SELECT = "id,operatingSystem,complianceState,lastSyncDateTime,osVersion,androidSecurityPatchLevel"


@dataclass(frozen=True, kw_only=True)
class IntuneSettings(EntraSourceSettings):
    patch_days: int = 14  # patched: on the newest version of its release line, checked in within these days


class Intune(EntraSource):
    """Managed, compliant and fully patched devices of one Intune tenant, by operating system."""

    type = "intune"
    kind = "devices"
    Settings = IntuneSettings
    permission = "the app's DeviceManagementManagedDevices.Read.All application permission (admin consent)"
    needs_snapshots = True
    not_found_hint = "check base_url (https://graph.microsoft.com/v1.0) and that the tenant has Intune"

    def validate(self) -> None:
        super().validate()
        check_range(self.name, "patch_days", self.settings.patch_days, 1, 365)

    def take_snapshot(self) -> dict[str, Any]:
        """Today's counts of the fleet, and the patch_days they were counted with."""
        reading = read_devices(self.devices(self.graph_client()), self.clock(), self.settings.patch_days)
        return {**reading.as_json(), "patch_days": self.settings.patch_days}

    def collect(self, month: Month) -> DeviceStats:
        """The month from its daily readings, after storing one of now (snapshots.month_after_reading_now):
        a failure to read the fleet now is only a warning while the month's stored days tell it."""
        days, warnings = month_after_reading_now(self, month, "Intune")
        readings = []
        for day, snapshot in days.days.items():
            try:
                readings.append((day, DeviceReading.from_json(snapshot.reading), snapshot.reading.get("patch_days")))
            except ValueError as exc:  # one bad day is left out, as a missing one is
                warnings.append(f"the snapshot of {day:%Y-%m-%d} is unreadable ({exc}) and is left out")
        if not readings:
            raise SourceError(f"no readable snapshot of source {self.name} in {month.name}: " + "; ".join(warnings))
        patch_days = readings[-1][2]
        return device_stats([(day, reading) for day, reading, _ in readings],
                            patch_days if isinstance(patch_days, int) else self.settings.patch_days,
                            partial=days.partial or len(readings) < days.covered_days or None,
                            warnings=warnings, covered_days=len(readings))

    def devices(self, client: HttpClient) -> Iterator[dict[str, Any]]:
        """Every managed device once, page by page; a device listed twice counts once."""
        guard, seen = PageGuard(self.vendor), set()
        guard.next_page()
        answer = client.get_json(DEVICES, params={"$select": SELECT})
        while True:
            rows = answer.get("value") if isinstance(answer, dict) else None
            if not isinstance(rows, list):
                raise SourceError(f"{self.vendor} answered {DEVICES} without a 'value' list; check base_url")
            for row in rows:
                key = row.get("id") if isinstance(row, dict) else None
                key = None if key is None else str(key)  # as text: an id that is a list or a table is no crash
                if isinstance(row, dict) and (key is None or key not in seen):
                    seen.add(key)
                    yield row
            next_link = answer.get("@odata.nextLink")
            if not next_link:
                return
            guard.rows(len(rows))
            guard.next_page(str(next_link))
            answer = client.get_json(same_origin(str(next_link), self.settings.base_url, self.vendor))
