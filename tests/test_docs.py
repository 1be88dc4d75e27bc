"""README.md is the landing page and docs/ the manual: the README stays short and its links lead somewhere; the
configuration page documents every key of newsletter.toml and every key a source takes.

(`mkdocs build --strict` in `make test` checks the links inside docs/; tests/test_readme_examples.py runs the
examples; tests/test_source_examples.py checks each source type's section.)
"""

from __future__ import annotations

import dataclasses
import re
import typing

import markdown
import pytest

from newsletter.collectors.registry import CollectorRegistry
from newsletter.config import SOURCE_KEYS, load_config
from newsletter.delivery.registry import TransportRegistry
from tests.conftest import REPO
from tests.fixtures.manual import DOCS, documents_key, sections

README = REPO / "README.md"
CONFIGURATION = DOCS / "configuration.md"
README_LIMIT = 12 * 1024  # bytes: a landing page, read on one or two screens; the manual is docs/
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_the_readme_is_a_landing_page_under_12_kb():
    size = len(README.read_bytes())
    assert size < README_LIMIT, (f"README.md is {size:,} bytes, over {README_LIMIT:,}: it is the landing page; "
                                 "write the details on a page of docs/ and link to it")


def test_the_readme_opens_with_the_two_set_up_commands():
    first_screen = README.read_text()[:1500]
    assert "make demo" in first_screen and "make test" in first_screen


def anchors(page: str) -> set[str]:
    """The ids mkdocs gives the headings of a page (the same Markdown toc extension)."""
    converter = markdown.Markdown(extensions=["toc", "tables"])
    converter.convert(page)

    def walk(tokens):
        for token in tokens:
            yield token["id"]
            yield from walk(token["children"])

    return set(walk(converter.toc_tokens))


def test_every_link_of_the_readme_leads_to_a_file_and_heading_of_this_repository():
    links = [link for link in _LINK.findall(README.read_text()) if not re.match(r"[a-z]+:", link)]
    assert any(link.startswith("docs/") for link in links), "the README links into the manual"
    for link in links:
        path, _, anchor = link.partition("#")
        target = REPO / path
        assert target.exists(), f"README.md links to {link}, which is not in the repository"
        if anchor:
            assert anchor in anchors(target.read_text()), f"README.md links to {link}: {path} has no such heading"


def table_keys(settings: object, table: str) -> typing.Iterator[tuple[str, str]]:
    """(table, key) for every key of a bound settings object and of its sub-tables, as newsletter.toml spells
    them: a secret `password` is `password_env` / `password_file`."""
    hints = typing.get_type_hints(type(settings))
    for field in dataclasses.fields(settings):
        key, value = field.metadata.get("key", field.name), getattr(settings, field.name)
        if dataclasses.is_dataclass(value):
            yield from table_keys(value, f"{table}.{key}")
        else:
            yield table, f"{key}_env" if "Secret" in str(hints[field.name]) else key


def configuration_keys() -> list:
    """Every (table, key) of newsletter.toml, from the reference workspace's bound config."""
    config = load_config(REPO / "newsletter.toml", CollectorRegistry.from_entry_points())
    tables = [(name, getattr(config, name)) for name in ("newsletter", "delivery", "run")]
    transports = TransportRegistry.from_entry_points()  # every built-in transport's table, used or not
    tables += [(f"delivery.{name}", transports.get(name).Settings()) for name in transports.names()]
    return [pytest.param(table, key, id=f"{table}.{key}")
            for name, settings in tables for table, key in table_keys(settings, name)]


def table_section(table: str) -> str:
    """The section of docs/configuration.md headed `[table]`, without the sections of its sub-tables."""
    page = CONFIGURATION.read_text()
    spans = sections(page)
    for section in spans:
        if section.title == f"`[{table}]`":
            inner = [s.start for s in spans if section.start < s.start < section.end]
            return page[section.start:inner[0] if inner else section.end]
    raise AssertionError(f"docs/configuration.md has no section headed `[{table}]`")


def test_the_keys_come_from_every_table():
    assert {param.values[0] for param in configuration_keys()} >= {"newsletter", "delivery", "delivery.smtp", "run"}


@pytest.mark.parametrize(("table", "key"), configuration_keys())
def test_the_configuration_page_documents_every_key_of_newsletter_toml(table, key):
    assert documents_key(table_section(table), key.removesuffix("_env")), (
        f"docs/configuration.md: the `[{table}]` section does not document `{key}`")


@pytest.mark.parametrize("key", SOURCE_KEYS)
def test_the_configuration_page_documents_every_key_a_source_takes(key):
    page = CONFIGURATION.read_text()
    found = [section for section in sections(page) if section.title == "Sources"]
    assert found and documents_key(page[found[0].start:found[0].end], key), (
        f"docs/configuration.md: the Sources section does not document `{key}`")


def test_the_configuration_page_lists_every_built_in_source_type():
    from tests.test_source_examples import BUILTIN

    page = CONFIGURATION.read_text()
    table = page[page.index("### Source types"):page.index("### Collectors of your own")]
    listed = set(re.findall(r"`([a-z0-9_]+)`", table))
    missing = sorted(set(BUILTIN) - listed)
    assert not missing, f"docs/configuration.md: the Source types table does not list {', '.join(missing)}"



def theme_keys(table: dict, prefix: str = "") -> typing.Iterator[tuple[str, str]]:
    """(table, key) of every value of a theme.toml; [headings] as one, since its keys are the sections'."""
    for key, value in table.items():
        if isinstance(value, dict):
            yield from [(f"{prefix}{key}", "")] if key == "headings" else theme_keys(value, f"{prefix}{key}.")
        else:
            yield prefix.removesuffix("."), key


def test_the_themes_page_documents_every_key_of_the_built_in_theme_toml():
    import tomllib

    page = (DOCS / "themes.md").read_text()
    rows = [line.split("|")[1] for line in page[page.index("## Branding and themes"):].splitlines()
            if line.startswith("| `")]
    built_in = tomllib.loads((REPO / "templates" / "default" / "theme.toml").read_text())
    missing = [f"{table}.{key}".strip(".") for table, key in theme_keys(built_in)
               if not any((not table or f"`[{table}]`" in row)
                          and (not key or f"`{key}`" in row.replace(f"`[{table}]`", "")) for row in rows)]
    assert not missing, f"docs/themes.md: the theme.toml table does not document {', '.join(missing)}"


def shape_keys(shape: object) -> typing.Iterator[str]:
    """Every key of a pinned `collect --json` shape, nested ones included (a custom metric's own name left out)."""
    if isinstance(shape, dict):
        for key, inner in shape.items():
            if key != "values":
                yield key
            yield from shape_keys(next(iter(inner.values())) if key == "values" else inner)
    elif isinstance(shape, list):
        for inner in shape:
            yield from shape_keys(inner)


@pytest.mark.parametrize("kind", ["ticketing", "mail_security", "uptime", "highlights", "custom", "backup",
                                  "devices", "awareness"])
def test_the_metric_definitions_name_every_key_collect_json_gives(kind):
    from tests import test_json_shape as pinned

    quoted = {"quotes": [{"text": "str", "rated_at": "str"}]}  # with quotes = true (test_json_shape pins it)
    shapes = {"ticketing": [pinned.TICKETING, quoted], "mail_security": [pinned.EXPORT_MAIL, pinned.COUNTER_MAIL],
              "uptime": [pinned.UPTIME], "highlights": [pinned.HIGHLIGHTS], "custom": [pinned.CUSTOM],
              "backup": [pinned.BACKUP], "devices": [pinned.DEVICES], "awareness": [pinned.AWARENESS]}[kind]
    page = (DOCS / "metrics.md").read_text()
    spans = sections(page)
    own = next(s for s in spans if s.title.endswith(f"(`{kind}`)"))
    every = next(s for s in spans if s.title == "Every kind")
    text = page[own.start:own.end] + page[every.start:every.end]
    missing = sorted({key for shape in shapes for key in shape_keys(shape) if f"`{key}`" not in text})
    assert not missing, f"docs/metrics.md: the `{kind}` section does not name {', '.join(missing)}"


def test_the_pages_on_collectors_name_every_kind_and_its_result_type():
    from newsletter.results import KIND_TYPES

    guide = (DOCS / "writing-a-collector.md").read_text()
    rows = [line for line in guide.splitlines() if line.startswith("| `")]
    missing = [kind for kind, cls in KIND_TYPES.items()
               if not any(line.startswith(f"| `{kind}` |") and f"`{cls.__name__}`" in line for line in rows)]
    assert not missing, f"docs/writing-a-collector.md: the result of each kind does not give {', '.join(missing)}"
    key_row = next(line for line in rows if line.startswith("| `kind` |"))
    own = CONFIGURATION.read_text()
    own = own[own.index("### Collectors of your own"):]
    for where, text in (("writing-a-collector.md, the `kind` row", key_row), ("configuration.md", own)):
        unnamed = [kind for kind in KIND_TYPES if f"`{kind}`" not in text]
        assert not unnamed, f"docs/{where} does not name the kinds {', '.join(unnamed)}"


def test_the_themes_page_lists_every_block_of_the_built_in_template():
    template = (REPO / "templates" / "default" / "newsletter.mjml.j2").read_text()
    page = (DOCS / "themes.md").read_text()
    table = page[page.index("## The default theme's blocks"):page.index("### Change the colours and the logo")]
    cells = " ".join(line.split("|")[1] for line in table.splitlines() if line.startswith("| `"))
    blocks = dict.fromkeys(re.findall(r"{%-? *block (\w+)", template))
    missing = [block for block in blocks if f"`{block}`" not in cells]
    assert not missing, f"docs/themes.md: the table of blocks does not list {', '.join(missing)}"
