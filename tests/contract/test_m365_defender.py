"""Microsoft Graph advanced hunting through msal: OpenID metadata and the token endpoint served
over TLS on 127.0.0.1 (msal only accepts https authorities), Graph on plain HTTP."""

from __future__ import annotations

import json
import ssl
from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest
import trustme
from pytest_httpserver import HTTPServer
from werkzeug import Response

from newsletter.binding import Secret
from newsletter.collectors.m365_defender import M365Defender, M365DefenderSettings
from newsletter.errors import SourceError
from newsletter.http import make_session
from tests.contract.conftest import AFTER_OCTOBER, FAST, OCTOBER
from tests.contract.helpers import FAULTS, Faults, check_fault

TENANT, CLIENT, ACCESS = "contoso.onmicrosoft.com", "11111111-2222-3333-4444-555555555555", "eyJ0eXAi.graph-token"
ROWS = [
    {"ThreatTypes": "", "DeliveryAction": "Delivered", "Count": 10000},
    {"ThreatTypes": "Spam", "DeliveryAction": "Junked", "Count": 800},
    {"ThreatTypes": "Spam", "DeliveryAction": "Blocked", "Count": "150"},
    {"ThreatTypes": "Phish", "DeliveryAction": "Blocked", "Count": 40},
    {"ThreatTypes": "Phish, Spam", "DeliveryAction": "Junked", "Count": 5},
    {"ThreatTypes": "Malware, Phish", "DeliveryAction": "Blocked", "Count": 3},
    {"ThreatTypes": "", "DeliveryAction": "Blocked", "Count": 7},  # a transport rule, no threat
]


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture(scope="module")
def login(ca):
    """The Entra ID side on https://127.0.0.1: OpenID configuration and the token endpoint."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def trusting_login(session, ca, folder):
    """`session`, trusting the login server's private CA (msal only accepts https authorities)."""
    bundle = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    session.verify = str(bundle)
    session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override verify
    return session


@pytest.fixture
def tls_session(ca, tmp_path):
    return trusting_login(make_session(FAST), ca, tmp_path)


def serve_login(login, grants, secret="m365-secret-value"):
    login.clear()
    base = f"https://127.0.0.1:{login.port}/{TENANT}"
    login.expect_request(f"/{TENANT}/v2.0/.well-known/openid-configuration").respond_with_json({
        "issuer": f"https://127.0.0.1:{login.port}/{TENANT}/v2.0",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize", "token_endpoint": f"{base}/oauth2/v2.0/token",
        "jwks_uri": f"{base}/discovery/v2.0/keys", "response_types_supported": ["code"]})

    def token(request):
        form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        grants.append(form)
        if form.get("client_secret") != secret:
            return Response(json.dumps({"error": "invalid_client", "error_description":
                                        "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1"}), 401,
                            content_type="application/json")
        return Response(json.dumps({"token_type": "Bearer", "expires_in": 3599, "access_token": ACCESS}),
                        content_type="application/json")

    login.expect_request(f"/{TENANT}/oauth2/v2.0/token", method="POST").respond_with_handler(token)


def serve_graph(httpserver, queries=None, rows=ROWS):
    def hunting(request):
        if request.headers.get("Authorization") != f"Bearer {ACCESS}":
            return Response('{"error": {"code": "InvalidAuthenticationToken"}}', 401)
        if queries is not None:
            queries.append(request.get_json()["Query"])
        body = {"schema": [{"name": "ThreatTypes", "type": "String"}, {"name": "DeliveryAction", "type": "String"},
                           {"name": "Count", "type": "Int64"}], "results": rows}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/v1.0/security/runHuntingQuery", method="POST").respond_with_handler(hunting)


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv("M365_CLIENT_SECRET", "m365-secret-value")


def make(httpserver, login, session):
    settings = M365DefenderSettings(tenant_id=TENANT, client_id=CLIENT, client_secret=Secret(env="M365_CLIENT_SECRET"),
                                    authority=f"https://127.0.0.1:{login.port}", base_url=httpserver.url_for("/v1.0"))
    collector = M365Defender(settings, name="defender", session=session, clock=lambda: AFTER_OCTOBER)
    collector.validate()
    return collector


def test_counts_by_threat_type_over_the_berlin_month(httpserver, login, tls_session):
    grants, queries = [], []
    serve_login(login, grants)
    serve_graph(httpserver, queries)
    metrics = make(httpserver, login, tls_session).collect(OCTOBER).metrics()
    # malware beats phish beats spam when a message has several threat types
    assert {k: metrics[k] for k in ("scanned", "spam", "phishing", "malware", "blocked_total")} == {
        "scanned": 11005, "spam": 950, "phishing": 45, "malware": 3, "blocked_total": 950 + 45 + 3 + 7}
    assert "datetime(2026-09-30T22:00:00Z)" in queries[0] and "datetime(2026-10-31T23:00:00Z)" in queries[0]
    assert 'EmailDirection == "Inbound"' in queries[0]
    assert grants[0]["grant_type"] == "client_credentials" and grants[0]["client_id"] == CLIENT
    assert grants[0]["scope"].endswith("/.default")
    # collected 2026-11-02 06:00 UTC: hunting data before 2026-10-03 06:00 UTC (08:00 CEST) is gone
    assert metrics["partial"] is True and "mail before 2026-10-03 08:00" in metrics["warnings"][0]
    assert metrics["covered_days"] == 28  # whole days: the 4th to the 31st


def test_threats_delivered_to_the_inbox_were_scanned_not_stopped(httpserver, login, tls_session):
    """A detection an allow list or an override let through lands in the inbox: it is not "stopped"."""
    serve_login(login, [])
    serve_graph(httpserver, rows=[*ROWS, {"ThreatTypes": "Phish", "DeliveryAction": "Delivered", "Count": 6},
                                  {"ThreatTypes": "Spam", "DeliveryAction": "Delivered", "Count": 20},
                                  {"ThreatTypes": "Malware", "DeliveryAction": "Replaced", "Count": 2}])
    metrics = make(httpserver, login, tls_session).collect(OCTOBER).metrics()
    assert {k: metrics[k] for k in ("scanned", "spam", "phishing", "malware", "blocked_total")} == {
        "scanned": 11005 + 28, "spam": 950, "phishing": 45, "malware": 5, "blocked_total": 950 + 45 + 5 + 7}


@pytest.mark.parametrize("fault", FAULTS)
def test_faults(fault, httpserver, caplog, login, ca, tmp_path):
    serve_login(login, [])
    check_fault(Faults("/v1.0/security/runHuntingQuery", lambda: serve_graph(httpserver),
                       lambda s: make(httpserver, login, trusting_login(s, ca, tmp_path)), OCTOBER,
                       hint="ThreatHunting.Read.All", secret=ACCESS, method="POST"), fault, httpserver, caplog)


def test_a_wrong_secret_is_named_not_shown(httpserver, login, tls_session):
    serve_login(login, [], secret="the-right-one")
    with pytest.raises(SourceError, match=r"refused the client credentials \(invalid_client: AADSTS7000215: "
                                          r"Invalid client secret provided\.\): check client_id, M365_CLIENT_SECRET"
                       ) as info:
        make(httpserver, login, tls_session).collect(OCTOBER)
    assert "m365-secret-value" not in str(info.value)


def test_an_authority_that_does_not_answer(httpserver, login, tls_session):
    login.clear()
    with pytest.raises(SourceError, match="check authority and tenant_id"):
        make(httpserver, login, tls_session).collect(OCTOBER)


def test_a_month_wholly_past_the_30_days_fails_saying_it_expired(httpserver, login, tls_session):
    """Collected on 15 December, all of October is older than advanced hunting keeps: no number is
    honest, so the source fails (never zeros marked partial) and says how to avoid it."""
    grants, queries = [], []
    serve_login(login, grants)
    serve_graph(httpserver, queries)
    collector = make(httpserver, login, tls_session)
    collector.clock = lambda: datetime(2026, 12, 15, 9, 0, tzinfo=UTC)
    with pytest.raises(SourceError, match=r"advanced hunting keeps 30 days and all of 2026-10 is older "
                                          r"\(kept since 2026-11-15 10:00\): its figures have expired\. Collect each "
                                          r"month early in the next one") as info:
        collector.collect(OCTOBER)
    assert "newsletter run" in str(info.value)
    assert queries == []  # nothing asked that could only answer nothing


def test_a_month_partly_past_the_30_days_says_which_days_it_covers(httpserver, login, tls_session):
    serve_login(login, [])
    serve_graph(httpserver)
    collector = make(httpserver, login, tls_session)
    collector.clock = lambda: datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # kept since 2026-10-21 09:00 UTC (11:00 CEST)
    stats = collector.collect(OCTOBER)
    assert stats.partial is True and stats.metrics()["partial"] is True
    assert list(stats.warnings) == stats.metrics()["warnings"] == [
        "advanced hunting keeps 30 days: these figures cover only 2026-10-21 11:00 to 2026-10-31 (the end of "
        "2026-10); mail before 2026-10-21 11:00 is no longer counted. Collect each month early in the next one "
        "(the daily 'newsletter run' collects it on run.send_day)"]


@pytest.mark.parametrize("count", ["NaN", "1e999", "12.5"], ids=["nan", "infinite", "fraction"])
def test_a_count_that_is_no_whole_number_is_named(count, httpserver, login, tls_session):
    serve_login(login, [])
    httpserver.expect_request("/v1.0/security/runHuntingQuery", method="POST").respond_with_data(
        '{"schema": [], "results": [{"ThreatTypes": "Spam", "DeliveryAction": "Junked", "Count": ' + count + '}]}',
        content_type="application/json")
    with pytest.raises(SourceError, match=r"Microsoft Graph sent a count of .*, not a whole number"):
        make(httpserver, login, tls_session).collect(OCTOBER)
