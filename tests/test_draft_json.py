"""`newsletter preview --format json`: the draft as data (subject, preheader, lead, hero facts,
sections), on stdout or in a .json file, for scripts and tests."""

from __future__ import annotations

import json

from click.testing import CliRunner

from newsletter.cli import cli

HERO_KEYS = {"key", "kind", "reason", "why", "value", "noun", "title", "framing", "note", "tone"}


def preview(tmp_path, *args: str):
    return CliRunner().invoke(cli, ["-q", "preview", "--demo", "--month", "2026-10", *args],
                              env={"NEWSLETTER_STATE_DIR": str(tmp_path / "state")})


def test_json_on_stdout_holds_the_story_of_the_draft(tmp_path):
    result = preview(tmp_path, "--format", "json")
    assert result.exit_code == 0, result.output
    draft = json.loads(result.stdout)  # nothing but the JSON on stdout
    assert draft["month"] == "2026-10"
    assert draft["subject"].startswith("IT in October: ") and len(draft["subject"]) <= 80
    assert draft["preheader"]
    assert draft["frozen"] is None
    assert draft["hero"], "the demo month has hero facts"
    for fact in draft["hero"]:
        assert set(fact) == HERO_KEYS
        assert fact["value"] and fact["noun"] and fact["why"]
        assert fact["tone"] in ("good", "neutral")
    sections = {s["name"]: s for s in draft["sections"]}
    assert set(sections) >= {"helpdesk", "mail-filter", "monitoring"}
    helpdesk = sections["helpdesk"]
    assert helpdesk["kind"] == "ticketing" and helpdesk["status"] == "ok" and helpdesk["title"]
    resolved = next(f for f in helpdesk["figures"] if f["key"] == "resolved")
    assert isinstance(resolved["value"], int) and resolved["display"] == f"{resolved['value']:,}"
    assert {"label", "framing", "comparison", "verdict", "shown"} <= set(resolved)


def test_json_has_each_backup_job_and_the_devices_of_each_operating_system(tmp_path):
    """What the edition's web page shows for them, as data: the rows of the backups and devices."""
    result = preview(tmp_path, "--format", "json")
    assert result.exit_code == 0, result.output
    sections = {s["kind"]: s for s in json.loads(result.stdout)["sections"]}
    jobs, systems = sections["backup"]["jobs"], sections["devices"]["by_os"]
    assert jobs and all(set(job) == {"name", "runs", "succeeded", "failed", "longest_gap_s"} for job in jobs)
    assert sum(job["runs"] for job in jobs) == next(f["value"] for f in sections["backup"]["figures"]
                                                    if f["key"] == "jobs_run")
    assert systems and all(set(group) == {"os", "managed", "compliant", "patched"} for group in systems)
    assert sum(group["managed"] for group in systems) == next(f["value"] for f in sections["devices"]["figures"]
                                                               if f["key"] == "managed")
    assert sections["ticketing"]["jobs"] == [] and sections["ticketing"]["by_os"] == []


def test_json_output_file_matches_what_stdout_prints(tmp_path):
    out = tmp_path / "draft.json"
    result = preview(tmp_path, "--output", str(out))
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text(encoding="utf-8"))
    printed = json.loads(preview(tmp_path, "--format", "json").stdout)
    assert written == printed
    html = preview(tmp_path, "--output", str(tmp_path / "d.html"))
    assert written["subject"] in html.stdout  # "Draft for October 2026 written to ... (subject)"


def test_json_format_and_a_file_name_that_says_otherwise_is_a_usage_error(tmp_path):
    result = preview(tmp_path, "--format", "json", "--output", str(tmp_path / "draft.html"))
    assert result.exit_code == 2
    assert "--format json does not match" in result.output


def test_a_frozen_edition_gives_what_was_sent_and_why_it_is_frozen(workspace):
    assert workspace.invoke("collect", "--month", "2026-10").exit_code == 0
    assert workspace.invoke("run", "--month", "2026-10").exit_code == 0
    result = workspace.invoke("preview", "--month", "2026-10", "--format", "json")
    assert result.exit_code == 0, result.output
    draft = json.loads(result.stdout)
    assert draft["frozen"] and "sent" in draft["frozen"]
    assert draft["subject"].startswith("IT in October: We moved the datacenter")
    assert (draft["lead"], draft["hero"], draft["sections"]) == (None, None, None)  # not kept in the archive
