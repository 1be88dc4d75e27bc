"""The demo's backups, devices and awareness hold together as a real company's would, month after
month (newsletter/collectors/demo_quiet.py): parts add up to their totals, a month starts where the
one before ended, nobody clicks more emails than were delivered, and every result passes the
runner's checks. And they tell a story worth telling over the demo's last year."""

from __future__ import annotations

from itertools import pairwise

import pytest

from newsletter.collectors.demo_quiet import DemoAwareness, DemoBackup, DemoDevices
from newsletter.period import Month
from newsletter.result_checks import result_problem

MONTHS = [Month(2026, 11).shift(-n) for n in range(24)]


def collector(cls, **settings):
    return cls(cls.Settings(**settings), name="demo")


@pytest.mark.parametrize("month", MONTHS, ids=lambda m: m.label)
def test_backups_add_up(month):
    stats = collector(DemoBackup).collect(month)
    assert result_problem("backup", stats) is None
    assert stats.succeeded + stats.with_warnings + stats.failed == stats.jobs_run == 78 * month.days
    assert sum(job.runs for job in stats.jobs) == stats.jobs_run
    assert sum(job.failed for job in stats.jobs) == stats.failed
    assert stats.longest_gap_s == max(job.longest_gap_s for job in stats.jobs)
    assert (stats.longest_gap_s > 2 * 86400) == (stats.failed > 0)  # a failed night makes a two-day gap
    assert stats.restores >= 1 and stats.protected_bytes > 0


@pytest.mark.parametrize("month", MONTHS, ids=lambda m: m.label)
def test_devices_add_up_and_a_month_starts_where_the_last_ended(month):
    devices = collector(DemoDevices)
    stats, before = devices.collect(month), devices.collect(month.previous())
    assert result_problem("devices", stats) is None
    assert stats.managed == sum(g.managed for g in stats.by_os)
    assert stats.compliant == sum(g.compliant for g in stats.by_os) <= stats.managed
    assert stats.patched == sum(g.patched for g in stats.by_os) <= stats.managed
    assert (stats.managed_month_start, stats.compliant_month_start) == (before.managed, before.compliant)
    assert [g.managed for g in stats.by_os] == sorted((g.managed for g in stats.by_os), reverse=True)
    assert stats.as_of.startswith(month.label)


@pytest.mark.parametrize("month", MONTHS, ids=lambda m: m.label)
def test_awareness_holds_together(month):
    stats = collector(DemoAwareness, people=440).collect(month)
    assert result_problem("awareness", stats) is None
    assert stats.clicked + stats.reported <= stats.delivered <= 440 * stats.simulations
    assert stats.phish_prone_pct == round(100 * stats.clicked / stats.delivered, 1)


def test_the_last_year_tells_a_story_with_its_ups_and_downs():
    backups = [collector(DemoBackup).collect(m) for m in MONTHS[:12]]
    assert 0 < sum(b.failed > 0 for b in backups) < 6  # failures are rare, but they happen
    prone = [collector(DemoAwareness).collect(m).phish_prone_pct for m in MONTHS]  # newest first
    assert sum(prone[:6]) / 6 < sum(prone[-6:]) / 6  # fewer click than a year and a half ago
    assert any(later > earlier for later, earlier in pairwise(prone))  # not every month is better
