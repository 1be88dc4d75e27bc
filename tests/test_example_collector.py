"""The example plugin of docs/writing-a-collector.md works as the page says: built from its own folder,
installed beside this project's wheel into a fresh venv (offline), it collects through `newsletter
collect --json` from a status service on 127.0.0.1, and its mistakes are reported like a built-in's."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_package import WHEELHOUSE, built, need_wheelhouse  # noqa: F401 (the project's wheel, built once here)

EXAMPLE = REPO / "docs" / "examples" / "newsletter-example-collector"
TOKEN = "st-example-token-8d1f"
CONFIG = """\
[newsletter]
company = "Example Corp"
team = "IT"
timezone = "Europe/Berlin"
state_dir = "state"

[delivery]
from = "IT <it@example.com>"
to = ["all@example.com"]
transport = "outbox"
"""


@pytest.fixture(scope="module")
def venv(tmp_path_factory, built) -> Path:  # noqa: F811
    """A fresh venv with this project's wheel and the example plugin's, from wheels on this machine only."""
    need_wheelhouse()
    project_wheel, _ = built
    source, dist = tmp_path_factory.mktemp("example") / "src", tmp_path_factory.mktemp("example-dist")
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    # built from a copy, as its author would from a checkout of it: setuptools writes beside the sources
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(dist), str(source)], check=True, capture_output=True, cwd=dist)
    (plugin_wheel,) = dist.glob("newsletter_example_collector-*.whl")
    venv = tmp_path_factory.mktemp("example-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-index", "--find-links",
                    str(WHEELHOUSE), str(project_wheel), str(plugin_wheel)], check=True, capture_output=True)
    return venv


def workspace(root: Path, base_url: str) -> Path:
    """newsletter.toml and the example's own sample source, pointed at `base_url`."""
    (root / "sources").mkdir(parents=True)
    (root / "newsletter.toml").write_text(CONFIG)
    sample = (EXAMPLE / "example_status.toml").read_text()
    assert 'base_url = "https://status.example.com/api"' in sample
    (root / "sources" / "status.toml").write_text(sample.replace("https://status.example.com/api", base_url))
    return root / "newsletter.toml"


def newsletter(venv: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(config.parent), "STATUS_TOKEN": TOKEN}
    return subprocess.run([str(venv / "bin" / "newsletter"), *args, "--config", str(config)], cwd=config.parent,
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.slow
def test_the_example_plugin_installs_and_collects_from_a_status_service(venv, tmp_path, httpserver):
    october = {"from": "2026-09-30T22:00:00Z", "to": "2026-10-31T23:00:00Z"}  # Berlin's October, in UTC
    httpserver.expect_request("/api/availability", headers={"Authorization": f"Bearer {TOKEN}"},
                              query_string=october).respond_with_json({"complete": True, "services": [
        {"name": "Email", "availability_pct": 99.98, "downtime_s": 540, "incidents": 2, "longest_outage_s": 300},
        {"name": "VPN", "availability_pct": 100, "downtime_s": 0, "incidents": 0, "longest_outage_s": 0},
        {"name": "Old intranet", "paused": True}]})
    config = workspace(tmp_path / "ws", httpserver.url_for("/api"))

    checked = newsletter(venv, config, "check")
    assert checked.returncode == 0, checked.stderr
    assert "(1 sources: status;" in checked.stdout and len(httpserver.log) == 0  # check asks nothing

    result = newsletter(venv, config, "collect", "--month", "2026-10", "--json")
    assert result.returncode == 0, result.stderr
    (source,) = json.loads(result.stdout)["sources"]
    assert (source["name"], source["type"], source["kind"], source["status"]) == (
        "status", "example_status", "uptime", "ok"), source
    assert source["metrics"] == {
        "services": [
            {"name": "Email", "uptime_pct": 99.98, "downtime_s": 540, "incidents": 2, "longest_outage_s": 300,
             "status": "monitored"},
            {"name": "VPN", "uptime_pct": 100.0, "downtime_s": 0, "incidents": 0, "longest_outage_s": 0,
             "status": "monitored"},
            {"name": "Old intranet", "uptime_pct": None, "downtime_s": None, "incidents": None,
             "longest_outage_s": None, "status": "paused"}],
        "overall_uptime_pct": 99.99, "partial": False, "warnings": []}
    assert TOKEN not in result.stdout + result.stderr


@pytest.mark.slow
def test_the_example_plugins_mistakes_are_one_line_naming_the_file_or_the_source(venv, tmp_path, httpserver):
    config = workspace(tmp_path / "ws", "http://status.example.com/api")  # a token in clear text to another host
    refused = newsletter(venv, config, "check")
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().splitlines()[-1].endswith(
        "status.toml: source status: base_url: expected https://... (http:// only to this machine), got "
        "'http://status.example.com/api'")

    httpserver.expect_request("/api/availability").respond_with_data("denied", 401)
    config.parent.joinpath("sources", "status.toml").write_text(
        (EXAMPLE / "example_status.toml").read_text().replace("https://status.example.com/api",
                                                               httpserver.url_for("/api")))
    failed = newsletter(venv, config, "collect", "--month", "2026-10", "--json")
    assert failed.returncode == 0, failed.stderr  # an optional source: a warning, and the run goes on
    (source,) = json.loads(failed.stdout)["sources"]
    assert source["status"] == "failed" and source["metrics"] == {}
    assert source["error"] == "the status service answered 401 UNAUTHORIZED: check STATUS_TOKEN and its permissions"
    assert TOKEN not in failed.stdout + failed.stderr
