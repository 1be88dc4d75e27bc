"""The examples of the manual (README.md and docs/) work as written.

- Every TOML block parses; one with `[newsletter]`, `[delivery]` or `[run]` loads as a workspace's
  newsletter.toml, and one with a `type` loads and validates as a source.
- Every `newsletter` command line of a shell, cron or systemd block is one the command accepts.
- The theme examples (change colours and logo, replace a section, add one) render.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.collectors.registry import CollectorRegistry
from newsletter.compose.render import Renderer, Theme
from newsletter.config import load_config, load_source
from newsletter.model import SourceResult
from tests.conftest import REPO
from tests.fixtures.manual import DOCS, code_blocks, manual_pages
from tests.test_story import mail, tickets, uptime
from tests.test_theme import PNG_1PX, demo_context

WORKSPACE_TABLES = ("newsletter", "delivery", "run")
SAMPLES = REPO / "sources" / "examples"


def blocks(*languages: str) -> list:
    """pytest params of every code block of these languages in the manual, named page:number."""
    found = []
    for page in manual_pages():
        for number, body in enumerate(code_blocks(page.read_text(), *languages), 1):
            found.append(pytest.param(body, id=f"{page.relative_to(REPO)}:{number}"))
    return found


TOML_BLOCKS = blocks("toml")


def test_the_manual_has_examples_to_test():
    assert len(TOML_BLOCKS) >= 15 and len(command_lines()) >= 8


@pytest.mark.parametrize("block", TOML_BLOCKS)
def test_toml_example_parses(block):
    tomllib.loads(block)


def workspace(tmp_path: Path, newsletter_toml: str) -> Path:
    """A workspace around one example: its newsletter.toml, a highlights source, and the files it names (a
    `*_file` anywhere is replaced by a private file of the workspace, as secret files must exist and be private)."""
    for number, path in enumerate(re.findall(r'^\s*\w+_file\s*=\s*"([^"]+)"', newsletter_toml, re.M)):
        private = tmp_path / f"file-{number}"
        private.write_text("secret")
        private.chmod(0o600)
        newsletter_toml = newsletter_toml.replace(f'"{path}"', f'"{private}"')
    (tmp_path / "newsletter.toml").write_text(newsletter_toml)
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "highlights.toml").write_text('type = "highlights"\n')
    recipients = tomllib.loads(newsletter_toml).get("delivery", {}).get("recipients")
    if recipients:
        (tmp_path / recipients).write_text("email,name\nann@example.com,Ann\n")
    return tmp_path / "newsletter.toml"


# The pages on writing a plugin configure a plugin that is not installed here; their own tests
# (test_writing_a_transport.py, test_example_collector.py) install it and load those blocks.
PLUGIN_PAGES = ("writing-a-transport.md", "writing-a-collector.md")


@pytest.mark.parametrize("block", [b for b in TOML_BLOCKS if set(tomllib.loads(b.values[0])) & set(WORKSPACE_TABLES)
                                   and not b.id.startswith(tuple(f"docs/{page}" for page in PLUGIN_PAGES))])
def test_newsletter_toml_example_loads(block, tmp_path):
    config = load_config(workspace(tmp_path, block), CollectorRegistry.from_entry_points(), state_dir=tmp_path)
    assert config.sources


@pytest.mark.parametrize("block", [b for b in TOML_BLOCKS if "type" in tomllib.loads(b.values[0])])
def test_source_example_loads_and_validates(block, tmp_path):
    for sample in SAMPLES.iterdir():  # the data files a sample names (metrics.csv)
        if sample.suffix != ".toml":
            (tmp_path / sample.name).write_bytes(sample.read_bytes())
    (tmp_path / "source.toml").write_text(block)
    registry = CollectorRegistry.from_entry_points()
    source = load_source(tmp_path / "source.toml", registry)
    registry.get(source.type)(source.settings, name=source.name).validate()


def commands_in(body: str, language: str) -> list[list[str]]:
    """The arguments of each `newsletter` command in a shell, cron or systemd block (after `cd ... &&`, in a
    pipe, after a cron schedule, as ExecStart=)."""
    found = []
    for line in body.splitlines():
        if language == "ini":  # a unit file: only ExecStart= runs a command
            line = line.removeprefix("ExecStart=") if line.startswith("ExecStart=") else ""
        if line.lstrip().startswith("#"):
            continue
        if language == "cron":  # the five schedule fields come first
            line = line.split(None, 5)[5] if len(line.split()) > 5 else ""
        for command in re.split(r"&&|\|\|?|;", line):
            words = shlex.split(command, comments=True)
            if words and Path(words[0]).name == "newsletter":
                found.append(words[1:])
    return found


def command_lines() -> list:
    """pytest params of every `newsletter` command line of the manual's shell, cron and systemd blocks."""
    found = []
    for page in manual_pages():
        text, where = page.read_text(), page.relative_to(REPO)
        commands = [args for language in ("sh", "cron", "ini") for body in code_blocks(text, language)
                    for args in commands_in(body, language)]
        found += [pytest.param(args, id=f"{where}: newsletter {shlex.join(args)}") for args in commands]
    return found


@pytest.mark.parametrize("args", command_lines())
def test_command_line_example_is_accepted(args, monkeypatch):
    """The command line parses: its command exists and takes those options. Nothing runs."""
    from newsletter.cli import cli

    def commands(group):
        yield group
        for command in getattr(group, "commands", {}).values():
            yield from commands(command)

    for command in commands(cli):
        monkeypatch.setattr(command, "callback", lambda *args, **kwargs: None)
    result = CliRunner().invoke(cli, args, prog_name="newsletter")
    assert result.exit_code == 0, result.output


def theme_examples() -> tuple[list[str], list[str]]:
    text = (DOCS / "themes.md").read_text()
    part = text[text.index("### Change the colours and the logo"):text.index("## Per-person fields")]
    return code_blocks(part, "jinja"), code_blocks(part, "toml")


def test_theme_examples_render(tmp_path):
    jinja, toml = theme_examples()
    assert len(jinja) == 2 and len(toml) == 2
    theme = tmp_path / "acme"
    theme.mkdir()
    (theme / "theme.toml").write_text(toml[0])
    (theme / "logo.png").write_bytes(PNG_1PX)
    (theme / "newsletter.mjml.j2").write_text(jinja[0] + jinja[1])
    sections = tomllib.loads(toml[1])["newsletter"]["sections"]
    laptops = SourceResult.ok("team", "metrics_file", "custom", {"values": {"laptops_rolled_out": {
        "value": 42, "label": "Laptops rolled out", "unit": "count", "better": ""}}})
    tip = SourceResult.ok("highlights", "highlights", "highlights", {"items": [
        {"title": "Report phishing", "body": "Use the button.", "section": "tip_of_the_month"}]})
    results = [tickets(resolved=466, first=720), mail(48213, 750), uptime(99.98), laptops, tip]
    newsletter = Renderer(Theme(tmp_path, "acme")).render("2026-10", demo_context(sections=sections, results=results))
    html = newsletter.html
    assert "42 new laptops" in html and "Our first month of the roll-out." in html  # no earlier month stored
    assert html.index("42 new laptops") < html.index("Help desk")
    assert "#5b2c83" in html and 'alt="Acme"' in html
    assert any(image.filename == "logo.png" for image in newsletter.images)
    band = html[html.index("Report phishing") - 1500:html.index("Report phishing")]
    assert "background:#5b2c83" in band or "background-color:#5b2c83" in band
