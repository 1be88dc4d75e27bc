"""Every registered HTTP source, found through the entry points, keeps the rules of the one HTTP
foundation (collectors/common.py): `base_url` is https:// except to this machine, `ca_bundle` is a
PEM file that base_url's certificate is checked against, and `deadline_s` bounds the collection.

Each source is configured from its sources/examples/<type>.toml, as a person would start, and run
against a TLS server on 127.0.0.1 with a private CA (trustme); the token services some of them call
first (Entra ID, Google's OAuth endpoint) are served there too.
"""

from __future__ import annotations

import functools
import json
import re
import ssl
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug import Request, Response

from newsletter.binding import Where, bind
from newsletter.collect import build_collectors, collect_month
from newsletter.collectors.common import HttpSource
from newsletter.collectors.registry import CollectorRegistry
from newsletter.config import SOURCE_KEYS, SourceConfig, load_config
from newsletter.errors import ConfigError
from newsletter.http import make_session
from newsletter.model import SourceResult
from newsletter.store import Store
from tests.conftest import REPO
from tests.contract.conftest import AFTER_OCTOBER, OCTOBER
from tests.contract.helpers import FAST, SECRET, trickle
from tests.contract.test_google_workspace import token_endpoint
from tests.contract.test_m365_defender import serve_login
from tests.fixtures.http import QuickServer
from tests.fixtures.workspace import BASE_CONFIG

REGISTRY = CollectorRegistry.from_entry_points()
EXAMPLES = REPO / "sources" / "examples"
# Every registered collector whose settings have a base_url: what makes a source an HTTP source.
HTTP_TYPES = [t for t in REGISTRY.types()
              if any(f.name == "base_url" for f in getattr(REGISTRY.get(t).Settings, "__dataclass_fields__", {})
                     .values())]
OFF_THIS_MACHINE = ["http://example.com", "http://10.0.0.5:8080/api", "http://127.0.0.1.example.com/",
                    "http://localhost.example.com:80", "http://[2001:db8::1]:8080"]
THIS_MACHINE = ["http://127.0.0.1:8080", "http://127.1.2.3:9/x", "http://localhost:8080", "http://[::1]:8080/",
                "https://example.com"]


def test_the_registry_has_http_sources_and_each_is_built_on_the_foundation():
    assert len(HTTP_TYPES) >= 12  # the help desks, mail filters and uptime monitors shipped today
    for type_ in HTTP_TYPES:
        assert issubclass(REGISTRY.get(type_), HttpSource), f"{type_} does not derive from common.HttpSource"


def example_table(type_: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The keys of sources/examples/<type>.toml as the collector binds them: its secrets set (the
    variables to SECRET, the files written, private), the common source keys left out."""
    table = tomllib.loads((EXAMPLES / f"{type_}.toml").read_text())
    for key in SOURCE_KEYS:
        table.pop(key, None)
    for key, value in list(table.items()):
        if key.endswith("_env"):
            monkeypatch.setenv(value, SECRET)
        elif key.endswith("_file"):
            secret = folder / Path(value).name
            secret.write_text("{}")
            secret.chmod(0o600)
            table[key] = str(secret)
    return table


def build(type_: str, folder: Path, monkeypatch: pytest.MonkeyPatch, *, state: Any = None, **keys: Any) -> HttpSource:
    """A collector of `type_` from its example with `keys` changed, validated as `check` does."""
    where = Where(folder / f"{type_}.toml")
    cls = REGISTRY.get(type_)
    settings = bind(cls.Settings, {**example_table(type_, folder, monkeypatch), **keys}, where)
    collector = cls(settings, name=type_, session=make_session(FAST), clock=lambda: AFTER_OCTOBER, state=state)
    collector.validate()
    return collector


@pytest.mark.parametrize("type_", HTTP_TYPES)
@pytest.mark.parametrize("url", OFF_THIS_MACHINE)
def test_plain_http_off_this_machine_is_refused(type_, url, tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=rf"^source {type_}: base_url: use https:// \(plain http:// is only "
                                          r"for this machine: localhost, 127\.0\.0\.0/8, ::1"):
        build(type_, tmp_path, monkeypatch, base_url=url)


@pytest.mark.parametrize("type_", HTTP_TYPES)
def test_https_and_plain_http_to_this_machine_are_accepted(type_, tmp_path, monkeypatch):
    for url in THIS_MACHINE:
        assert build(type_, tmp_path, monkeypatch, base_url=url).settings.base_url == url


@pytest.mark.parametrize("type_", HTTP_TYPES)
def test_a_refused_base_url_names_the_file_and_the_key(type_, tmp_path, monkeypatch):
    (tmp_path / "sources").mkdir()
    (tmp_path / "newsletter.toml").write_text(BASE_CONFIG)
    lines = [line for line in (EXAMPLES / f"{type_}.toml").read_text().splitlines() if not line.startswith("base_url")]
    at = next(i for i, line in enumerate(lines) if line.startswith("type ="))
    text = "\n".join([*lines[:at + 1], 'base_url = "http://example.com"', *lines[at + 1:]])
    for key, value in tomllib.loads(text).items():
        if key.endswith("_file"):  # secret files must exist and be private
            text = text.replace(f'"{value}"', f'"{tmp_path / "secret"}"')
            (tmp_path / "secret").write_text("{}")
            (tmp_path / "secret").chmod(0o600)
    (tmp_path / "sources" / f"{type_}.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        build_collectors(load_config(tmp_path / "newsletter.toml", REGISTRY), REGISTRY)
    message, name = str(info.value), tomllib.loads(text).get("name", type_)
    assert message.startswith(f"{tmp_path / 'sources' / type_}.toml: source {name}: base_url: use https://")
    assert "\n" not in message


@pytest.mark.parametrize("type_", HTTP_TYPES)
def test_a_ca_bundle_must_be_a_pem_file(type_, tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=rf"source {type_}: ca_bundle: .*missing.pem is not a file"):
        build(type_, tmp_path, monkeypatch, ca_bundle="missing.pem")
    (tmp_path / "ca.der").write_bytes(b"0\x82\x01\x0a")
    with pytest.raises(ConfigError, match=rf"source {type_}: ca_bundle: .*ca.der holds no PEM certificate"):
        build(type_, tmp_path, monkeypatch, ca_bundle="ca.der")
    (tmp_path / "ca.pem").write_bytes(trustme.CA().cert_pem.bytes())
    assert build(type_, tmp_path, monkeypatch, ca_bundle="ca.pem").settings.ca_bundle == tmp_path / "ca.pem"


class Vendor:
    """A TLS server on 127.0.0.1 whose certificate only the private CA in `bundle` vouches for."""

    def __init__(self, folder: Path) -> None:
        self.ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1").configure_cert(context)
        self.server = QuickServer(host="127.0.0.1", port=0, ssl_context=context, threaded=True)
        self.bundle = folder / "private-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.bundle))
        self.folder = folder

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.server.port}"

    def requests_under(self, path: str) -> list[Request]:
        return [request for request, _ in self.server.log if request.path.startswith(path)]


def entra_id(vendor: Vendor) -> dict[str, Any]:
    serve_login(vendor.server, [], secret=SECRET)
    return {"authority": vendor.base}


@functools.cache
def service_account_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def google_oauth(vendor: Vendor) -> dict[str, Any]:
    key = service_account_key()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = vendor.folder / "service-account.json"
    path.write_text(json.dumps({"type": "service_account", "project_id": "p", "private_key_id": "k1",
                                "private_key": pem, "client_email": "r@p.iam.gserviceaccount.com",
                                "client_id": "1", "token_uri": f"{vendor.base}/token"}))
    path.chmod(0o600)
    token_endpoint(vendor.server, key, [])
    return {"key_file": str(path)}


# Sources that fetch a token from another service before they call base_url: that service, served
# on the vendor's server, and the keys that point the source at it. Every other source needs nothing.
TOKEN_SERVICES: dict[str, Callable[[Vendor], dict[str, Any]]] = {"m365_defender": entra_id, "intune": entra_id,
                                                                  "google_workspace": google_oauth}


@pytest.fixture
def vendor(tmp_path) -> Iterator[Vendor]:
    vendor = Vendor(tmp_path)
    vendor.server.start()
    yield vendor
    vendor.server.clear()
    vendor.server.stop()


def sources_at(vendor: Vendor, types: list[str], monkeypatch, store: Store, **keys: Any
               ) -> list[tuple[SourceConfig, HttpSource]]:
    """Each source at base_url <vendor>/<type>, its token service answering; the session trusts the
    private CA for the token services only (ca_bundle is what base_url is checked against)."""
    overrides = {type_: TOKEN_SERVICES[type_](vendor) for type_ in types if type_ in TOKEN_SERVICES}
    built = []
    for type_ in types:
        collector = build(type_, vendor.folder, monkeypatch, state=store, base_url=f"{vendor.base}/{type_}",
                          **overrides.get(type_, {}), **keys)
        collector.session.verify, collector.session.trust_env = str(vendor.bundle), False
        built.append((SourceConfig(vendor.folder / f"{type_}.toml", type_, type_, False, True, collector.settings),
                      collector))
    return built


def collect(sources: list[tuple[SourceConfig, HttpSource]], **limits: Any) -> dict[str, SourceResult]:
    sources = [(SourceConfig(s.file, s.name, s.type, False, True, s.settings, **limits), c) for s, c in sources]
    return {result.name: result for result in collect_month(sources, OCTOBER)}


def not_found(request: Request) -> Response:
    return Response(json.dumps({"error": "no such thing here"}), 404, content_type="application/json")


@pytest.mark.parametrize("type_", HTTP_TYPES)
def test_ca_bundle_is_what_base_url_is_checked_against(type_, vendor, tmp_path, monkeypatch):
    with Store.open(tmp_path / "state") as store:
        [(source, trusting)] = sources_at(vendor, [type_], monkeypatch, store, ca_bundle=str(vendor.bundle))
        vendor.server.expect_request(re.compile(f"/{type_}/.*")).respond_with_handler(not_found)
        result = collect([(source, trusting)])[type_]
        assert vendor.requests_under(f"/{type_}/"), f"{type_} never reached base_url: {result.error}"
        assert result.status == "failed" and "404" in result.error and "TLS" not in result.error, result.error

        vendor.server.clear_log()
        [(source, without)] = sources_at(vendor, [type_], monkeypatch, store)
        result = collect([(source, without)])[type_]
    assert result.status == "failed" and "TLS verification failed" in result.error, result.error
    assert "set ca_bundle" in result.error
    assert not vendor.requests_under(f"/{type_}/"), "no request without a trusted certificate"


def test_deadline_s_bounds_every_http_source(vendor, tmp_path, monkeypatch):
    """A server that answers a byte every 0.2 s for 8 s: every source is given up at its 1 s deadline."""
    with Store.open(tmp_path / "state") as store:
        sources = sources_at(vendor, HTTP_TYPES, monkeypatch, store, ca_bundle=str(vendor.bundle))
        vendor.server.expect_request(re.compile("/(" + "|".join(HTTP_TYPES) + ")/.*")).respond_with_handler(
            trickle(every_s=0.2))
        started = time.monotonic()
        results = collect(sources, deadline_s=1)
    assert time.monotonic() - started < 5
    for type_ in HTTP_TYPES:
        assert results[type_].status == "failed" and "deadline_s" in results[type_].error, results[type_].error
