"""One direction through the package (docs: DESIGN's data flow): the composer and the transports do not
load the collector registry, so a broken or slow collector plugin cannot touch composing or sending."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

LOADED = "import sys, {module}; print(' '.join(sorted(m for m in sys.modules if m.startswith('newsletter.'))))"


@pytest.mark.parametrize("module", ["newsletter.compose.render", "newsletter.compose.context",
                                    "newsletter.compose.yearly", "newsletter.delivery.transports",
                                    "newsletter.delivery.graph", "newsletter.delivery.ledger"])
def test_composer_and_transports_do_not_load_the_collectors(module):
    loaded = subprocess.run([sys.executable, "-c", LOADED.format(module=module)], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.split()
    assert module in loaded
    assert not [m for m in loaded if m.startswith("newsletter.collectors")], loaded
