"""Over the demo's last twelve months, no hero fact carries a decline: a volume that went down is
context (never "fewer", never red), and a service level that got worse is no hero fact at all.
Read through `preview --format json`, as a script would."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.period import Month

LAST = Month(2026, 11)  # the demo's newest month in these tests (the demo has numbers for any month)
DECLINE = re.compile(r"\b(fewer|less|slower|down|worse|lower|decline|drop)\b", re.IGNORECASE)


def hero(tmp_path, month: Month) -> dict:
    result = CliRunner().invoke(cli, ["-q", "preview", "--demo", "--month", month.label, "--format", "json"],
                                env={"NEWSLETTER_STATE_DIR": str(tmp_path / "state")})
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_no_hero_fact_of_the_last_twelve_months_carries_a_decline(tmp_path):
    months = [LAST.shift(-n) for n in range(12)]
    seen = []
    for month in months:
        draft = hero(tmp_path, month)
        assert len(draft["hero"]) == 3, (month.label, draft["hero"])
        for fact in draft["hero"]:
            said = " ".join((fact["title"], fact["framing"], fact["note"]))
            assert fact["tone"] != "bad", (month.label, fact)
            assert not DECLINE.search(said), (month.label, said)
            seen.append(fact["reason"])
    # the rules do more than fall back on the defaults: records and improvements make the hero too
    assert {"record", "improvement", "default"} <= set(seen), seen
