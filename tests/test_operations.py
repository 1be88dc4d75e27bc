"""The daily `run` decision as a function of the schedule, the store and the clock: nothing sent, nothing
written, so each answer can be pinned with a clock of the test's own."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from newsletter.collectors.registry import CollectorRegistry
from newsletter.config import load_config
from newsletter.errors import NothingToDo
from newsletter.model import SourceResult
from newsletter.operations import decide_run
from newsletter.period import Month
from newsletter.store import Store
from tests.fixtures.workspace import BASE_CONFIG

BERLIN = ZoneInfo("Europe/Berlin")
OCT = Month.parse("2026-10", BERLIN)
DUE = datetime(2026, 11, 2, 8, tzinfo=BERLIN)  # send_day = 2
LATE = datetime(2026, 11, 20, 8, tzinfo=BERLIN)  # 18 days after it was due; max_days_late = 10


@pytest.fixture
def config(workspace):
    workspace.configure(base=BASE_CONFIG.replace("max_days_late = 4000", "send_day = 2\nmax_days_late = 10"))
    return load_config(workspace.config, CollectorRegistry.from_entry_points())


@pytest.fixture
def store():
    with Store.memory() as store:
        yield store


def stored(store: Store, month: Month) -> None:
    """Something collected for `month` (what it is does not matter to the decision)."""
    store.save_results(month.label, [SourceResult("desk", "demo", "ticketing", "failed", error="down")])


def test_a_due_edition_is_collected_checked_for_partial_sources_and_sent(config, store):
    decision = decide_run(config, store, OCT, DUE)
    assert (decision.month, decision.collect, decision.backfill, decision.check_partial) == (OCT, True, 0, True)
    assert decision.too_late is None and decision.notes == ()


def test_before_its_day_nothing_is_done_and_nothing_written(config, store):
    with pytest.raises(NothingToDo, match="due on 2026-11-02"):
        decide_run(config, store, OCT, datetime(2026, 11, 1, 23, tzinfo=BERLIN))
    with pytest.raises(NothingToDo, match="due on"):  # a month not over, even with --force
        decide_run(config, store, OCT, datetime(2026, 10, 30, tzinfo=BERLIN), force=True)
    assert store.editions() == []


def test_a_late_edition_is_refused_without_being_recorded_and_force_sends_it(config, store):
    decision = decide_run(config, store, OCT, LATE)
    assert decision.too_late and "18 days late" in decision.too_late and "--force" in decision.too_late
    assert store.edition(OCT.label) is None, "deciding writes nothing: the run records the skip"
    forced = decide_run(config, store, OCT, LATE, force=True)
    assert forced.too_late is None and forced.collect and not forced.check_partial


def test_a_started_send_is_finished_however_late_without_collecting_again(config, store):
    stored(store, OCT)
    store.queue(OCT.label, ["a@example.com", "b@example.com"])
    store.mark(OCT.label, "a@example.com", "sent")  # someone has it: the rest get it too
    for status in ("sending", "failed"):
        store.save_edition(OCT.label, status)
        decision = decide_run(config, store, OCT, LATE)
        assert decision.too_late is None and not decision.collect


def test_a_draft_waiting_for_approval_keeps_the_numbers_the_reviewers_saw(config, store):
    store.save_edition(OCT.label, "draft")
    assert decide_run(config, store, OCT, DUE).collect, "nothing stored yet: collected"
    stored(store, OCT)
    for status in ("draft", "approved"):
        store.save_edition(OCT.label, status)
        assert not decide_run(config, store, OCT, DUE).collect


def test_the_demo_makes_its_history_and_is_never_too_late(config, store):
    decision = decide_run(config, store, OCT, LATE, demo=True)
    assert decision.too_late is None and decision.collect and decision.check_partial
    assert decision.backfill == config.newsletter.history_months


def test_an_earlier_edition_never_sent_is_a_note_not_caught_up(config, store):
    stored(store, OCT.previous())
    (note,) = decide_run(config, store, OCT, DUE).notes
    assert "edition 2026-09 was never sent" in note and "--month 2026-09 --force" in note


@pytest.mark.parametrize("status", ["sending", "failed"])
def test_an_earlier_edition_that_did_not_reach_everyone_is_a_note_when_the_next_one_goes_out(config, store, status):
    stored(store, OCT.previous())
    store.save_edition(OCT.previous().label, status)  # the rest of the company never gets it by itself
    (note,) = decide_run(config, store, OCT, DUE).notes
    assert "edition 2026-09 did not reach everyone" in note and "newsletter run --month 2026-09" in note


@pytest.mark.parametrize("status", ["draft", "approved"])
def test_an_earlier_edition_that_waited_for_approval_is_a_note_when_the_next_one_goes_out(config, store, status):
    stored(store, OCT.previous())
    store.save_edition(OCT.previous().label, status)
    (note,) = decide_run(config, store, OCT, DUE).notes
    assert "edition 2026-09 was never sent" in note and "--month 2026-09 --force" in note


@pytest.mark.parametrize("status", ["sent", "skipped"])
def test_an_earlier_edition_sent_or_skipped_is_no_note(config, store, status):
    stored(store, OCT.previous())
    store.save_edition(OCT.previous().label, status)
    assert decide_run(config, store, OCT, DUE).notes == ()


def test_a_skipped_edition_forced_keeps_its_numbers_once_approved_else_collects_again(config, store):
    from newsletter.store import Approval

    stored(store, OCT)
    store.save_edition(OCT.label, "skipped")
    assert decide_run(config, store, OCT, LATE, force=True).collect, "never reviewed: the numbers are fetched again"
    store.save_approval(Approval(OCT.label, "ab" * 32, "alice", "2026-11-21T08:00:00+00:00"))
    assert not decide_run(config, store, OCT, LATE, force=True).collect, "what alice approved is what --force sends"


def test_an_earlier_month_nobody_ran_while_it_was_due_is_a_note_in_a_workspace_already_in_use(config, store):
    # the machine was off for all of October: September's edition was never even composed
    stored(store, OCT.shift(-2))
    (note,) = decide_run(config, store, OCT, DUE).notes
    assert "edition 2026-09 was never sent" in note and "--month 2026-09 --force" in note
    with Store.memory() as new:  # a workspace's first edition: nothing before it to miss
        assert decide_run(config, new, OCT, DUE).notes == ()


def test_numbers_collected_while_the_month_ran_are_collected_again_unless_someone_has_the_edition(config, store):
    # `send --force` on 15 October reached nobody (the mail server down): not half of October sent as October
    store.save_results(OCT.label, [SourceResult("desk", "demo", "ticketing", "ok", metrics={"covered_days": 15},
                                                partial=True, warnings=[f"{OCT} is still running: these numbers "
                                                                        "cover 15 of its 31 days so far"])])
    for status in ("failed", "draft", "approved"):
        store.save_edition(OCT.label, status)
        assert decide_run(config, store, OCT, DUE).collect, status
    store.queue(OCT.label, ["a@example.com", "b@example.com"])
    store.mark(OCT.label, "a@example.com", "sent")  # what went out to someone, the rest get as it is
    store.save_edition(OCT.label, "failed")
    assert not decide_run(config, store, OCT, DUE).collect
