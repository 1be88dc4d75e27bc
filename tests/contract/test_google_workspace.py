"""Google Workspace Reports API through google-auth: a real RSA-signed JWT exchanged at the key
file's token_uri on 127.0.0.1, then one usage call per day."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug import Response

from newsletter.binding import Secret
from newsletter.collectors.google_workspace import SCOPE, GoogleWorkspace, GoogleWorkspaceSettings
from newsletter.errors import SourceError
from tests.contract.conftest import AFTER_OCTOBER, OCTOBER
from tests.contract.helpers import FAULTS, Faults, check_fault

ADMIN = "admin@corp.example"
ACCESS = "ya29.test-access-token"
GOOGLE_AUDIENCE = "https://oauth2.googleapis.com/token"  # google-auth signs for Google's endpoint, posts to token_uri


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def key_file(tmp_path, rsa_key, httpserver):
    pem = rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    info = {"type": "service_account", "project_id": "newsletter-test", "private_key_id": "k1", "private_key": pem,
            "client_email": "reports@newsletter-test.iam.gserviceaccount.com", "client_id": "1234567890",
            "token_uri": httpserver.url_for("/token")}
    path = tmp_path / "google-key.json"
    path.write_text(json.dumps(info))
    path.chmod(0o600)
    return path


def token_endpoint(httpserver, rsa_key, grants):
    """Google's OAuth token endpoint: verify the signed JWT assertion, answer an access token."""

    def handler(request):
        form = parse_qs(request.get_data(as_text=True))
        claims = jwt.decode(form["assertion"][0], rsa_key.public_key(), algorithms=["RS256"],
                            audience=GOOGLE_AUDIENCE)
        grants.append((form["grant_type"][0], claims["iss"], claims["sub"], claims["scope"]))
        return Response(json.dumps({"access_token": ACCESS, "expires_in": 3599, "token_type": "Bearer"}),
                        content_type="application/json")

    httpserver.expect_request("/token", method="POST").respond_with_handler(handler)


def usage(day, received, spam, rejected, **extra):
    parameters = [{"name": "gmail:num_emails_received", "intValue": str(received)},
                  {"name": "gmail:num_inbound_spam_emails", "intValue": str(spam)},
                  {"name": "gmail:num_inbound_rejected_emails", "intValue": str(rejected)}]
    return {"kind": "admin#reports#usageReports", "usageReports": [
        {"kind": "admin#reports#usageReport", "date": day, "entity": {"type": "CUSTOMER", "customerId": "C01abc"},
         "parameters": parameters}], **extra}


def not_published(day, form):
    """Google's answers for a day it has not (fully) published, as (status, body)."""
    if form == "400":  # what the Reports API answers for the days after its newest published one
        message = "Data for dates later than 2026-10-29 is not yet available. Please check back later"
        return 400, {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT",
                               "errors": [{"message": message, "domain": "global", "reason": "invalid"}]}}
    if form == "DATA_NOT_AVAILABLE":
        return 200, {"kind": "admin#reports#usageReports", "warnings": [
            {"code": "DATA_NOT_AVAILABLE", "message": f'Sorry, data for date {day} for application "gmail" is not '
             "available.", "data": [{"key": "application", "value": "gmail"}]}]}
    # PARTIAL_DATA_AVAILABLE: some of the day's counts are in, the rest comes hours later
    return 200, usage(day, 310, 12, 4, warnings=[
        {"code": "PARTIAL_DATA_AVAILABLE", "message": f'Data for date {day} for application "gmail" is not '
         "available right now, please try again after a few hours.",
         "data": [{"key": "application", "value": "gmail"}]}])


def reports_api(httpserver, late_form="DATA_NOT_AVAILABLE", late_days=("2026-10-30", "2026-10-31")):
    def handler(request):
        if request.headers.get("Authorization") != f"Bearer {ACCESS}":
            return Response('{"error": {"code": 401}}', 401)
        day = request.path.rsplit("/", 1)[1]
        if day in late_days:  # not published yet
            status, body = not_published(day, late_form)
            return Response(json.dumps(body), status, content_type="application/json")
        if day == "2026-10-15" and "pageToken" not in request.args:
            body = usage(day, 600, 0, 0, nextPageToken="page-2")
        elif day == "2026-10-15":
            body = usage(day, 400, 200, 50)
        else:
            body = usage(day, 1000, 200, 50)
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request(re.compile(r"/admin/reports/v1/usage/dates/\d{4}-\d{2}-\d{2}"), method="GET"
                              ).respond_with_handler(handler)


def make(httpserver, session, key_file):
    settings = GoogleWorkspaceSettings(key=Secret(file=key_file), admin_email=ADMIN, base_url=httpserver.url_for("/"))
    collector = GoogleWorkspace(settings, name="gmail", session=session, clock=lambda: AFTER_OCTOBER)
    collector.validate()
    return collector


def test_a_month_with_late_days_is_partial_not_wrong(httpserver, session, key_file, rsa_key):
    grants = []
    token_endpoint(httpserver, rsa_key, grants)
    reports_api(httpserver)
    metrics = make(httpserver, session, key_file).collect(OCTOBER).metrics()
    # 29 published days of 1000 received, 200 spam, 50 rejected (the 15th in two pages: 600 + 400)
    assert metrics["scanned"] == 29_000 and metrics["spam"] == 5_800 and metrics["rejected"] == 1_450
    assert metrics["blocked_total"] == 7_250
    assert metrics["phishing"] is None and metrics["malware"] is None
    assert metrics["partial"] is True and "2026-10-30, 2026-10-31" in metrics["warnings"][0]
    assert metrics["covered_days"] == 29
    assert grants == [("urn:ietf:params:oauth:grant-type:jwt-bearer",
                       "reports@newsletter-test.iam.gserviceaccount.com", ADMIN, SCOPE)]


@pytest.mark.parametrize("fault", FAULTS)
def test_faults(fault, httpserver, caplog, key_file, rsa_key):
    def serve():
        token_endpoint(httpserver, rsa_key, [])
        reports_api(httpserver)

    check_fault(Faults("/admin/reports/v1/usage/dates/2026-10-03", serve, lambda s: make(httpserver, s, key_file),
                       OCTOBER, hint=f"delegation for {SCOPE} as {ADMIN}", secret=ACCESS), fault, httpserver, caplog)


def test_a_refused_grant_names_the_key_file(httpserver, session, key_file):
    httpserver.expect_request("/token", method="POST").respond_with_json(
        {"error": "unauthorized_client", "error_description": "Client is unauthorized to retrieve access tokens"},
        status=401)
    with pytest.raises(SourceError, match=r"Google refused the service account .*unauthorized_client.*"
                                          r"google-key.json and its domain-wide delegation"):
        make(httpserver, session, key_file).collect(OCTOBER)


def test_a_key_file_that_is_not_a_key(httpserver, session, tmp_path):
    path = tmp_path / "key.json"
    path.write_text('{"type": "authorized_user"}')
    with pytest.raises(SourceError, match="is not a Google service account JSON key"):
        make(httpserver, session, path).collect(OCTOBER)


def test_days_not_over_yet_are_not_asked_for(httpserver, session, key_file, rsa_key):
    token_endpoint(httpserver, rsa_key, [])
    reports_api(httpserver)
    settings = GoogleWorkspaceSettings(key=Secret(file=key_file), admin_email=ADMIN, base_url=httpserver.url_for("/"))
    mid_october = datetime(2026, 10, 10, 12, 0, tzinfo=UTC)  # 05:00 on the 10th in California
    metrics = GoogleWorkspace(settings, name="gmail", session=session, clock=lambda: mid_october).collect(
        OCTOBER).metrics()
    assert metrics["scanned"] == 9 * 1000 and metrics["partial"] is True and metrics["covered_days"] == 9
    asked = [request.path.rsplit("/", 1)[1] for request, _ in httpserver.log if "/usage/dates/" in request.path]
    assert asked == [f"2026-10-{d:02d}" for d in range(1, 10)]


@pytest.mark.parametrize("form", ["400", "DATA_NOT_AVAILABLE", "PARTIAL_DATA_AVAILABLE"])
def test_days_not_published_yet_are_missing_days_in_every_form_google_sends(httpserver, session, key_file, rsa_key,
                                                                            form):
    """Collected on 1 November: Google has published October up to the 29th. Whether it says so with a
    400 or with a warning, the month is partial, names the days, and keeps the published days' figures."""
    token_endpoint(httpserver, rsa_key, [])
    reports_api(httpserver, late_form=form)
    first_of_november = datetime(2026, 11, 1, 16, 0, tzinfo=UTC)  # 08:00 in California
    settings = GoogleWorkspaceSettings(key=Secret(file=key_file), admin_email=ADMIN, base_url=httpserver.url_for("/"))
    stats = GoogleWorkspace(settings, name="gmail", session=session, clock=lambda: first_of_november).collect(OCTOBER)
    assert (stats.partial, stats.covered_days) == (True, 29)
    metrics = stats.metrics()
    # the 29 published days only: a day Google is still filling in is not counted in part
    assert metrics["scanned"] == 29_000 and metrics["spam"] == 5_800 and metrics["rejected"] == 1_450
    assert metrics["partial"] is True
    assert metrics["warnings"] == ["Google has not published all of 2026-10-30, 2026-10-31 yet (its data arrives "
                                   "days late); collect the month again later"]


def test_a_warning_about_another_application_leaves_the_day_whole(httpserver, session, key_file, rsa_key):
    token_endpoint(httpserver, rsa_key, [])
    other = {"code": "PARTIAL_DATA_AVAILABLE", "message": 'Data for date 2026-10-07 for application "drive" is not '
             "available right now, please try again after a few hours.",
             "data": [{"key": "application", "value": "drive"}]}
    httpserver.expect_request("/admin/reports/v1/usage/dates/2026-10-07").respond_with_json(
        usage("2026-10-07", 1000, 200, 50, warnings=[other]))
    reports_api(httpserver, late_days=())
    metrics = make(httpserver, session, key_file).collect(OCTOBER).metrics()
    assert metrics["scanned"] == 31_000 and metrics["partial"] is False and metrics["warnings"] == []


def test_another_bad_request_still_fails_and_says_why(httpserver, session, key_file, rsa_key):
    token_endpoint(httpserver, rsa_key, [])
    message = "Invalid value 'gmail:num_inbound_spam_emails'. Values must be valid parameters."
    httpserver.expect_request("/admin/reports/v1/usage/dates/2026-10-01").respond_with_json(
        {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}, status=400)
    with pytest.raises(SourceError, match=r"Google Reports API answered 400 for 2026-10-01: Invalid value "
                                          r"'gmail:num_inbound_spam_emails'") as info:
        make(httpserver, session, key_file).collect(OCTOBER)
    assert ACCESS not in str(info.value)


def test_a_month_with_no_day_published_fails_rather_than_say_zero(httpserver, session, key_file, rsa_key):
    token_endpoint(httpserver, rsa_key, [])
    reports_api(httpserver, late_form="400", late_days=tuple(f"2026-10-{d:02d}" for d in range(1, 32)))
    with pytest.raises(SourceError, match=r"Google has published no day of 2026-10 yet.*collect the month again"):
        make(httpserver, session, key_file).collect(OCTOBER)


@pytest.mark.parametrize("reports", [["gmail"], [{"parameters": ["gmail:num_emails_received"]}],
                                     [{"parameters": {"name": "gmail:num_emails_received"}}]],
                         ids=["report not an object", "parameter not an object", "parameters not a list"])
def test_a_usage_report_of_another_shape_names_base_url(reports, httpserver, session, key_file, rsa_key):
    token_endpoint(httpserver, rsa_key, [])
    httpserver.expect_request(re.compile(r"/admin/reports/v1/usage/dates/.*")).respond_with_json(
        {"kind": "admin#reports#usageReports", "usageReports": reports})
    with pytest.raises(SourceError, match=r"Google Reports API answered a usage report of another shape for "
                                          r"2026-10-01; check base_url"):
        make(httpserver, session, key_file).collect(OCTOBER)


@pytest.mark.parametrize("value", ['"-5"', "-5", "12.5", '"12.5"', "1e999", "NaN", "true"],
                         ids=["negative string", "negative", "fraction", "fraction string", "infinite", "nan",
                              "boolean"])
def test_a_count_that_is_no_whole_number_of_messages_is_named(value, httpserver, session, key_file, rsa_key):
    """Google sends int64 values as strings; a negative, fractional or infinite one is no count of
    mail, refused naming it rather than summed into the month (or failing as an OverflowError)."""
    token_endpoint(httpserver, rsa_key, [])
    body = json.dumps(usage("2026-10-01", 1000, 200, 50)).replace('"intValue": "200"', f'"intValue": {value}')
    httpserver.expect_request(re.compile(r"/admin/reports/v1/usage/dates/.*")).respond_with_data(
        body, content_type="application/json")
    with pytest.raises(SourceError, match=r"Google Reports API sent gmail:num_inbound_spam_emails = .+, not a "
                                          r"whole number"):
        make(httpserver, session, key_file).collect(OCTOBER)
