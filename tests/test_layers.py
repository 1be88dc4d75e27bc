"""One direction through the package: the composer and the transports do not load the collector registry,
so a broken or slow collector plugin cannot touch composing or sending; and the workspace is a root the
stages take, which loads none of them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

LOADED = "import sys, {module}; print(' '.join(sorted(m for m in sys.modules if m.startswith('newsletter.'))))"


@pytest.mark.parametrize("module", ["newsletter.compose.render", "newsletter.compose.context",
                                    "newsletter.compose.yearly", "newsletter.delivery.registry",
                                    "newsletter.delivery.smtp", "newsletter.delivery.graph",
                                    "newsletter.delivery.ledger", "newsletter.delivery.directories.graph_group",
                                    "newsletter.delivery.directories.ldap"])
def test_composer_and_transports_do_not_load_the_collectors(module):
    loaded = subprocess.run([sys.executable, "-c", LOADED.format(module=module)], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.split()
    assert module in loaded
    assert not [m for m in loaded if m.startswith("newsletter.collectors")], loaded


def test_the_workspace_is_a_root_that_loads_none_of_the_stages():
    # the stages take the workspace; opening one must not pull in composing, delivery or the archive
    loaded = subprocess.run([sys.executable, "-c", LOADED.format(module="newsletter.workspace")], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split()
    stages = ("newsletter.compose", "newsletter.delivery", "newsletter.drafts", "newsletter.editions",
              "newsletter.archive", "newsletter.approval", "newsletter.operations", "newsletter.collect")
    # the root holds the registries: the transports' one (and the base class its entries are checked
    # against) binds [delivery.<name>] tables, so it loads with the config; no transport does
    registries = ("newsletter.delivery", "newsletter.delivery.base", "newsletter.delivery.registry")
    assert "newsletter.workspace" in loaded
    assert not [m for m in loaded if m not in registries
                and (m in stages or m.startswith(tuple(f"{stage}." for stage in stages)))], loaded


def test_the_commands_load_no_http_library_until_one_is_used():
    # requests and urllib3 take a tenth of the preview's start: only a source or transport on the
    # network loads them (the preview of the demo, check of a config and compose never do)
    probe = ("import sys, newsletter.cli, newsletter.config, newsletter.hosts, newsletter.drafts; "
             "print(' '.join(m for m in ('requests', 'urllib3') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout.split()
    assert loaded == []
