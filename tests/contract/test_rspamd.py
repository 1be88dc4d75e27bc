"""rspamd controller /stat: snapshots per collection, month = difference, resets handled."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import pytest
from werkzeug import Response

from newsletter.binding import Secret
from newsletter.collectors.rspamd import Rspamd, RspamdSettings
from newsletter.errors import SourceError
from tests.contract.conftest import OCTOBER
from tests.contract.helpers import FAULTS, Faults, check_fault


def stat(scanned, **actions):
    """The documented /stat shape; newer rspamd versions add actions such as discard."""
    base = {"reject": 0, "soft reject": 0, "rewrite subject": 0, "add header": 0, "greylist": 0, "no action": 0}
    base.update({k.replace("_", " "): v for k, v in actions.items()})
    return {"version": "3.4", "uptime": 3600, "read_only": False, "scanned": scanned, "learned": 0,
            "actions": base, "spam_count": 0, "ham_count": 0, "connections": 3, "statfiles": []}


class Clock:
    def __init__(self, moment):
        self.now = moment

    def __call__(self):
        return self.now


class Snapshots:
    """What rspamd may keep between runs (collectors.base.SnapshotState), in memory, and nothing else:
    a collector that reached for more of the store would fail here."""

    def __init__(self) -> None:
        self.kept: dict[tuple[str, datetime], dict[str, int]] = {}

    def save_snapshot(self, source: str, taken_at: datetime, counters: Mapping[str, int]) -> None:
        self.kept[source, taken_at] = dict(counters)

    def snapshots(self, source: str, since: datetime, until: datetime) -> list[tuple[datetime, dict[str, int]]]:
        return sorted(((at, dict(counters)) for (name, at), counters in self.kept.items()
                       if name == source and since <= at <= until), key=lambda snapshot: snapshot[0])


@pytest.fixture
def state() -> Snapshots:
    return Snapshots()


def collector(httpserver, session, state, clock, **settings):
    config = RspamdSettings(base_url=httpserver.url_for("/"), **settings)
    rspamd = Rspamd(config, name="mail-filter", session=session, clock=clock, state=state)
    rspamd.validate()
    return rspamd


def serve_stat(httpserver, body):
    httpserver.clear()
    httpserver.expect_request("/stat").respond_with_json(body)


def test_month_is_the_difference_across_a_reset(httpserver, session, state):
    clock = Clock(OCTOBER.start - timedelta(minutes=30))
    rspamd = collector(httpserver, session, state, clock)
    phases = [
        (OCTOBER.start - timedelta(minutes=30), stat(100, reject=10, add_header=20, greylist=5, no_action=65)),
        (OCTOBER.start + timedelta(days=12), stat(1100, reject=110, add_header=220, greylist=5, no_action=765)),
        # rspamd crashed and lost its counters: smaller values mean a reset
        (OCTOBER.start + timedelta(days=13), stat(50, reject=5, add_header=10, soft_reject=3, no_action=32)),
    ]
    for moment, body in phases:
        clock.now = moment
        serve_stat(httpserver, body)
        with pytest.raises(SourceError, match="has not ended"):
            rspamd.collect(OCTOBER)
    clock.now = OCTOBER.end + timedelta(minutes=5)
    end = stat("250", reject="25", add_header="40", soft_reject="6", no_action="177")  # numbers as strings
    end["actions"]["discard"] = 2  # an action that appeared with an upgrade
    serve_stat(httpserver, end)
    metrics = rspamd.collect(OCTOBER).metrics()
    # scanned: (1100-100) + 50 since the reset + (250-50) = 1250
    assert metrics["scanned"] == 1250
    # blocked = reject + discard: (110-10) + 5 + (25-5) + 2 = 127
    assert metrics["rejected"] == 127
    # spam = add header + soft reject: (220-20) + 10 + (40-10) = 240, soft reject 3 + (6-3) = 6
    assert metrics["spam"] == 246
    assert metrics["blocked_total"] == 246 + 127
    assert metrics["phishing"] is None and metrics["malware"] is None  # rspamd does not tell; unknown, not 0
    assert metrics["partial"] is True
    assert "reset between 2026-10-13 00:00 CEST and 2026-10-14 00:00 CEST" in metrics["warnings"][0]
    assert metrics["window_start"] == "2026-09-30T23:30:00+02:00"


def test_a_month_without_a_starting_snapshot_is_counted_from_its_first_one_and_partial(httpserver, session, state):
    clock = Clock(OCTOBER.start + timedelta(days=3))  # the first collection ever: 2026-10-04 00:00
    rspamd = collector(httpserver, session, state, clock)
    serve_stat(httpserver, stat(500, reject=50))
    with pytest.raises(SourceError, match="has not ended"):
        rspamd.collect(OCTOBER)
    clock.now = OCTOBER.end + timedelta(minutes=1)
    serve_stat(httpserver, stat(900, reject=90))
    metrics = rspamd.collect(OCTOBER).metrics()
    assert (metrics["scanned"], metrics["rejected"], metrics["partial"], metrics["covered_days"]) == (400, 40, True, 28)
    assert metrics["warnings"] == ["no rspamd counter snapshot within 24 h before 2026-10 began: counted from the "
                                   "first one in it, 2026-10-04 00:00 CEST, so these numbers cover 28 of its 31 "
                                   "days; schedule 'newsletter collect' at 00:00 on the 1st "
                                   "(docs/sources/mail-security.md, rspamd)"]


def test_a_month_without_any_snapshot_in_it_is_refused_not_invented(httpserver, session, state):
    clock = Clock(OCTOBER.end + timedelta(minutes=1))
    serve_stat(httpserver, stat(900, reject=90))
    with pytest.raises(SourceError, match=r"no rspamd counter snapshot within 24 h before 2026-10 began "
                                          r"\(2026-10-01 00:00 CEST; the first one after it is from 2026-11-01"):
        collector(httpserver, session, state, clock).collect(OCTOBER)


def test_snapshot_at_midnight_on_the_first_serves_both_months(httpserver, session, state):
    """A cron job at 00:00 on the 1st: its snapshot ends one month and starts the next."""
    clock = Clock(OCTOBER.start + timedelta(seconds=40))
    rspamd = collector(httpserver, session, state, clock, actions={"greylist": "spam"})
    serve_stat(httpserver, stat(10, greylist=1))
    with pytest.raises(SourceError):
        rspamd.collect(OCTOBER)
    clock.now = OCTOBER.end + timedelta(seconds=40)
    serve_stat(httpserver, stat(30, greylist=4, reject=2))
    metrics = rspamd.collect(OCTOBER).metrics()
    assert (metrics["scanned"], metrics["spam"], metrics["rejected"], metrics["partial"]) == (20, 3, 2, False)
    assert metrics["warnings"] == []


@pytest.mark.parametrize("fault", FAULTS)
def test_faults(fault, httpserver, caplog, state, monkeypatch):
    """The month's end read after a snapshot at its start, with the controller password."""
    monkeypatch.setenv("RSPAMD_PASSWORD", "s3cret-ctl-pw-7f3a9")
    seen = []

    def handler(request):
        seen.append(request.headers.get("Password"))
        return Response('{"scanned": "7", "actions": {"reject": 1, "no action": "6"}}',
                        content_type="application/json")

    def build(session):  # each run from the start snapshot alone: the month's end is the reading it takes
        state.kept = {}
        state.save_snapshot("mail-filter", OCTOBER.start, {"scanned": 0, "action:reject": 0, "action:no action": 0})
        return collector(httpserver, session, state, Clock(OCTOBER.end), password=Secret(env="RSPAMD_PASSWORD"))

    good = check_fault(Faults("/stat", lambda: httpserver.expect_request("/stat").respond_with_handler(handler),
                              build, OCTOBER, hint="controller password (RSPAMD_PASSWORD)",
                              secret="s3cret-ctl-pw-7f3a9"), fault, httpserver, caplog)
    assert (good.metrics["scanned"], good.metrics["rejected"]) == (7, 1)
    assert set(seen) == {"s3cret-ctl-pw-7f3a9"}


def test_a_collector_without_a_store_fails_clearly(httpserver, session):
    rspamd = collector(httpserver, session, None, Clock(OCTOBER.end))
    with pytest.raises(SourceError, match="needs the workspace store"):
        rspamd.collect(OCTOBER)


def test_wrong_answer_shape_names_the_controller(httpserver, session, state):
    serve_stat(httpserver, {"status": "ok"})
    rspamd = collector(httpserver, session, state, Clock(OCTOBER.end))
    with pytest.raises(SourceError, match="port 11334"):
        rspamd.collect(OCTOBER)


def test_snapshots_far_from_the_edges_are_flagged(httpserver, session, state):
    clock = Clock(OCTOBER.start - timedelta(hours=20))
    rspamd = collector(httpserver, session, state, clock)
    serve_stat(httpserver, stat(0))
    with pytest.raises(SourceError):
        rspamd.collect(OCTOBER)
    clock.now = OCTOBER.end + timedelta(hours=7)
    serve_stat(httpserver, stat(70, reject=7))
    metrics = rspamd.collect(OCTOBER).metrics()
    assert (metrics["scanned"], metrics["rejected"], metrics["partial"]) == (70, 7, True)
    assert "up to 20 h away from when the month began (2026-09-30 04:00 CEST)" in metrics["warnings"][0]
    assert "up to 7 h away from when the month ended (2026-11-01 07:00 CET)" in metrics["warnings"][1]


def test_an_action_gone_from_stat_is_no_reset_of_every_counter():
    """A custom action removed from rspamd's config leaves /stat: its counter is not a restart, and
    the month is not given every counter's total since rspamd last started."""
    from zoneinfo import ZoneInfo

    from newsletter.collectors.rspamd import difference
    from newsletter.period import Month

    berlin = ZoneInfo("Europe/Berlin")
    month = Month(2026, 10, berlin)

    def at(day: int, month_number: int = 10) -> datetime:
        return datetime(2026, month_number, day, tzinfo=berlin)

    def counters(scanned: int, reject: int, **more: int) -> dict[str, int]:
        return {"scanned": scanned, "action:reject": reject, "action:no action": scanned - reject, **more}

    window = difference([(at(1), counters(5_000_000, 100_000, **{"action:quarantine": 7})),
                         (at(15), counters(5_100_000, 102_000, **{"action:quarantine": 7})),
                         (at(16), counters(5_110_000, 102_200)),
                         (at(1, 11), counters(5_200_000, 104_000))], month, timedelta(hours=24))
    assert window.counts["scanned"] == 200_000 and window.counts["action:reject"] == 4_000
    assert window.resets == []


@pytest.mark.parametrize(("counter", "value"), [("scanned", "-40"), ("reject", "-3"), ("scanned", "1e999"),
                                                ("reject", "NaN"), ("reject", "12.5"), ("scanned", "true")],
                         ids=["negative scanned", "negative action", "infinite", "nan", "fraction", "boolean"])
def test_a_counter_that_is_no_count_is_named_and_not_kept(counter, value, httpserver, session, state):
    """A reset makes counters smaller, never negative: a negative, fractional or infinite counter is
    no reading of rspamd, refused naming it before it could become a snapshot (and a month)."""
    scanned, reject = (value, "1") if counter == "scanned" else ("7", value)
    httpserver.expect_request("/stat").respond_with_data(
        '{"scanned": ' + scanned + ', "actions": {"reject": ' + reject + ', "no action": 6}}',
        content_type="application/json")
    with pytest.raises(SourceError, match=rf"rspamd's /stat has {counter} = .+, not a whole number of messages"):
        collector(httpserver, session, state, Clock(OCTOBER.end)).collect(OCTOBER)
    assert state.kept == {}


def test_the_month_is_counted_from_stored_snapshots_when_rspamd_cannot_be_read_now(httpserver, session, state):
    """The daily run kept the counters at both edges; rspamd down (or restarting) when the month is
    collected on send day loses nothing the snapshots hold."""
    state.save_snapshot("mail-filter", OCTOBER.start, {"scanned": 100, "action:reject": 10})
    state.save_snapshot("mail-filter", OCTOBER.end + timedelta(minutes=5), {"scanned": 900, "action:reject": 90})
    httpserver.expect_request("/stat").respond_with_data("restarting", status=503)
    clock = Clock(OCTOBER.end + timedelta(days=2))
    metrics = collector(httpserver, session, state, clock).collect(OCTOBER).metrics()
    assert (metrics["scanned"], metrics["rejected"], metrics["partial"], metrics["warnings"]) == (800, 80, False, [])
    clock.now = OCTOBER.end + timedelta(hours=2)  # read now, it could have been the month's end
    metrics = collector(httpserver, session, state, clock).collect(OCTOBER).metrics()
    assert metrics["scanned"] == 800
    assert [w for w in metrics["warnings"] if w.startswith("rspamd could not be read now (rspamd answered 503")]
    with pytest.raises(SourceError, match="rspamd answered 503"):  # nothing stored to count from: the failure
        collector(httpserver, session, Snapshots(), clock).collect(OCTOBER)
