"""What may be done to a run, asked of knitctl.runstate by the TUI (and the CLI): abort/stop and retry."""

from __future__ import annotations

import pytest

from knitctl import runstate


@pytest.mark.parametrize("status", ["deactivated", "waiting", "ready", "starting", "running"])
def test_a_run_that_has_not_ended_and_was_not_asked_to_can_be_aborted(status):
    assert runstate.can_abort(status)


@pytest.mark.parametrize("status", ["completing", "aborting", "done", "failed", "invalidated", "gone", ""])
def test_an_ended_ending_or_unknown_run_cannot_be_aborted(status):
    assert not runstate.can_abort(status)


def test_only_done_and_failed_runs_can_be_retried():
    assert {s for s in runstate.STATUSES if runstate.can_retry(s)} == {"done", "failed"}
    assert not runstate.can_retry("gone")


def test_the_sets_partition_what_they_describe():
    assert runstate.PRESTART | {"running"} | runstate.ENDING == runstate.ACTIVE
    assert runstate.FINISHED < runstate.TERMINAL
    assert {s for s in runstate.STATUSES if runstate.can_abort(s)} == runstate.LIVE - runstate.ENDING
