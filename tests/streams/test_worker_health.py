"""Readiness and stall logic of a worker, driven by an injected clock (no sleeps, no broker)."""

from __future__ import annotations

import pytest

from swerve.streams.worker_health import PartitionPosition, WorkerHealth

GENERATIONS_0 = ("swerve.generations", 0)
ALL_TOPICS_PRESENT: list[str] = []


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def health(clock: FakeClock) -> WorkerHealth:
    return WorkerHealth(stall_timeout_s=300, clock=clock)


def waiting(committed: int, end: int) -> dict[tuple[str, int], PartitionPosition]:
    return {GENERATIONS_0: PartitionPosition(committed=committed, end=end)}


def probed_for(health: WorkerHealth, clock: FakeClock, seconds: float, committed: int | None = None, end: int = 0,
               every_s: float = 5) -> None:
    """Let ``seconds`` pass with a probe every ``every_s``: answering with the position, or failing when None."""
    for _ in range(int(seconds // every_s)):
        clock.advance(every_s)
        if committed is None:
            health.broker_unreachable("refused")
        else:
            health.broker_answered(ALL_TOPICS_PRESENT, waiting(committed, end))
    clock.advance(seconds % every_s)


# --- readiness ---------------------------------------------------------------------------


def test_given_no_probe_yet_then_not_ready_even_with_partitions(health: WorkerHealth) -> None:
    verdict = health.readiness(assigned=True)
    assert not verdict.ok and "first broker probe" in verdict.reason


def test_given_the_broker_answered_and_partitions_assigned_then_ready(health: WorkerHealth) -> None:
    health.broker_answered(ALL_TOPICS_PRESENT, waiting(0, 0))
    assert health.readiness(assigned=True).ok


def test_given_the_broker_answered_but_no_assignment_then_not_ready(health: WorkerHealth) -> None:
    health.broker_answered(ALL_TOPICS_PRESENT, {})
    verdict = health.readiness(assigned=False)
    assert not verdict.ok and "no partitions assigned" in verdict.reason


def test_given_an_assigned_worker_when_the_broker_stops_answering_then_not_ready_and_the_reason_says_since_when(
        health: WorkerHealth, clock: FakeClock) -> None:
    health.broker_answered(ALL_TOPICS_PRESENT, waiting(0, 0))
    health.broker_unreachable("127.0.0.1:9092: connection refused")
    clock.advance(42)
    health.broker_unreachable("127.0.0.1:9092: connection refused")

    verdict = health.readiness(assigned=True)

    assert not verdict.ok
    assert "unreachable for 42 s" in verdict.reason and "connection refused" in verdict.reason
    assert health.broker_down_for() == 42


def test_given_an_outage_when_the_broker_answers_again_then_ready_again(health: WorkerHealth) -> None:
    health.broker_unreachable("refused")
    health.broker_answered(ALL_TOPICS_PRESENT, waiting(0, 0))
    assert health.readiness(assigned=True).ok
    assert health.broker_down_for() is None


def test_given_missing_topics_then_not_ready_and_they_are_named(health: WorkerHealth) -> None:
    health.broker_answered(["swerve.generations", "swerve.delivery"], {})
    verdict = health.readiness(assigned=True)
    assert not verdict.ok and "swerve.delivery, swerve.generations" in verdict.reason
    assert health.missing_topics() == ("swerve.delivery", "swerve.generations")


# --- liveness: the stall clock -------------------------------------------------------------


def test_given_lag_when_nothing_is_processed_for_the_stall_timeout_then_not_live(health: WorkerHealth, clock: FakeClock) -> None:
    health.broker_answered(ALL_TOPICS_PRESENT, waiting(committed=10, end=15))
    probed_for(health, clock, 300, committed=10, end=15)
    assert health.liveness().ok, "exactly the timeout is not yet a stall"

    clock.advance(1)
    health.broker_answered(ALL_TOPICS_PRESENT, waiting(committed=10, end=17))
    verdict = health.liveness()

    assert not verdict.ok
    assert "stalled" in verdict.reason and "7 messages wait" in verdict.reason and "SWERVE_WORKER_STALL_TIMEOUT_S=300" in verdict.reason


def test_given_no_lag_when_nothing_is_processed_for_long_then_still_live(health: WorkerHealth, clock: FakeClock) -> None:
    health.broker_answered(ALL_TOPICS_PRESENT, waiting(committed=15, end=15))
    probed_for(health, clock, 3600, committed=15, end=15)
    assert health.liveness().ok


def test_given_lag_when_the_agents_keep_taking_inputs_then_live(health: WorkerHealth, clock: FakeClock) -> None:
    health.broker_answered(ALL_TOPICS_PRESENT, waiting(committed=10, end=500))
    for _ in range(10):
        probed_for(health, clock, 200, committed=10, end=500)
        health.progress()  # what metrics.observe_lag does for every batch the agents take
    assert health.liveness().ok


def test_given_lag_when_committed_offsets_move_then_that_is_progress(health: WorkerHealth, clock: FakeClock) -> None:
    health.broker_answered(ALL_TOPICS_PRESENT, waiting(committed=10, end=500))
    for committed in (20, 30, 40):
        probed_for(health, clock, 200, committed=committed, end=500)
    assert health.liveness().ok


def test_given_a_stalled_consumer_when_it_takes_an_input_again_then_live_again(health: WorkerHealth, clock: FakeClock) -> None:
    health.broker_answered(ALL_TOPICS_PRESENT, waiting(committed=10, end=15))
    probed_for(health, clock, 400, committed=10, end=15)
    assert not health.liveness().ok
    health.progress()
    assert health.liveness().ok


def test_given_lag_when_the_broker_is_down_then_the_stall_clock_pauses_and_restarts_on_return(
        health: WorkerHealth, clock: FakeClock) -> None:
    # Given messages waiting, when the broker goes away for longer than the stall timeout
    health.broker_answered(ALL_TOPICS_PRESENT, waiting(committed=10, end=15))
    probed_for(health, clock, 10, committed=10, end=15)
    probed_for(health, clock, 1000, committed=None)
    # Then the outage is readiness's concern, not a stall
    assert health.liveness().ok
    # ... and when it comes back, the worker gets a full stall timeout to resume
    health.broker_answered(ALL_TOPICS_PRESENT, waiting(committed=10, end=15))
    probed_for(health, clock, 299, committed=10, end=15)
    assert health.liveness().ok
    clock.advance(2)
    assert not health.liveness().ok


def test_given_several_partitions_then_lag_is_their_sum(health: WorkerHealth) -> None:
    health.broker_answered(ALL_TOPICS_PRESENT, {
        ("swerve.generations", 0): PartitionPosition(committed=3, end=5),
        ("swerve.generations", 1): PartitionPosition(committed=9, end=9),
        ("swerve.flagged", 0): PartitionPosition(committed=7, end=4),  # a broker that under-reports the end
    })
    assert health.lag() == 2


def test_given_a_configured_timeout_then_it_applies(health: WorkerHealth, clock: FakeClock) -> None:
    health.configure(stall_timeout_s=30)
    health.broker_answered(ALL_TOPICS_PRESENT, waiting(committed=0, end=1))
    probed_for(health, clock, 31, committed=0, end=1)
    assert "stalled" in health.liveness().reason
    with pytest.raises(ValueError, match="above 0"):
        health.configure(stall_timeout_s=0)


def test_given_a_slow_start_when_the_first_probe_finds_lag_then_the_stall_clock_starts_there(
        health: WorkerHealth, clock: FakeClock) -> None:
    # Given a worker that spent longer than the stall timeout loading its models
    clock.advance(900)
    # When the first probe finds messages waiting
    health.broker_answered(ALL_TOPICS_PRESENT, waiting(committed=0, end=50))
    # Then it still has a full stall timeout to take its first input
    probed_for(health, clock, 299, committed=0, end=50)
    assert health.liveness().ok
    clock.advance(2)
    assert "stalled" in health.liveness().reason


def test_given_probes_stop_coming_then_the_blocked_event_loop_shows_as_not_live(health: WorkerHealth, clock: FakeClock) -> None:
    # Given a worker with nothing to do, probed (the probe runs on the event loop)
    health.broker_answered(ALL_TOPICS_PRESENT, waiting(committed=5, end=5))
    # When no probe reports for longer than the stall timeout (the loop is blocked)
    clock.advance(301)
    verdict = health.liveness()
    # Then the worker is not live, even with no lag known
    assert not verdict.ok and "event loop is blocked" in verdict.reason
    # ... and failed probes count as probes: an outage alone is not a blocked loop
    health.broker_unreachable("refused")
    clock.advance(200)
    health.broker_unreachable("refused")
    assert health.liveness().ok
