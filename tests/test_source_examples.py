"""Every sources/examples/<type>.toml loads through the entry points and passes validate()."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from newsletter.collectors.registry import CollectorRegistry
from newsletter.config import load_source

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "sources" / "examples").glob("*.toml"))
MAIL_AND_UPTIME_TYPES = {"rspamd", "google_workspace", "m365_defender", "exchange_csv", "uptimerobot", "betterstack",
                 "pingdom", "prometheus"}


def test_each_mail_and_uptime_collector_has_an_example():
    assert {path.stem for path in EXAMPLES} >= MAIL_AND_UPTIME_TYPES


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_loads_and_validates(example, tmp_path):
    copy = tmp_path / example.name
    text = example.read_text()
    for key, value in tomllib.loads(text).items():  # secret files must exist and be private
        if key.endswith("_file"):
            secret = tmp_path / Path(value).name
            secret.write_text("{}")
            secret.chmod(0o600)
            text = text.replace(f'"{value}"', f'"{secret}"')
    copy.write_text(text)
    for companion in example.parent.iterdir():  # data files an example names (metrics.csv)
        if companion.suffix != ".toml" and companion.is_file():
            (tmp_path / companion.name).write_bytes(companion.read_bytes())
    registry = CollectorRegistry.from_entry_points()
    source = load_source(copy, registry)
    assert source.type == example.stem
    collector = registry.get(source.type)(source.settings, name=source.name)
    collector.validate()
