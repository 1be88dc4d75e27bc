"""Every built-in source type has a sample, sources/examples/<type>.toml, that loads through the entry points and
passes validate(), and a section in the manual's pages on sources (docs/sources/, one page per kind), headed by
the type in backticks, that names the sample and documents each of its keys.

The types come from the live registry, not a list written here: a new collector without a sample or a section
fails these tests.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from newsletter.collectors.registry import CollectorRegistry
from newsletter.config import load_source
from tests.conftest import REPO
from tests.fixtures.manual import DOCS, documents_key, sections

EXAMPLES = REPO / "sources" / "examples"
SOURCE_PAGES = DOCS / "sources"
# the demo's collectors (demo.py, demo_quiet.py) are the built-in workspace's, not for copying
DEMO_MODULE = "newsletter.collectors.demo"


def builtin_collectors() -> dict[str, type]:
    """type -> class of every collector this distribution provides, the demo's left out."""
    registry = CollectorRegistry.from_entry_points()
    found = {type_: registry.get(type_) for type_ in registry.types()}
    return {type_: cls for type_, cls in found.items()
            if cls is not None and cls.__module__.startswith("newsletter.")
            and not cls.__module__.startswith(DEMO_MODULE)}


BUILTIN = builtin_collectors()


def test_the_registry_yields_the_built_in_types_of_every_kind():
    """The tests below are only as good as this list: it must hold every kind, or they prove little."""
    assert {cls.kind for cls in BUILTIN.values()} >= {"ticketing", "mail_security", "uptime", "highlights", "custom"}


def test_every_sample_is_of_a_built_in_type():
    assert {path.stem for path in EXAMPLES.glob("*.toml")} <= set(BUILTIN)


@pytest.mark.parametrize("type_", sorted(BUILTIN))
def test_sample_loads_and_validates(type_, tmp_path):
    example = EXAMPLES / f"{type_}.toml"
    assert example.is_file(), f"{type_} has no sample: write sources/examples/{type_}.toml"
    text = example.read_text()
    for key, value in tomllib.loads(text).items():  # secret files must exist and be private
        if key.endswith("_file"):
            secret = tmp_path / Path(value).name
            secret.write_text("{}")
            secret.chmod(0o600)
            text = text.replace(f'"{value}"', f'"{secret}"')
    copy = tmp_path / example.name
    copy.write_text(text)
    for companion in EXAMPLES.iterdir():  # data files a sample names (metrics.csv)
        if companion.suffix != ".toml" and companion.is_file():
            (tmp_path / companion.name).write_bytes(companion.read_bytes())
    registry = CollectorRegistry.from_entry_points()
    source = load_source(copy, registry)
    assert source.type == type_
    collector = registry.get(type_)(source.settings, name=source.name)
    collector.validate()
    assert collector._session is None  # validate() never touches the network


# The manual ---------------------------------------------------------------------------------------
def type_section(type_: str) -> tuple[str, str]:
    """(the section whose heading names `type_` in backticks, the text of its page outside every type's
    section: what the page says for all its types, such as shared keys)."""
    for path in sorted(SOURCE_PAGES.glob("*.md")):
        page = path.read_text()
        spans = sections(page)
        for section in spans:
            if f"`{type_}`" in section.title:
                shared = page
                for other in (s for s in spans if any(f"`{t}`" in s.title for t in BUILTIN)):
                    shared = shared.replace(page[other.start:other.end], "")
                return page[section.start:section.end], shared
    raise AssertionError(f"no heading in docs/sources/ names `{type_}`: give the source type a section of its own")


@pytest.mark.parametrize("type_", sorted(BUILTIN))
def test_the_manual_has_a_section_naming_the_sample(type_):
    section, _ = type_section(type_)
    assert f"sources/examples/{type_}.toml" in section


@pytest.mark.parametrize("type_", sorted(BUILTIN))
def test_the_manual_documents_every_key(type_):
    section, shared = type_section(type_)
    keys = [field.metadata.get("key", field.name) for field in dataclasses.fields(BUILTIN[type_].Settings)]
    missing = [key for key in keys if not (documents_key(section, key) or documents_key(shared, key))]
    assert not missing, f"docs: the section on `{type_}` does not document {', '.join(missing)}"
