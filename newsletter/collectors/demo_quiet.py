"""Demo sources of the quiet work: backups, managed devices and security awareness, for any month.

Like demo.py, deterministic and seeded by the month, so every month has the same numbers each
time it is collected and 12+ months of history exist for records, streaks and charts. The numbers
hold together as a real company's would:

- Backups: 78 machines backed up nightly in five jobs, so a month has 78 runs a night; a failed
  run is retried the next night, so its job's longest gap is two days. Restores follow the help
  desk's season (more when people start, fewer in summer).
- Devices: a state, not a count. The fleet at a month's end is a function of the month alone, so
  the month's start is the month before's end, and every operating system's figures add up to
  the totals. Compliance and patching get better over the years, with noise.
- Awareness: one phishing simulation a month to everyone (two in January and September, when
  new colleagues start); fewer people click and more report as the training takes hold, with now
  and then a harder test that more people fall for.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from random import Random

from newsletter.collectors.base import Collector
from newsletter.collectors.common import check_range
from newsletter.period import Month
from newsletter.results import AwarenessStats, BackupJob, BackupStats, DeviceGroup, DeviceStats

# job name, machines it backs up every night
BACKUP_JOBS = (("Virtual machines", 46), ("File servers", 10), ("Laptops to the cloud", 10), ("Databases", 8),
               ("Mail archive", 4))
# restores asked for: more when people start (January, September), fewer in summer
RESTORE_SEASON = {1: 1.2, 2: 1.0, 3: 1.0, 4: 0.9, 5: 1.0, 6: 0.9, 7: 0.7, 8: 0.6, 9: 1.3, 10: 1.1, 11: 1.0, 12: 0.8}
NIGHT_S = 86400
TB = 10**12
# operating system, devices in January 2024, new ones a month, compliant share then, where it heads
DEVICE_FLEET = (("Windows", 382, 2.4, 86.0, 97.5), ("iOS", 148, 1.3, 90.0, 98.5), ("macOS", 78, 1.0, 88.0, 97.0),
                ("Android", 46, -0.3, 80.0, 93.0))
PATCH_DAYS = 14
EPOCH = 2024 * 12 + 1  # January 2024: month 0 of the demo's trends


def _age(month: Month) -> int:
    return month.year * 12 + month.month - EPOCH


def _hiring_waves(age: int) -> int:
    """How many Januaries and Septembers since the demo's first month, this one included."""
    return sum(1 for n in range(max(age, -1) + 1) if n % 12 in (0, 8))


@dataclass(frozen=True)
class DemoSeedSettings:
    """The demo backups' and devices' one key: the seed their numbers are drawn from."""

    seed: str = "demo"


class DemoBackup(Collector):
    """A backup server's month: nightly jobs, the odd warning, now and then a failed run, restores."""

    type = "demo_backup"
    kind = "backup"
    offline = True
    Settings = DemoSeedSettings

    def collect(self, month: Month) -> BackupStats:
        rng = Random(f"{self.settings.seed}:backup:{month.label}")
        failed_runs = rng.choice((1, 1, 2, 3)) if rng.random() < 0.3 else 0
        warned_runs = rng.randint(3, 16)
        names, machines = zip(*BACKUP_JOBS, strict=True)
        failed_by_job = _spread(rng, failed_runs, machines)
        warned_by_job = _spread(rng, warned_runs, machines)
        jobs = []
        for name, count, failed, warned in zip(names, machines, failed_by_job, warned_by_job, strict=True):
            gap = (2 if failed else 1) * NIGHT_S + rng.randint(300, 2400)  # a night, or two after a failure
            runs = count * month.days
            jobs.append(BackupJob(name, runs=runs, succeeded=runs - failed - warned, failed=failed, longest_gap_s=gap))
        runs = sum(job.runs or 0 for job in jobs)
        growth = 1.012 ** _age(month)  # data grows about 1.2 % a month
        return BackupStats(
            jobs_run=runs, succeeded=runs - failed_runs - warned_runs, with_warnings=warned_runs, failed=failed_runs,
            protected_bytes=round(31.4 * TB * growth * rng.uniform(0.995, 1.005)),
            restores=max(2, round(11 * RESTORE_SEASON[month.month] * rng.uniform(0.6, 1.5))),
            longest_gap_s=max(job.longest_gap_s or 0 for job in jobs), jobs=tuple(jobs))


def _spread(rng: Random, total: int, weights: tuple[int, ...]) -> list[int]:
    """`total` events spread over jobs in proportion to their machines."""
    counts = [0] * len(weights)
    for index in rng.choices(range(len(weights)), weights, k=total):
        counts[index] += 1
    return counts


class DemoDevices(Collector):
    """A fleet of laptops and phones: how many are managed, compliant and patched at a month's end."""

    type = "demo_devices"
    kind = "devices"
    offline = True
    Settings = DemoSeedSettings

    def collect(self, month: Month) -> DeviceStats:
        end = self.fleet(month)
        start = self.fleet(month.previous())
        last_day = calendar.monthrange(month.year, month.month)[1]
        return DeviceStats(
            managed=sum(g.managed or 0 for g in end), compliant=sum(g.compliant or 0 for g in end),
            patched=sum(g.patched or 0 for g in end), patch_days=PATCH_DAYS,
            managed_month_start=sum(g.managed or 0 for g in start),
            compliant_month_start=sum(g.compliant or 0 for g in start),
            as_of=month.first_day.replace(day=last_day).isoformat(), by_os=end)

    def fleet(self, month: Month) -> tuple[DeviceGroup, ...]:
        """The devices at the end of `month`, most first: a function of the month alone."""
        age = _age(month)
        groups = []
        for os, first, per_month, compliant_then, compliant_later in DEVICE_FLEET:
            rng = Random(f"{self.settings.seed}:devices:{os}:{month.label}")
            # the odd device comes and goes; the start of a school year and of a calendar year bring new people
            managed = max(1, round(first + per_month * age + 5 * _hiring_waves(age) + rng.randint(-2, 2)))
            # compliance creeps towards where it heads; a month's noise of about a point either way
            share = compliant_later - (compliant_later - compliant_then) * 0.85 ** max(age, 0) + rng.uniform(-2.2, 0.9)
            compliant = min(managed, round(managed * share / 100))
            patched = min(managed, round(managed * (share - rng.uniform(2.0, 7.0)) / 100))
            groups.append(DeviceGroup(os, managed=managed, compliant=compliant, patched=patched))
        return tuple(sorted(groups, key=lambda g: -(g.managed or 0)))


@dataclass(frozen=True)
class DemoAwarenessSettings:
    seed: str = "demo"
    people: int = 440


class DemoAwareness(Collector):
    """Monthly phishing simulations and trainings for a company of a few hundred people."""

    type = "demo_awareness"
    kind = "awareness"
    offline = True
    Settings = DemoAwarenessSettings

    def validate(self) -> None:
        check_range(self.name, "people", self.settings.people, 1, 1_000_000)

    def collect(self, month: Month) -> AwarenessStats:
        rng = Random(f"{self.settings.seed}:awareness:{month.label}")
        age = max(_age(month) - 12, 0)  # the programme started in January 2025
        simulations = 2 if month.month in (1, 9) else 1
        delivered = sum(round(self.settings.people * rng.uniform(0.97, 1.0)) for _ in range(simulations))
        prone = 3.2 + 9.0 * 0.8 ** age + rng.uniform(-0.9, 1.3)
        if rng.random() < 0.15:  # a harder test: a convincing fake invoice
            prone += rng.uniform(2.0, 3.5)
        reporting = 63.0 - 42.0 * 0.78 ** age + rng.uniform(-5.0, 3.0)
        clicked = round(delivered * prone / 100)
        reported = round(delivered * reporting / 100)
        trainings = {1: 380, 9: 95}.get(month.month, 0) + rng.randint(20, 55)  # the yearly refresher in January
        return AwarenessStats(simulations=simulations, delivered=delivered, clicked=clicked, reported=reported,
                              phish_prone_pct=round(100 * clicked / delivered, 1), trainings_completed=trainings)
