"""Every sample config in sources/examples loads and validates as a user's copy would."""

from __future__ import annotations

import pytest

from newsletter.collectors.registry import CollectorRegistry
from newsletter.config import load_source
from tests.conftest import REPO

TICKETING = ["jira", "zendesk", "freshservice", "servicenow", "rt"]


@pytest.mark.parametrize("type_", TICKETING)
def test_example_loads_and_validates(type_, tmp_path):
    text = (REPO / "sources" / "examples" / f"{type_}.toml").read_text()
    # ca_bundle must name an existing file; the example's is commented out.
    (tmp_path / f"{type_}.toml").write_text(text)
    registry = CollectorRegistry.from_entry_points()
    source = load_source(tmp_path / f"{type_}.toml", registry)
    assert source.type == type_ and source.name == "helpdesk"
    collector = registry.get(type_)(source.settings, name=source.name)
    collector.validate()  # no network: the session is never created
    assert collector._session is None


@pytest.mark.parametrize("type_", TICKETING)
def test_readme_documents_it(type_):
    readme = (REPO / "README.md").read_text()
    assert f"| `{type_}` | ticketing |" in readme and f"sources/examples/{type_}.toml" in readme
