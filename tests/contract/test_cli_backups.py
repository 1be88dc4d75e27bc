"""The backup sources through the CLI: TOML -> bind -> validate -> collect -> store, in the workspace's
time zone (Europe/Berlin)."""

from __future__ import annotations

import json

from tests.contract.helpers import leaks
from tests.contract.test_healthchecks import JOBS as CHECK_JOBS
from tests.contract.test_healthchecks import KEY, HealthchecksServer
from tests.contract.test_veeam import ACCESS, FILE_SERVER, PASSWORD, REFRESH, SQL, TAPE, VeeamServer


def configure(workspace, httpserver, password_line='password_env = "VEEAM_PASSWORD"'):
    workspace.write("sources/backup.toml", f"""\
        type = "veeam"
        name = "backup"
        base_url = "{httpserver.url_for('/')}"
        username = "svc.newsletter"
        {password_line}
        page_size = 2
        """)
    workspace.write("sources/jobs.toml", f"""\
        type = "healthchecks"
        name = "scheduled-jobs"
        base_url = "{httpserver.url_for('/')}"
        api_key_env = "HEALTHCHECKS_API_KEY"
        tags = ["backup", "prod"]
        """)


def test_collect_reads_both_for_the_berlin_month(workspace, httpserver):
    configure(workspace, httpserver)
    VeeamServer(httpserver).serve()
    HealthchecksServer(httpserver).serve()
    checked = workspace.invoke("check")
    assert checked.exit_code == 0, checked.output
    assert len(httpserver.log) == 0  # check makes no request
    result = workspace.invoke("collect", "--month", "2026-10", "--json",
                              env={"VEEAM_PASSWORD": PASSWORD, "HEALTHCHECKS_API_KEY": KEY})
    assert result.exit_code == 0, result.output
    sources = {s["name"]: s for s in json.loads(result.stdout)["sources"]}
    assert sources["backup"]["status"] == "ok" and sources["backup"]["kind"] == "backup"
    assert sources["backup"]["metrics"]["jobs"] == [FILE_SERVER, SQL, TAPE]
    assert sources["scheduled-jobs"]["status"] == "ok"
    assert sources["scheduled-jobs"]["metrics"]["jobs"] == CHECK_JOBS
    for secret in (PASSWORD, ACCESS, REFRESH, KEY):
        assert leaks(result.output + result.stderr, secret) == []


def test_a_password_written_in_the_file_is_refused_before_any_request(workspace, httpserver):
    configure(workspace, httpserver, password_line=f'password = "{PASSWORD}"')
    result = workspace.invoke("check")
    assert result.exit_code == 2
    assert "backup.toml: password: secrets are not written in config files; use password_env" in result.output
    assert PASSWORD not in result.output and len(httpserver.log) == 0
