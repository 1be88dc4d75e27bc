"""No secret leaves through an error: every HTTP collector's auth style against a vendor whose error
page quotes the credentials it was sent (at the start, in the middle and past where a message is
cut; raw, URL-encoded and JSON-escaped), through the runner and the store, and through `collect --json`."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pytest_httpserver import HTTPServer
from werkzeug import Response

from newsletter.collect import build_collectors, collect_month
from newsletter.collectors.registry import CollectorRegistry
from newsletter.config import load_config
from newsletter.http import make_session
from newsletter.store import Store
from tests.contract.helpers import FAST, SECRET, echo_credentials, leaks
from tests.contract.scenario import MONTH
from tests.contract.test_m365_defender import ACCESS as M365_ACCESS
from tests.contract.test_m365_defender import AFTER_OCTOBER, TENANT, ca, login, serve_login  # noqa: F401  (ca, login: fixtures)
from tests.fixtures.workspace import BASE_CONFIG

GOOGLE_ACCESS = "ya29.echo-access-token-5d4c3b2a"
# What each style sends: Basic (three user forms), `token`, `Bearer`, a Password header, a form field,
# and bearer tokens fetched from a token endpoint (google-auth, msal).
STYLES = {
    "jira": 'type = "jira"\nemail = "it@example.com"\ntoken_env = "NL_SECRET"\nproject = "IT"',
    "zendesk": 'type = "zendesk"\nemail = "it@example.com"\ntoken_env = "NL_SECRET"',
    "freshservice": 'type = "freshservice"\napi_key_env = "NL_SECRET"',
    "freshdesk": 'type = "freshdesk"\napi_key_env = "NL_SECRET"',
    "glpi": 'type = "glpi"\nuser_token_env = "NL_SECRET"\napp_token_env = "NL_SECRET"',
    "servicenow-basic": 'type = "servicenow"\nusername = "svc.newsletter"\npassword_env = "NL_SECRET"',
    "servicenow-bearer": 'type = "servicenow"\ntoken_env = "NL_SECRET"',
    "rt": 'type = "rt"\ntoken_env = "NL_SECRET"',
    "rspamd": 'type = "rspamd"\npassword_env = "NL_SECRET"',
    "uptimerobot": 'type = "uptimerobot"\napi_key_env = "NL_SECRET"',
    "betterstack": 'type = "betterstack"\ntoken_env = "NL_SECRET"',
    "pingdom": 'type = "pingdom"\ntoken_env = "NL_SECRET"',
    "prometheus": 'type = "prometheus"\ntoken_env = "NL_SECRET"',
    "veeam": 'type = "veeam"\nusername = "svc.newsletter"\npassword_env = "NL_SECRET"',
    "healthchecks": 'type = "healthchecks"\napi_key_env = "NL_SECRET"',
    "zabbix": 'type = "zabbix"\ntoken_env = "NL_SECRET"\nslaid = 7',
    "knowbe4": 'type = "knowbe4"\napi_key_env = "NL_SECRET"',
    "google_workspace": 'type = "google_workspace"\nkey_file = "../google-key.json"\n'
                        'admin_email = "admin@corp.example"',
    "m365_defender": f'type = "m365_defender"\ntenant_id = "{TENANT}"\n'
                     'client_id = "11111111-2222-3333-4444-555555555555"\n'
                     'client_secret_env = "NL_SECRET"\nauthority = "AUTHORITY"',
}
SECRETS = (SECRET, GOOGLE_ACCESS, M365_ACCESS)


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def vendor(httpserver, login, rsa_key):  # noqa: F811
    """Token endpoints that answer, and an error page quoting the credentials everywhere else."""
    serve_login(login, [], secret=SECRET)
    httpserver.expect_request("/google_workspace/token", method="POST").respond_with_handler(
        lambda request: Response(json.dumps({"access_token": GOOGLE_ACCESS, "expires_in": 3599,
                                             "token_type": "Bearer"}), content_type="application/json"))
    return httpserver


def workspace(root: Path, server, login, rsa_key, styles) -> Path:  # noqa: F811
    """newsletter.toml and one source per style, each at its own path on the echoing server."""
    (root / "sources").mkdir(parents=True)
    (root / "newsletter.toml").write_text(BASE_CONFIG, encoding="utf-8")
    pem = rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    key = root / "google-key.json"
    key.write_text(json.dumps({"type": "service_account", "project_id": "p", "private_key_id": "k1",
                               "private_key": pem, "client_email": "r@p.iam.gserviceaccount.com",
                               "client_id": "1", "token_uri": server.url_for("/google_workspace/token")}))
    key.chmod(0o600)
    for style in styles:
        table = STYLES[style].replace("AUTHORITY", f"https://127.0.0.1:{login.port}")
        (root / "sources" / f"{style}.toml").write_text(
            f'{table}\nbase_url = "{server.url_for("/" + style)}"\n', encoding="utf-8")
    return root / "newsletter.toml"


def assert_no_leak(text: str, where: str) -> None:
    """No piece of any secret in `text`, in any of its wire forms (helpers.leaks)."""
    for secret in SECRETS:
        assert leaks(text, secret) == [], f"{where} shows the secret {secret!r}: {text[:2000]}"


@pytest.mark.parametrize("style", STYLES)
def test_an_error_page_quoting_the_credentials_shows_none_of_them(style, vendor, login, rsa_key, ca,  # noqa: F811
                                                                  tmp_path, monkeypatch):
    vendor.expect_request(re.compile(".*")).respond_with_handler(echo_credentials(500))
    monkeypatch.setenv("NL_SECRET", SECRET)
    bundle = tmp_path / "ca.pem"
    config_path = workspace(tmp_path / "ws", vendor, login, rsa_key, [style])
    ca.cert_pem.write_to_path(str(bundle))
    config = load_config(config_path, CollectorRegistry.from_entry_points())
    with Store.open(tmp_path / "state") as store:
        [(source, collector)] = build_collectors(config, CollectorRegistry.from_entry_points(), state=store)
        collector._session = make_session(FAST)
        collector._session.verify = str(bundle)  # the login server's private CA (msal needs https)
        collector._session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override verify
        collector.clock = lambda: AFTER_OCTOBER  # within Defender's 30 days of October
        [result] = collect_month([(source, collector)], MONTH)
        store.save_results(MONTH.label, [result])
    assert result.status == "failed" and "500" in result.error, result.error
    sent = " ".join(f"{request.headers} {request.get_data(as_text=True)}" for request, _ in vendor.log)
    assert any(leaks(sent, secret) for secret in SECRETS)  # the credentials did travel, and came back quoted
    assert_no_leak(result.error, "the result's error")
    with Store.open(tmp_path / "state") as store:
        [stored] = store.results(MONTH.label)
    assert_no_leak(stored.error, "the stored error")
    assert_no_leak((tmp_path / "state" / "newsletter.db").read_bytes().decode("latin-1"), "the database file")


def refuse_quoting_the_form(request) -> Response:
    """Entra refusing the client credentials with a description that quotes the secret it got, once
    whole and once across the 160th character, where the collector cuts the description."""
    secret = parse_qs(request.get_data(as_text=True)).get("client_secret", [""])[0]
    description = f"AADSTS7000215: Invalid client secret provided: {secret}.".ljust(150, "y") + f" {secret} Trace"
    return Response(json.dumps({"error": "invalid_client", "error_description": description}), 401,
                    content_type="application/json")


def test_a_token_endpoint_quoting_the_client_secret_shows_none_of_it(vendor, login, rsa_key, ca,  # noqa: F811
                                                                    tmp_path, monkeypatch):
    login.expect_oneshot_request(f"/{TENANT}/oauth2/v2.0/token", method="POST").respond_with_handler(
        refuse_quoting_the_form)
    monkeypatch.setenv("NL_SECRET", SECRET)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    config = load_config(workspace(tmp_path / "ws", vendor, login, rsa_key, ["m365_defender"]),
                         CollectorRegistry.from_entry_points())
    [(source, collector)] = build_collectors(config, CollectorRegistry.from_entry_points())
    collector._session = make_session(FAST)
    collector._session.verify, collector._session.trust_env = str(bundle), False
    collector.clock = lambda: AFTER_OCTOBER  # within Defender's 30 days of October
    [result] = collect_month([(source, collector)], MONTH)
    assert "refused the client credentials (invalid_client" in result.error
    assert_no_leak(result.error, "the result's error")


def test_collect_json_and_the_store_show_no_secret(vendor, login, rsa_key, ca, tmp_path):  # noqa: F811
    from click.testing import CliRunner

    from newsletter.cli import cli

    vendor.expect_request(re.compile(".*")).respond_with_handler(echo_credentials(400))
    bundle = tmp_path / "ca.pem"
    config_path = workspace(tmp_path / "ws", vendor, login, rsa_key, STYLES)
    ca.cert_pem.write_to_path(str(bundle))
    # the month of ten days ago, whatever today is: Defender still keeps some of it (30 days) and
    # Google has published some of it (days arrive late); the CLI has no clock to pass
    month = (datetime.now(MONTH.tz) - timedelta(days=10)).strftime("%Y-%m")
    result = CliRunner().invoke(cli, ["collect", "--config", str(config_path), "--month", month, "--json"],
                                env={"NL_SECRET": SECRET, "REQUESTS_CA_BUNDLE": str(bundle)},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output  # the sources are optional: their failures are warnings
    sources = {s["name"]: s for s in json.loads(result.stdout)["sources"]}
    assert set(sources) == set(STYLES)
    for name, source in sources.items():
        assert source["status"] == "failed" and "400" in source["error"], (name, source["error"])
    assert_no_leak(result.output + result.stderr, "collect --json")
    state = tmp_path / "ws" / "state"
    with Store.open(state) as store:
        assert_no_leak(" ".join(r.error or "" for r in store.results(month)), "the store")
    assert_no_leak((state / "newsletter.db").read_bytes().decode("latin-1"), "the database file")


@pytest.fixture
def elsewhere():
    """Another server (another port is another origin): whatever reaches it must hold no credential."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    server.expect_request(re.compile(".*")).respond_with_data("{}", content_type="application/json")
    yield server
    server.clear()
    server.stop()


@pytest.mark.parametrize("code", [302, 307])
@pytest.mark.parametrize("style", STYLES)
def test_a_redirect_to_another_host_takes_no_credential_there(style, code, vendor, elsewhere, login,  # noqa: F811
                                                              rsa_key, ca, tmp_path, monkeypatch):  # noqa: F811
    """requests drops only Authorization on such a redirect: an App-Token, X-Api-Key or Password header,
    and a 307's form or JSON body with the key or password in it, would be sent on to the other host."""
    vendor.expect_request(re.compile(".*")).respond_with_handler(lambda request: Response("", code, headers={
        "Location": elsewhere.url_for(request.path) + "?" + request.query_string.decode()}))
    monkeypatch.setenv("NL_SECRET", SECRET)
    bundle = tmp_path / "ca.pem"
    config_path = workspace(tmp_path / "ws", vendor, login, rsa_key, [style])
    ca.cert_pem.write_to_path(str(bundle))
    config = load_config(config_path, CollectorRegistry.from_entry_points())
    [(source, collector)] = build_collectors(config, CollectorRegistry.from_entry_points())
    collector._session = make_session(FAST)
    collector._session.verify, collector._session.trust_env = str(bundle), False
    collector.clock = lambda: AFTER_OCTOBER  # within Defender's 30 days of October
    [result] = collect_month([(source, collector)], MONTH)
    assert_no_leak(" ".join(f"{request.headers} {request.get_data(as_text=True)}" for request, _ in elsewhere.log),
                   "what the other host got")
    assert_no_leak(result.error or "", "the result's error")


@pytest.mark.parametrize("written", ["/ping/5f1e-secret-uuid", "/ping/5f1e-secret-uuid/"])
@pytest.mark.parametrize("answer", [404, 400])
def test_a_failed_ping_shows_no_part_of_the_ping_url(written, answer, httpserver, tmp_path, monkeypatch, caplog):
    """The ping URL is itself the secret (its path is the check's key): a failed ping names it by its key."""
    from newsletter.operations import Monitor
    from tests.contract.helpers import debug_everything

    httpserver.expect_request(re.compile(".*")).respond_with_data("no such check", status=answer)
    (tmp_path / "sources").mkdir()
    (tmp_path / "newsletter.toml").write_text(BASE_CONFIG.replace("[run]\n", '[run]\nping_url_env = "PING"\n'))
    monkeypatch.setenv("PING", httpserver.url_for(written))
    config = load_config(tmp_path / "newsletter.toml", CollectorRegistry.from_entry_points())
    debug_everything(caplog)
    Monitor(config, "run").ping("/start")
    assert [request.path for request, _ in httpserver.log] == ["/ping/5f1e-secret-uuid/start"]
    # ours at -vv (the CLI keeps urllib3 at WARNING, and the log of the server here is not ours)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("newsletter"))
    assert "run.ping_url" in logged and "5f1e-secret-uuid" not in logged, logged


def test_a_next_page_that_reads_as_this_server_but_goes_to_another_is_refused(vendor, elsewhere, login,  # noqa: F811
                                                                               rsa_key, tmp_path, monkeypatch):
    """"http://other\\@vendor/" names the vendor to urlsplit (user info "other\\") but the other server to
    urllib3, which ends the host at the backslash: the token must not go where requests would connect."""
    trick = f"http://127.0.0.1:{elsewhere.port}\\@127.0.0.1:{vendor.port}/betterstack/api/v2/monitors?page=2"
    vendor.expect_request("/betterstack/api/v2/monitors").respond_with_json({"data": [], "pagination": {"next": trick}})
    monkeypatch.setenv("NL_SECRET", SECRET)
    config = load_config(workspace(tmp_path / "ws", vendor, login, rsa_key, ["betterstack"]),
                         CollectorRegistry.from_entry_points())
    [(source, collector)] = build_collectors(config, CollectorRegistry.from_entry_points())
    collector._session = make_session(FAST)
    [result] = collect_month([(source, collector)], MONTH)
    assert elsewhere.log == [], "the token went to the other server"
    assert result.status == "failed" and "another server" in (result.error or ""), result.error
