"""Veeam Backup & Replication REST API v1: the OAuth2 password grant, x-api-version on every request,
GET /api/v1/sessions per type for the month, paged by skip/limit and pagination.total."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from werkzeug import Request, Response

from newsletter.binding import Secret, Where, bind
from newsletter.collectors.veeam import Veeam, VeeamSettings
from newsletter.errors import ConfigError, SourceError
from newsletter.http import make_session
from tests.contract.conftest import AFTER_OCTOBER, OCTOBER
from tests.contract.helpers import FAST, FAULTS, Faults, check_fault, json_response, leaks, run

PASSWORD = "vbr-P4ssw0rd-5e6f7a8b"
ACCESS, REFRESH = "vbr-access-1a2b3c4d5e6f", "vbr-refresh-9z8y7x6w5v"
ACCESS_2 = "vbr-access-second-0f9e8d7c"


def session(id_, name, ended, result="Success", kind="Job", state="Stopped", canceled=False):
    return {"id": id_, "name": name, "activityId": f"a-{id_}", "sessionType": kind,
            "creationTime": "2026-09-30T20:00:00Z",
            "endTime": ended, "state": state, "progressPercent": 100,
            "result": {"result": result, "message": "", "isCanceled": canceled}, "usn": 1}


# October 2026 in Berlin runs from 2026-09-30 22:00 UTC to 2026-10-31 23:00 UTC.
JOB = [
    session("s1", "File server nightly", "2026-09-30T21:30:00Z"),  # 23:30 on 30 September in Berlin: out
    session("s2", "File server nightly", "2026-09-30T22:30:00Z"),  # 00:30 on 1 October in Berlin: in
    session("s3", "File server nightly", "2026-10-10T22:30:00.1234567Z", "Warning"),
    session("s4", "File server nightly", "2026-10-21T00:30:00+02:00", "Failed"),
    session("s5", "File server nightly", "2026-10-31T22:30:00Z"),  # 23:30 on 31 October (CET): in
    session("s6", "File server nightly", "2026-10-31T23:30:00Z"),  # 00:30 on 1 November: out
    session("s7", "File server nightly", None, "None", state="Working"),  # still running: out
    session("s8", "File server nightly", "2026-10-25T01:00:00Z", state="Postprocessing"),  # not over: out
    session("q1", "SQL hourly", "2026-10-05T10:00:00Z", "Failed"),
    session("q2", "SQL hourly", "2026-10-05T11:00:00Z", "Failed", canceled=True),  # canceled: left out
    session("q3", "SQL hourly", "2026-10-15T10:00:00Z"),
    session("t1", "Tape weekly", "2026-10-04T06:00:00Z", "Failed"),
]
RESTORES = {
    "RestoreVm": [session("r1", "Restore of fs01", "2026-10-12T09:00:00Z", kind="RestoreVm"),
                  session("r2", "Restore of fs02", "2026-10-13T09:00:00Z", "Failed", kind="RestoreVm")],
    "InstantRecovery": [session("r3", "Instant recovery sql01", "2026-10-20T09:00:00Z", "Warning",
                                kind="InstantRecovery")],
    "FirstClassDiskInstantRestore": [],
}
# By hand: File server runs s2 s3 s4 s5 (2 Success, 1 Warning, 1 Failed); good runs end 30 Sep 22:30Z,
# 10 Oct 22:30Z, 31 Oct 22:30Z: gaps 1800, 864000, 1814400 (21 days) and 1800 s to the month's end.
# SQL hourly runs q1 q3 (1 Failed, 1 Success): from the start to q3 14 d 12 h = 1252800 s, from q3 to
# the end 16 d 13 h = 1429200 s.
FILE_SERVER = {"name": "File server nightly", "runs": 4, "succeeded": 2, "failed": 1, "longest_gap_s": 1814400}
SQL = {"name": "SQL hourly", "runs": 2, "succeeded": 1, "failed": 1, "longest_gap_s": 1429200}
# Tape weekly failed its one run: no good run all month, 31 days and the hour of 25 October = 2682000 s.
TAPE = {"name": "Tape weekly", "runs": 1, "succeeded": 0, "failed": 1, "longest_gap_s": 2682000}


class VeeamServer:
    """The token endpoint and the sessions collection, paging by skip/limit like the server."""

    def __init__(self, httpserver, *, sessions=None, restores=None):
        self.sessions = {"Job": JOB if sessions is None else sessions, **(RESTORES if restores is None else restores)}
        self.forms, self.asked = [], []
        self.httpserver = httpserver

    def token(self, request: Request) -> Response:
        form = parse_qs(request.get_data(as_text=True))
        self.forms.append((form, request.headers.get("x-api-version")))
        if form.get("grant_type") == ["password"] and form.get("password") != [PASSWORD]:
            return json_response({"error": "invalid_grant", "error_description": "Invalid credentials"}, 400)
        access = ACCESS_2 if form.get("grant_type") == ["refresh_token"] else ACCESS
        return json_response({"access_token": access, "token_type": "bearer", "refresh_token": REFRESH,
                              "expires_in": 900, "username": "svc.newsletter"})

    def list(self, request: Request) -> Response:
        self.asked.append((dict(request.args), request.headers.get("x-api-version"),
                           request.headers.get("Authorization")))
        rows = self.sessions.get(request.args["typeFilter"], [])
        skip, limit = int(request.args.get("skip", 0)), int(request.args.get("limit", 200))
        page = rows[skip:skip + limit]
        return json_response({"data": page, "pagination": {"total": len(rows), "count": len(page), "skip": skip,
                                                           "limit": limit}})

    def serve(self):
        self.httpserver.expect_request("/api/oauth2/token", method="POST").respond_with_handler(self.token)
        self.httpserver.expect_request("/api/v1/sessions").respond_with_handler(self.list)


def make(httpserver, session=None, clock=lambda: AFTER_OCTOBER, **keys):
    settings = bind(VeeamSettings, {"base_url": httpserver.url_for("/"), "username": "svc.newsletter",
                                    "password_env": "VEEAM_PASSWORD", "page_size": 2, **keys},
                    Where(Path("sources/backup.toml")))
    collector = Veeam(settings, name="backup", session=session or make_session(FAST), clock=clock)
    collector.validate()
    return collector


@pytest.fixture(autouse=True)
def password(monkeypatch):
    monkeypatch.setenv("VEEAM_PASSWORD", PASSWORD)


def test_month_figures_by_hand_in_berlin(httpserver):
    vendor = VeeamServer(httpserver)
    vendor.serve()
    metrics = make(httpserver).collect(OCTOBER).metrics()
    assert metrics["jobs"] == [FILE_SERVER, SQL, TAPE]
    assert {k: metrics[k] for k in ("jobs_run", "succeeded", "with_warnings", "failed", "restores",
                                    "longest_gap_s", "protected_bytes", "left_out")} == {
        "jobs_run": 7, "succeeded": 3, "with_warnings": 1, "failed": 3, "restores": 2,
        "longest_gap_s": 2682000, "protected_bytes": None, "left_out": 1}
    assert metrics["success_rate_pct"] == round(100 * 4 / 7, 4)
    assert "partial" not in metrics  # October is over
    [(form, version)] = vendor.forms
    assert form == {"grant_type": ["password"], "username": ["svc.newsletter"], "password": [PASSWORD]}
    assert version == "1.1-rev2"
    types = [args["typeFilter"] for args, _, _ in vendor.asked]
    assert types == ["Job"] * 6 + ["RestoreVm", "InstantRecovery", "FirstClassDiskInstantRestore"]
    for args, version, auth in vendor.asked:
        assert (args["endedAfterFilter"], args["endedBeforeFilter"]) == ("2026-09-30T22:00:00Z",
                                                                         "2026-10-31T23:00:00Z")
        assert (version, auth, args["limit"]) == ("1.1-rev2", f"Bearer {ACCESS}", "2")
    assert [args["skip"] for args, _, _ in vendor.asked[:6]] == ["0", "2", "4", "6", "8", "10"]


def test_api_version_and_restore_types_are_configurable(httpserver):
    vendor = VeeamServer(httpserver)
    vendor.serve()
    metrics = make(httpserver, api_version="1.2-rev0", restore_types=["RestoreVm"]).collect(OCTOBER).metrics()
    assert metrics["restores"] == 1
    assert {version for _, version, _ in vendor.asked} == {"1.2-rev0"} and vendor.forms[0][1] == "1.2-rev0"


def test_a_month_not_over_is_partial_and_measured_up_to_now(httpserver):
    VeeamServer(httpserver).serve()
    now = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
    metrics = make(httpserver, clock=lambda: now).collect(OCTOBER).metrics()
    assert metrics["partial"] is True and "not over yet" in metrics["warnings"][0]
    # s4 (20 Oct 22:30 UTC) and later runs have not ended yet; File server: s2 Success, s3 Warning. From
    # s3 to now is 9 d 13.5 h (826200 s), shorter than the 10 days from s2 to s3.
    assert metrics["jobs"][0] == {"name": "File server nightly", "runs": 2, "succeeded": 1, "failed": 0,
                                  "longest_gap_s": 864000}
    assert round((now - datetime(2026, 10, 10, 22, 30, 0, 123457, tzinfo=UTC)).total_seconds()) == 826200


def test_a_wrong_password_is_one_line_naming_the_source_and_the_secret_keys(httpserver, monkeypatch, caplog):
    VeeamServer(httpserver).serve()
    monkeypatch.setenv("VEEAM_PASSWORD", "wrong-" + PASSWORD)
    result = run(make(httpserver), OCTOBER)
    assert result.status == "failed"
    assert result.error == ("source backup: Veeam refused the sign-in of svc.newsletter (400): check VEEAM_PASSWORD "
                            "(password_env / password_file: the password of svc.newsletter) and the user's role "
                            "on the backup server")
    assert leaks(result.error + caplog.text, PASSWORD) == []


@pytest.mark.parametrize(("answer", "said"), [
    # the documented Error model of a 400 (the request body or a header the server cannot read)
    (json_response({"errorCode": "UnexpectedContent", "message": "The x-api-version header value is not "
                    "supported.", "resourceId": None}, 400),
     "400 UnexpectedContent: The x-api-version header value is not supported."),
    (json_response({"error": "unsupported_grant_type"}, 400), "400 unsupported_grant_type"),
    (Response("<html><body>Bad Request</body></html>", 400, content_type="text/html"), "400"),
])
def test_a_sign_in_request_the_server_cannot_read_is_not_called_a_wrong_password(answer, said, httpserver, caplog):
    VeeamServer(httpserver).serve()
    httpserver.clear()
    httpserver.expect_request("/api/oauth2/token", method="POST").respond_with_response(answer)
    result = run(make(httpserver, api_version="1.9-rev9"), OCTOBER)
    assert result.status == "failed"
    assert result.error == (f"source backup: Veeam could not read the sign-in request ({said}): check api_version "
                            "(\"1.9-rev9\", sent as the x-api-version header: the backup server must support it) "
                            "and base_url")
    assert leaks(result.error + caplog.text, PASSWORD) == []


def test_a_400_of_the_error_model_refusing_access_still_names_the_password(httpserver):
    VeeamServer(httpserver).serve()
    httpserver.clear()
    httpserver.expect_request("/api/oauth2/token", method="POST").respond_with_json(
        {"errorCode": "AccessDenied", "message": "Access is denied.", "resourceId": None}, 400)
    result = run(make(httpserver), OCTOBER)
    assert result.error.startswith("source backup: Veeam refused the sign-in of svc.newsletter (400): check "
                                   "VEEAM_PASSWORD")


def test_an_expired_token_is_refreshed_once(httpserver):
    vendor = VeeamServer(httpserver)
    httpserver.expect_oneshot_request("/api/v1/sessions").respond_with_json({"errorCode": "Unauthorized"}, 401)
    vendor.serve()
    metrics = make(httpserver).collect(OCTOBER).metrics()
    assert metrics["jobs"] == [FILE_SERVER, SQL, TAPE]
    assert [form["grant_type"] for form, _ in vendor.forms] == [["password"], ["refresh_token"]]
    assert vendor.forms[1][0]["refresh_token"] == [REFRESH]
    assert {auth for _, _, auth in vendor.asked} == {f"Bearer {ACCESS_2}"}


def test_a_token_refused_after_its_refresh_fails_naming_the_password(httpserver, caplog):
    vendor = VeeamServer(httpserver)
    httpserver.expect_request("/api/v1/sessions").respond_with_json({"errorCode": "Unauthorized"}, 401)
    vendor.serve()
    result = run(make(httpserver), OCTOBER)
    assert result.status == "failed" and "401" in result.error and "VEEAM_PASSWORD" in result.error
    assert len(vendor.forms) == 2  # one sign-in, one refresh, no loop
    for secret in (PASSWORD, ACCESS, ACCESS_2, REFRESH):
        assert leaks(result.error + caplog.text, secret) == []


@pytest.mark.parametrize("fault", FAULTS)
def test_faults_on_the_token_endpoint(fault, httpserver, caplog):
    check_fault(Faults("/api/oauth2/token", VeeamServer(httpserver).serve, lambda s: make(httpserver, s),
                       OCTOBER, hint="VEEAM_PASSWORD", secret=PASSWORD, method="POST"), fault, httpserver, caplog)


@pytest.mark.parametrize("fault", [f for f in FAULTS if f != "401"])  # a 401 there is refreshed: see above
def test_faults_on_the_sessions(fault, httpserver, caplog):
    check_fault(Faults("/api/v1/sessions", VeeamServer(httpserver).serve, lambda s: make(httpserver, s),
                       OCTOBER, hint="VEEAM_PASSWORD", secret=ACCESS), fault, httpserver, caplog)


def test_without_a_total_pages_are_read_while_they_come_full(httpserver):
    vendor = VeeamServer(httpserver)
    def without_total(request):
        answer = json.loads(vendor.list(request).get_data())
        return json_response({"data": answer["data"]})
    httpserver.expect_request("/api/oauth2/token", method="POST").respond_with_handler(vendor.token)
    httpserver.expect_request("/api/v1/sessions").respond_with_handler(without_total)
    assert make(httpserver).collect(OCTOBER).metrics()["jobs"] == [FILE_SERVER, SQL, TAPE]
    assert [args["skip"] for args, _, _ in vendor.asked[:7]] == ["0", "2", "4", "6", "8", "10", "12"]


def test_paging_that_repeats_itself_is_stopped(httpserver):
    vendor = VeeamServer(httpserver)
    httpserver.expect_request("/api/v1/sessions").respond_with_json(
        {"data": JOB[:2], "pagination": {"total": 1000, "count": 2, "skip": 0, "limit": 2}})
    vendor.serve()
    with pytest.raises(SourceError, match=r"same sessions for a later skip \(2\); stopped paging"):
        make(httpserver).collect(OCTOBER)


def test_paging_that_never_ends_is_stopped(httpserver):
    VeeamServer(httpserver).serve()
    httpserver.clear()
    httpserver.expect_request("/api/oauth2/token", method="POST").respond_with_json({"access_token": ACCESS})
    httpserver.expect_request("/api/v1/sessions").respond_with_json(
        {"data": [], "pagination": {"total": 10**9, "count": 0, "skip": 0, "limit": 2}})
    result = run(make(httpserver), OCTOBER)
    assert result.status == "failed" and "same page token twice; stopped to avoid a loop" in result.error
    counter = iter(range(10**6))
    httpserver.clear()
    httpserver.expect_request("/api/oauth2/token", method="POST").respond_with_json({"access_token": ACCESS})
    httpserver.expect_request("/api/v1/sessions").respond_with_handler(lambda request: json_response(
        {"data": [session(f"x{next(counter)}", "Endless", "2026-10-05T10:00:00Z")], "pagination": {"total": 10**9}}))
    result = run(make(httpserver), OCTOBER, max_pages=20)
    assert result.status == "failed" and "paging stopped after 20 pages" in result.error


def test_an_answer_without_data_is_an_error_naming_the_endpoint(httpserver):
    VeeamServer(httpserver).serve()
    httpserver.clear()
    httpserver.expect_request("/api/oauth2/token", method="POST").respond_with_json({"access_token": ACCESS})
    httpserver.expect_request("/api/v1/sessions").respond_with_data(json.dumps({"sessions": []}),
                                                                   content_type="application/json")
    with pytest.raises(SourceError, match="source backup: Veeam answered /api/v1/sessions without a data list"):
        make(httpserver).collect(OCTOBER)


@pytest.mark.parametrize(("keys", "words"), [
    ({"api_version": "v1"}, "api_version: expected <version>-rev<revision>"),
    ({"username": " "}, "username: give the Veeam user"),
    ({"restore_types": [""]}, "restore_types: expected session type names"),
    ({"page_size": 0}, "page_size: expected a value from 1 to 10000"),
])
def test_config_problems_are_found_before_any_request(keys, words, httpserver):
    with pytest.raises(ConfigError, match=words):
        make(httpserver, **keys)
    assert httpserver.log == []


def test_the_password_is_never_in_the_settings_repr():
    assert PASSWORD not in repr(VeeamSettings(base_url="https://vbr.example:9419", username="u",
                                              password=Secret(env="VEEAM_PASSWORD")))


def test_a_session_listed_again_on_a_later_page_counts_once(httpserver):
    """Skips shift when sessions come and go while the list is read: a session seen again is one run."""
    vendor = VeeamServer(httpserver, sessions=[JOB[1], JOB[2], JOB[2], JOB[3], JOB[4]])
    vendor.serve()
    metrics = make(httpserver).collect(OCTOBER).metrics()
    assert metrics["jobs"] == [{"name": "File server nightly", "runs": 4, "succeeded": 2, "failed": 1,
                                "longest_gap_s": 1814400}]
    assert (metrics["jobs_run"], metrics["with_warnings"]) == (4, 1)
