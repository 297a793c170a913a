"""Workers die: the detect role and the correct role SIGKILLed at seeded random points, and one
of two workers in a group stopped mid-run. A replacement or the surviving worker finishes, and
every request has exactly one outcome after dedupe."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from swerve.streams.topic_io import publish_events
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames

from ..integration.builders import generation
from ..integration.conftest import wait_until
from .conftest import delivered_requests, read_dead_letters, settled_outcomes, snapshot
from .policies import fault_policy, pacing_detector

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SEED = 20261128


def replacements(settings: Settings) -> int:
    return len(snapshot(settings, TopicNames(settings.topic_prefix).replacements))


def test_given_the_detect_role_sigkilled_at_a_seeded_random_point_then_a_new_one_finishes_with_nothing_lost(
    settings: Settings, start_worker, tmp_path: Path
) -> None:
    # Given 240 generations (every 8th flagged), a detect worker (0.2 s a batch) and a correct worker
    events = [generation(i, "kill-detect") for i in range(240)]
    policy = fault_policy(tmp_path / "p.yaml", [e.image.sha256 for e in events[::8]], extra_detector=pacing_detector(0.2))
    env = {"SWERVE_POLICY_PATH": str(policy), "SWERVE_WORKER_DETECT_BATCH_SIZE": "8"}
    detect = start_worker("detect", **env)
    start_worker("correct", **env)
    asyncio.run(publish_events(settings, "generations", events))
    # When the detect worker is SIGKILLed once it has delivered a seeded random number of them
    kill_after = random.Random(SEED).randint(20, 120)
    assert wait_until(lambda: len(delivered_requests(settings)) >= kill_after, timeout_s=120), detect.log_tail()
    detect.kill()
    assert len(delivered_requests(settings)) < len(events), "the worker finished before the kill; the test proves nothing"
    restarted = start_worker("detect", **env)

    # Then every request has exactly one outcome, flagged ones replaced
    expected = {e.request_id for e in events}
    outcomes = settled_outcomes(settings, expected, restarted, timeout_s=180)
    final = outcomes.final()
    assert {r for r, d in final.items() if d.outcome == "replacement"} == {e.request_id for e in events[::8]}
    print(f"detect killed after {kill_after}: {len(outcomes.records)} delivery records, {outcomes.duplicates()} duplicates removed")
    assert read_dead_letters(settings) == [] and restarted.alive


def test_given_the_correct_role_sigkilled_at_a_seeded_random_point_then_a_new_one_finishes_with_nothing_lost(
    settings: Settings, start_worker, tmp_path: Path
) -> None:
    # Given 40 generations, all flagged, corrected at 0.3 s each
    events = [generation(i, "kill-correct") for i in range(40)]
    policy = fault_policy(tmp_path / "p.yaml", [e.image.sha256 for e in events], corrector="kind: testing.slow\n    params: {seconds: 0.3}")
    env = {"SWERVE_POLICY_PATH": str(policy)}
    start_worker("detect", **env)
    correct = start_worker("correct", **env)
    asyncio.run(publish_events(settings, "generations", events))
    # When the correct worker is SIGKILLed after a seeded random number of replacements
    kill_after = random.Random(SEED + 1).randint(3, 20)
    assert wait_until(lambda: replacements(settings) >= kill_after, timeout_s=120), correct.log_tail()
    correct.kill()
    assert len(delivered_requests(settings)) < len(events), "the worker finished before the kill; the test proves nothing"
    restarted = start_worker("correct", **env)

    expected = {e.request_id for e in events}
    outcomes = settled_outcomes(settings, expected, restarted, timeout_s=180)
    assert {d.outcome for d in outcomes.final().values()} == {"replacement"}
    print(f"correct killed after {kill_after}: {len(outcomes.records)} delivery records, {outcomes.duplicates()} duplicates removed")
    assert restarted.alive


def test_given_two_workers_in_one_group_when_one_is_stopped_mid_run_then_the_other_finishes_with_nothing_lost(
    settings: Settings, start_worker, tmp_path: Path
) -> None:
    # Given two workers of all roles sharing the group (0.2 s a batch), and 300 generations (every 10th flagged)
    events = [generation(i, "two") for i in range(300)]
    policy = fault_policy(tmp_path / "p.yaml", [e.image.sha256 for e in events[::10]], extra_detector=pacing_detector(0.2))
    env = {"SWERVE_POLICY_PATH": str(policy), "SWERVE_WORKER_DETECT_BATCH_SIZE": "8"}
    stopping = start_worker(**env)
    staying = start_worker(**env)
    asyncio.run(publish_events(settings, "generations", events))
    # When one of them is stopped (SIGTERM) in the middle of the run
    stop_after = random.Random(SEED + 2).randint(30, 150)
    assert wait_until(lambda: len(delivered_requests(settings)) >= stop_after, timeout_s=120), stopping.log_tail()
    code = stopping.stop()
    assert code in (0, 75), f"a stop must exit cleanly, or with 75 when inputs were in hand; got {code}"

    # Then the other takes its partitions over and every request has exactly one outcome
    expected = {e.request_id for e in events}
    outcomes = settled_outcomes(settings, expected, staying, timeout_s=180)
    print(f"one of two stopped after {stop_after} (exit {code}): {len(outcomes.records)} records, {outcomes.duplicates()} duplicates removed")
    assert staying.alive
