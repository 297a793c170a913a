"""Faults in the correct role: running out of GPU memory, a correction that outlasts the
consumer's session timeout, and a rebalance in the middle of a correction."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from swerve.streams.topic_io import publish_events
from swerve.streams.settings import Settings

from ..integration.builders import generation
from ..integration.conftest import wait_until
from .conftest import delivered_requests, settled_outcomes
from .policies import fault_policy

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_given_a_corrector_out_of_gpu_memory_then_blocked_as_infrastructure_and_counted_apart(
    settings: Settings, start_worker, tmp_path: Path
) -> None:
    # Given flagged generations whose corrector always runs out of memory, and others that pass
    events = [generation(i, "oom") for i in range(6)]
    flagged = events[:3]
    policy = fault_policy(tmp_path / "p.yaml", [e.image.sha256 for e in flagged], corrector="kind: testing.out_of_memory\n    params: {failures: -1}")
    worker = start_worker(SWERVE_POLICY_PATH=str(policy))
    asyncio.run(publish_events(settings, "generations", events))

    expected = {e.request_id for e in events}
    outcomes = settled_outcomes(settings, expected, worker, timeout_s=120)
    final = outcomes.final()
    # Then the flagged ones are blocked for infrastructure, not for exhausting their attempts
    for event in flagged:
        blocked = final[event.request_id]
        assert (blocked.outcome, blocked.reason_class) == ("blocked", "infrastructure")
        assert "out of GPU memory twice" in blocked.reason and "correction exhausted" not in blocked.reason
    assert {final[e.request_id].outcome for e in events[3:]} == {"original"}
    assert worker.alive


def test_given_a_corrector_out_of_memory_once_then_the_retry_delivers_the_replacement(
    settings: Settings, start_worker, tmp_path: Path
) -> None:
    events = [generation(i, "oom-once") for i in range(3)]
    policy = fault_policy(tmp_path / "p.yaml", [e.image.sha256 for e in events], corrector="kind: testing.out_of_memory\n    params: {failures: 1}")
    worker = start_worker(SWERVE_POLICY_PATH=str(policy))
    asyncio.run(publish_events(settings, "generations", events))
    expected = {e.request_id for e in events}
    outcomes = settled_outcomes(settings, expected, worker, timeout_s=120)
    assert {d.outcome for d in outcomes.final().values()} == {"replacement"}


def test_given_a_correction_longer_than_the_session_timeout_then_no_rebalance_and_no_duplicate(
    settings: Settings, start_worker, tmp_path: Path
) -> None:
    # Given corrections of 8 s each, longer than the consumer's 6 s session timeout
    events = [generation(i, "slow") for i in range(2)]
    policy = fault_policy(tmp_path / "p.yaml", [e.image.sha256 for e in events], corrector="kind: testing.slow\n    params: {seconds: 8}")
    worker = start_worker(SWERVE_POLICY_PATH=str(policy))
    asyncio.run(publish_events(settings, "generations", events))
    expected = {e.request_id for e in events}
    # Then each is replaced, and written once: heartbeats went on while the correction ran
    outcomes = settled_outcomes(settings, expected, worker, timeout_s=150)
    assert {d.outcome for d in outcomes.final().values()} == {"replacement"}
    assert outcomes.duplicates() == 0 and len(outcomes.records) == len(expected)
    assert worker.alive


def test_given_a_rebalance_in_the_middle_of_corrections_then_every_duplicate_is_removed_by_dedupe(
    settings: Settings, start_worker, tmp_path: Path
) -> None:
    # Given a worker busy with slow corrections (3 s each, one at a time)
    events = [generation(i, "rebalance") for i in range(8)]
    policy = fault_policy(tmp_path / "p.yaml", [e.image.sha256 for e in events], corrector="kind: testing.slow\n    params: {seconds: 3}")
    first = start_worker(SWERVE_POLICY_PATH=str(policy))
    asyncio.run(publish_events(settings, "generations", events))
    assert wait_until(lambda: len(delivered_requests(settings)) >= 1, timeout_s=120), first.log_tail()
    # When a second worker joins the group mid-run, so partitions move while corrections run
    second = start_worker(SWERVE_POLICY_PATH=str(policy))

    # Then every request ends with exactly one outcome after dedupe, none lost
    expected = {e.request_id for e in events}
    outcomes = settled_outcomes(settings, expected, second, timeout_s=240)
    assert {d.outcome for d in outcomes.final().values()} == {"replacement"}
    print(f"rebalance mid-correction: {len(outcomes.records)} delivery records, {outcomes.duplicates()} removed by dedupe")
    assert "partitions revoked in a rebalance" in first.log_tail(400), "no rebalance happened: the test proves nothing"
    assert first.alive and second.alive
