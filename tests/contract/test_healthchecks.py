"""Healthchecks.io Management API v3: the checks (X-Api-Key, optionally by tag) and each check's flips
before and in the month; runs expected and missed from the schedule or timeout, counted by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from newsletter.binding import Where, bind
from newsletter.collectors.healthchecks import Healthchecks, HealthchecksSettings
from newsletter.errors import ConfigError, SourceError
from newsletter.http import make_session
from tests.contract.conftest import AFTER_OCTOBER, OCTOBER
from tests.contract.helpers import FAST, FAULTS, Faults, check_fault, json_response, leaks, run

KEY = "hc-ro-key-7d6c5b4a3f2e1d0c"
NIGHTLY = "6b1a0a0e-1111-4c4c-9d9d-000000000001"
HOURLY = "b" * 40  # a read-only key lists unique_key instead of the UUID
OFFSITE = "6b1a0a0e-3333-4c4c-9d9d-000000000003"
UNWATCHED = "6b1a0a0e-4444-4c4c-9d9d-000000000004"
RETIRED = "6b1a0a0e-5555-4c4c-9d9d-000000000005"
START, END = 1790805600, 1793487600  # 2026-09-30 22:00 UTC and 2026-10-31 23:00 UTC: October in Berlin

CHECKS = [
    {"name": "Nightly backup", "slug": "nightly-backup", "tags": "backup prod", "grace": 3600, "n_pings": 400,
     "status": "up", "uuid": NIGHTLY, "schedule": "15 5 * * *", "tz": "Europe/Berlin",
     "update_url": f"https://hc.example/api/v3/checks/{NIGHTLY}"},
    {"name": "Hourly sync", "slug": "hourly-sync", "tags": "backup prod", "grace": 300, "n_pings": 900,
     "status": "up", "unique_key": HOURLY, "timeout": 3600},
    {"name": "Offsite copy", "slug": "offsite-copy", "tags": "backup prod", "grace": 7200, "status": "down",
     "uuid": OFFSITE, "schedule": "0 2 * * 0", "tz": "UTC"},
    {"name": "Old tape job", "slug": "old-tape", "tags": "backup prod", "grace": 3600, "status": "paused",
     "uuid": UNWATCHED, "timeout": 86400},
    {"name": "Retired sync", "slug": "retired-sync", "tags": "backup prod", "grace": 3600, "status": "paused",
     "uuid": RETIRED, "timeout": 86400},
]
FLIPS = {  # oldest first, as they happened
    NIGHTLY: [("2026-09-01T03:20:00+00:00", 1),
              ("2026-10-11T04:15:00+00:00", 0),  # the run at 05:15 CEST on the 11th did not ping by 06:15
              ("2026-10-12T03:50:00+00:00", 1)],  # the next run pinged at 05:50, late but within grace
    HOURLY: [("2026-10-10T22:00:00+00:00", 1),  # first ping: midnight of the 11th in Berlin
             ("2026-10-20T10:05:00+00:00", 0), ("2026-10-20T12:30:00+00:00", 1),
             ("2026-11-01T10:00:00+00:00", 0)],  # after the month: not October's
    OFFSITE: [("2026-09-27T04:00:00+00:00", 0)],  # down since before the month
    UNWATCHED: [],
    RETIRED: [("2026-08-01T09:00:00+00:00", 0)],  # paused in August, still paused: not a month of misses
}
# By hand:
# - Nightly backup: 31 firings at 05:15 Berlin, each decided an hour later within the month; the one
#   on the 11th (03:15 UTC) was down at 04:15:01 UTC: 1 missed; the one on the 12th pinged within its
#   grace (03:50 < 04:15 UTC): reported. Down 23 h 35 min = 84900 s.
# - Hourly sync: watched from 10 Oct 22:00 UTC to the end, 21 d 1 h = 1818000 s = 505 periods; down
#   2 h 25 min = 8700 s after the last ping at 09:00 (down at 10:05, grace 300 s), so ceil(8700 / 3600) = 3 runs
#   missed (10:00, 11:00, 12:00: none pinged within its grace); the 12:30 ping starts the periods again.
# - Offsite copy: Sundays 02:00 UTC in the month: 4, 11, 18 and 25 October, all while down; down the
#   whole month, 2682000 s.
# - Old tape job: no flip before or in the month: not watched, nothing known.
# - Retired sync: not up since August, no flip since, paused now: paused all month, nothing known.
JOBS = [
    {"name": "Nightly backup", "runs": 31, "succeeded": 30, "failed": 1, "longest_gap_s": 84900},
    {"name": "Hourly sync", "runs": 505, "succeeded": 502, "failed": 3, "longest_gap_s": 8700},
    {"name": "Offsite copy", "runs": 4, "succeeded": 0, "failed": 4, "longest_gap_s": 2682000},
    {"name": "Old tape job", "runs": None, "succeeded": None, "failed": None, "longest_gap_s": None},
    {"name": "Retired sync", "runs": None, "succeeded": None, "failed": None, "longest_gap_s": None},
]


class HealthchecksServer:
    def __init__(self, httpserver, checks=None, flips=None, ranges=True, bare=False):
        self.httpserver, self.asked, self.ranges, self.bare = httpserver, [], ranges, bare
        self.checks = CHECKS if checks is None else checks
        self.flips = FLIPS if flips is None else flips

    def list(self, request: Request) -> Response:
        self.asked.append(("checks", request.args.getlist("tag"), request.headers.get("X-Api-Key")))
        if request.headers.get("X-Api-Key") != KEY:
            return json_response({"error": "missing api key"}, 401)
        return json_response({"checks": self.checks})

    def flips_of(self, ident: str):
        def handle(request: Request) -> Response:
            self.asked.append((ident, dict(request.args), request.headers.get("X-Api-Key")))
            start, end = request.args.get("start", type=int), request.args.get("end", type=int)
            if not self.ranges:
                start = end = None
            rows = [{"timestamp": at, "up": up} for at, up in self.flips[ident]
                    if (start is None or stamp(at) >= start) and (end is None or stamp(at) < end)]
            return json_response(rows[::-1] if self.bare else {"flips": rows[::-1]})  # newest first, like the server
        return handle

    def serve(self):
        self.httpserver.expect_request("/api/v3/checks/").respond_with_handler(self.list)
        for ident in self.flips:
            self.httpserver.expect_request(f"/api/v3/checks/{ident}/flips/").respond_with_handler(self.flips_of(ident))


def stamp(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def make(httpserver, session=None, clock=lambda: AFTER_OCTOBER, root="", **keys):
    settings = bind(HealthchecksSettings, {"base_url": httpserver.url_for(root or "/"),
                                           "api_key_env": "HEALTHCHECKS_API_KEY", **keys},
                    Where(Path("sources/backup.toml")))
    collector = Healthchecks(settings, name="jobs", session=session or make_session(FAST), clock=clock)
    collector.validate()
    return collector


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("HEALTHCHECKS_API_KEY", KEY)


def test_the_month_edges_are_berlins():
    assert (int(OCTOBER.start.timestamp()), int(OCTOBER.end.timestamp())) == (START, END)


def test_runs_reported_and_missed_by_hand(httpserver):
    vendor = HealthchecksServer(httpserver)
    vendor.serve()
    metrics = make(httpserver, tags=["backup", "prod"]).collect(OCTOBER).metrics()
    assert metrics["jobs"] == JOBS
    assert {k: metrics[k] for k in ("jobs_run", "succeeded", "failed", "with_warnings", "restores",
                                    "protected_bytes", "longest_gap_s")} == {
        "jobs_run": 540, "succeeded": 532, "failed": 8, "with_warnings": None, "restores": None,
        "protected_bytes": None, "longest_gap_s": 2682000}
    assert metrics["success_rate_pct"] == round(100 * 532 / 540, 4)
    assert metrics["warnings"] == ["check 'Old tape job' was not watched in the month (not pinged yet, or "
                                   "Healthchecks no longer holds its status changes): its figures are unknown",
                                   "check 'Retired sync' was paused all month: its figures are unknown"]
    assert vendor.asked[0] == ("checks", ["backup", "prod"], KEY)
    asked = {(who, tuple(sorted(args.items()))) for who, args, _ in vendor.asked[1:]}
    for ident in (NIGHTLY, HOURLY, OFFSITE, UNWATCHED, RETIRED):  # the state before the month, and since
        assert (ident, (("end", str(START)),)) in asked
        assert (ident, (("start", str(START)),)) in asked


def test_flips_outside_the_month_are_left_out_even_when_the_server_sends_them(httpserver):
    HealthchecksServer(httpserver, ranges=False).serve()
    assert make(httpserver).collect(OCTOBER).metrics()["jobs"] == JOBS


def test_flips_as_a_bare_list_as_the_first_api_versions_documented_them(httpserver):
    HealthchecksServer(httpserver, bare=True).serve()
    assert make(httpserver).collect(OCTOBER).metrics()["jobs"] == JOBS


def test_a_cron_check_still_down_at_the_months_end_missed_the_run_that_took_it_down(httpserver):
    check = {"name": "Daily export", "grace": 3600, "status": "down", "uuid": NIGHTLY, "schedule": "0 2 * * *",
             "tz": "UTC"}
    flips = {NIGHTLY: [("2026-09-01T02:10:00+00:00", 1), ("2026-10-30T03:00:00+00:00", 0)]}
    HealthchecksServer(httpserver, checks=[check], flips=flips).serve()
    # 31 runs at 02:00 UTC from 1 to 31 October; those of the 30th and 31st were missed: down for the
    # last 44 hours of the month (30 Oct 03:00 to 31 Oct 23:00 UTC)
    assert make(httpserver).collect(OCTOBER).metrics()["jobs"] == [
        {"name": "Daily export", "runs": 31, "succeeded": 29, "failed": 2, "longest_gap_s": 44 * 3600}]


def test_a_check_paused_in_the_month_and_still_paused_is_not_counted_as_down_while_paused(httpserver):
    """Healthchecks records a pause as a flip to "not up" (the API's flips say only up or not): the
    last flip of a check paused now is its pause, and a paused check's runs are not expected."""
    check = {"name": "Daily export", "grace": 3600, "status": "paused", "uuid": NIGHTLY, "schedule": "0 2 * * *",
             "tz": "UTC"}
    flips = {NIGHTLY: [("2026-09-01T02:10:00+00:00", 1), ("2026-10-10T12:00:00+00:00", 0)]}
    HealthchecksServer(httpserver, checks=[check], flips=flips).serve()
    metrics = make(httpserver).collect(OCTOBER).metrics()
    # watched from the month's start (30 Sep 22:00 UTC) to the pause: the runs of 1 to 10 October,
    # all reported; nothing after the pause is expected, nothing is missed
    assert metrics["jobs"] == [{"name": "Daily export", "runs": 10, "succeeded": 10, "failed": 0,
                                "longest_gap_s": 0}]
    assert not metrics.get("warnings") and not metrics.get("partial")


def test_a_check_down_then_paused_is_down_until_its_pause(httpserver):
    check = {"name": "Hourly sync", "grace": 300, "status": "paused", "unique_key": HOURLY, "timeout": 3600}
    flips = {HOURLY: [("2026-09-01T00:00:00+00:00", 1), ("2026-10-20T10:00:00+00:00", 0),
                      ("2026-10-20T13:00:00+00:00", 0)]}  # down at 10:00, paused at 13:00
    HealthchecksServer(httpserver, checks=[check], flips=flips).serve()
    # watched 30 Sep 22:00 to 20 Oct 13:00 UTC = 471 h: 471 periods; down 3 h: 3 missed
    assert make(httpserver).collect(OCTOBER).metrics()["jobs"] == [
        {"name": "Hourly sync", "runs": 471, "succeeded": 468, "failed": 3, "longest_gap_s": 3 * 3600}]


def test_a_check_resumed_and_not_pinged_since_is_not_counted_as_down_from_its_pause(httpserver):
    """A resumed check is "new" (another flip to "not up") until its next ping: the flip before
    that one is its pause."""
    check = {"name": "Daily export", "grace": 3600, "status": "new", "uuid": NIGHTLY, "schedule": "0 2 * * *",
             "tz": "UTC"}
    flips = {NIGHTLY: [("2026-09-01T02:10:00+00:00", 1), ("2026-10-10T12:00:00+00:00", 0),
                       ("2026-10-25T12:00:00+00:00", 0)]}
    HealthchecksServer(httpserver, checks=[check], flips=flips).serve()
    assert make(httpserver).collect(OCTOBER).metrics()["jobs"] == [
        {"name": "Daily export", "runs": 10, "succeeded": 10, "failed": 0, "longest_gap_s": 0}]


def test_a_check_paused_whose_pause_was_not_recorded_counts_nothing_after_its_last_change(httpserver):
    check = {"name": "Daily export", "grace": 3600, "status": "paused", "uuid": NIGHTLY, "schedule": "0 2 * * *",
             "tz": "UTC"}
    flips = {NIGHTLY: [("2026-10-05T02:10:00+00:00", 1)]}  # new until the 5th, paused some time after
    HealthchecksServer(httpserver, checks=[check], flips=flips).serve()
    metrics = make(httpserver).collect(OCTOBER).metrics()
    assert metrics["jobs"] == [
        {"name": "Daily export", "runs": None, "succeeded": None, "failed": None, "longest_gap_s": None}]
    assert metrics["warnings"] == ["check 'Daily export' is paused, and Healthchecks keeps no record of when: its "
                                   "runs after its last status change (2026-10-05 02:10 UTC) are not counted"]


def test_a_check_paused_after_the_month_keeps_the_months_downtime(httpserver):
    check = {"name": "Daily export", "grace": 3600, "status": "paused", "uuid": NIGHTLY, "schedule": "0 2 * * *",
             "tz": "UTC"}
    flips = {NIGHTLY: [("2026-09-01T02:10:00+00:00", 1), ("2026-10-30T03:00:00+00:00", 0),
                       ("2026-11-02T09:00:00+00:00", 0)]}  # down on the 30th, paused in November
    HealthchecksServer(httpserver, checks=[check], flips=flips).serve()
    assert make(httpserver).collect(OCTOBER).metrics()["jobs"] == [
        {"name": "Daily export", "runs": 31, "succeeded": 29, "failed": 2, "longest_gap_s": 44 * 3600}]


def test_a_month_not_over_is_measured_up_to_now(httpserver):
    HealthchecksServer(httpserver).serve()
    now = datetime(2026, 10, 20, 11, 0, tzinfo=UTC)  # Hourly sync has been down since 10:05
    metrics = make(httpserver, clock=lambda: now).collect(OCTOBER).metrics()
    assert metrics["partial"] is True and "not over yet" in metrics["warnings"][0]
    hourly = metrics["jobs"][1]
    # watched 9 d 13 h = 824400 s = 229 periods; down 55 min: ceil(3300 / 3600) = 1 missed
    assert hourly == {"name": "Hourly sync", "runs": 229, "succeeded": 228, "failed": 1, "longest_gap_s": 3300}


def test_a_check_without_timeout_or_schedule_has_unknown_runs(httpserver):
    checks = [{**CHECKS[1], "timeout": None}, {**CHECKS[0], "schedule": "61 * * * *"},
              {**CHECKS[2], "schedule": "Sun *-*-* 02:00"}]  # a systemd OnCalendar schedule: not cron
    HealthchecksServer(httpserver, checks=checks).serve()
    metrics = make(httpserver).collect(OCTOBER).metrics()
    assert [job["runs"] for job in metrics["jobs"]] == [None, None, None]
    assert [job["longest_gap_s"] for job in metrics["jobs"]] == [8700, 84900, 2682000]  # down time still known
    assert metrics["jobs_run"] is None and metrics["longest_gap_s"] == 2682000
    assert "check 'Hourly sync' has neither a timeout nor a schedule: its runs are unknown" in metrics["warnings"]
    assert any("check 'Nightly backup': its schedule '61 * * * *'" in w for w in metrics["warnings"])
    assert any("check 'Offsite copy': its schedule 'Sun *-*-* 02:00'" in w for w in metrics["warnings"])


def test_a_wrong_key_names_the_variable(httpserver, monkeypatch, caplog):
    HealthchecksServer(httpserver).serve()
    monkeypatch.setenv("HEALTHCHECKS_API_KEY", "wrong-" + KEY)
    result = run(make(httpserver), OCTOBER)
    assert result.status == "failed"
    assert result.error == ("Healthchecks answered 401 UNAUTHORIZED: check HEALTHCHECKS_API_KEY (the project's API "
                            "key) and its permissions")
    assert leaks(result.error + caplog.text, KEY) == []


def test_no_checks_is_an_error_naming_the_tags(httpserver):
    HealthchecksServer(httpserver, checks=[]).serve()
    with pytest.raises(SourceError, match="source jobs: Healthchecks lists no checks with the tags nightly: check"):
        make(httpserver, tags=["nightly"]).collect(OCTOBER)


@pytest.mark.parametrize("path", ["/api/v3/checks/", f"/api/v3/checks/{NIGHTLY}/flips/"])
@pytest.mark.parametrize("fault", FAULTS)
def test_faults(fault, path, httpserver, caplog):
    check_fault(Faults(path, HealthchecksServer(httpserver).serve, lambda s: make(httpserver, s), OCTOBER,
                       hint="HEALTHCHECKS_API_KEY", secret=KEY), fault, httpserver, caplog)


@pytest.mark.parametrize("answer", [{"flips": {"up": 1}}, {"flips": [{"up": 1}]}, {"flips": [{"timestamp": "x"}]}],
                         ids=["not a list", "no timestamp", "bad timestamp"])
def test_malformed_flips_are_an_error_naming_the_check(answer, httpserver):
    HealthchecksServer(httpserver, checks=CHECKS[:1], flips={}).serve()
    httpserver.expect_request(f"/api/v3/checks/{NIGHTLY}/flips/").respond_with_json(answer)
    with pytest.raises(SourceError, match=f"/checks/{NIGHTLY}/flips/"):
        make(httpserver).collect(OCTOBER)


@pytest.mark.parametrize("root", ["", "/api/v3"], ids=["bare", "api root"])
def test_the_bare_address_works_as_well_as_the_api_root(root, httpserver):
    HealthchecksServer(httpserver).serve()
    assert make(httpserver, root=root).collect(OCTOBER).metrics()["jobs"] == JOBS


@pytest.mark.parametrize("tags", [[""], ["two words"]])
def test_bad_tags_are_found_before_any_request(tags, httpserver):
    with pytest.raises(ConfigError, match="source jobs: tags: expected tag names without spaces"):
        make(httpserver, tags=tags)
    assert httpserver.log == []


@pytest.mark.parametrize("code", [302, 307])
def test_a_redirect_to_another_server_is_refused_before_the_key_is_sent(code, httpserver, caplog):
    """requests drops Authorization on such a redirect, but not X-Api-Key: it would reach the other server."""
    elsewhere = HTTPServer(host="127.0.0.1", port=0)
    elsewhere.start()
    try:
        elsewhere.expect_request("/api/v3/checks/").respond_with_json({"checks": []})
        moved = f"http://localhost:{elsewhere.port}/api/v3/checks/"
        httpserver.expect_request("/api/v3/checks/").respond_with_response(
            Response(status=code, headers={"Location": moved}))
        result = run(make(httpserver), OCTOBER)
        assert result.status == "failed"
        assert "redirected to another server (http://localhost)" in result.error
        assert elsewhere.log == []
        assert leaks(result.error + caplog.text, KEY) == []
    finally:
        elsewhere.stop()
