"""What a worker does after each broker probe: report health, or exit loudly. A fake probe
stands in for the broker; the exits are recorded."""

from __future__ import annotations

import asyncio
from typing import Collection, Mapping

import pytest

from swerve.errors import ConfigurationError
from swerve.streams import exit_codes
from swerve.streams.broker_probe import BrokerAnswer, BrokerUnreachable
from swerve.streams.broker_watch import BrokerWatch, check_watch_settings
from swerve.streams.outage_policy import OutageAction, outage_action
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames
from swerve.streams.worker_health import Partition, PartitionPosition, WorkerHealth

ALL_TOPICS = frozenset(TopicNames("swerve").all())


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ScriptedProbe:
    """Answers each probe with the next scripted answer; records what it was asked."""

    def __init__(self, *answers: BrokerAnswer | BrokerUnreachable):
        self.answers = list(answers)
        self.asked: list[tuple[set[Partition], dict[Partition, int]]] = []
        self.closed = False

    async def probe(self, assigned: Collection[Partition], seen_ends: Mapping[Partition, int] | None = None) -> BrokerAnswer | BrokerUnreachable:
        self.asked.append((set(assigned), dict(seen_ends or {})))
        return self.answers.pop(0)

    async def close(self) -> None:
        self.closed = True


class Recorder:
    def __init__(self) -> None:
        self.exits: list[tuple[int, str]] = []

    def stop_worker(self, code: int, reason: str) -> None:
        self.exits.append((code, reason))


def settings(**worker: str) -> Settings:
    return Settings.from_env({"SWERVE_KAFKA_BOOTSTRAP": "broker-1:9092", **{f"SWERVE_WORKER_{k.upper()}": v for k, v in worker.items()}})


def watch(probe: ScriptedProbe, recorder: Recorder, clock: FakeClock, view: dict[Partition, int | None] | None = None,
          **worker: str) -> BrokerWatch:
    return BrokerWatch(settings(**worker), WorkerHealth(stall_timeout_s=300, clock=clock), probe,  # type: ignore[arg-type]
                       lambda: dict(view or {}), recorder.stop_worker)


def test_given_a_healthy_broker_then_the_worker_carries_on_and_lag_comes_from_the_probe() -> None:
    # Given a worker that owns one partition and has fetched its high watermark
    position = PartitionPosition(committed=10, end=14)
    probe = ScriptedProbe(BrokerAnswer(ALL_TOPICS, {("swerve.generations", 0): position}))
    recorder, clock = Recorder(), FakeClock()
    subject = watch(probe, recorder, clock, view={("swerve.generations", 0): 14, ("swerve.flagged", 1): None})
    # When it probes
    action = asyncio.run(subject.check())
    # Then it asked about its own partitions, passing what its consumer saw
    assert probe.asked == [({("swerve.generations", 0), ("swerve.flagged", 1)}, {("swerve.generations", 0): 14})]
    assert action is OutageAction.CARRY_ON and recorder.exits == []
    assert subject.health.readiness(assigned=True).ok and subject.health.lag() == 4


def test_given_a_restarted_empty_broker_when_the_worker_may_create_topics_then_it_exits_75_for_a_fresh_start() -> None:
    probe = ScriptedProbe(BrokerUnreachable("refused"), BrokerAnswer(frozenset(), {}))
    recorder, clock = Recorder(), FakeClock()
    subject = watch(probe, recorder, clock)

    assert asyncio.run(subject.check()) is OutageAction.CARRY_ON
    assert not subject.health.readiness(assigned=True).ok
    # When the broker is back without swerve's topics
    assert asyncio.run(subject.check()) is OutageAction.EXIT_TOPICS_LOST
    # Then the worker ends, naming them: its offsets belong to the log that is gone
    [(code, reason)] = recorder.exits
    assert code == exit_codes.TOPICS_LOST == 75
    assert "swerve.generations" in reason and "fresh start recreates the topics" in reason
    assert not subject.health.readiness(assigned=True).ok


def test_given_missing_topics_when_the_worker_may_not_create_them_then_it_exits_78_naming_them() -> None:
    present = ALL_TOPICS - {"swerve.generations", "swerve.dlq"}
    probe = ScriptedProbe(BrokerAnswer(present, {}))
    recorder, clock = Recorder(), FakeClock()
    subject = watch(probe, recorder, clock, create_topics="false")

    assert asyncio.run(subject.check()) is OutageAction.EXIT_TOPICS_MISSING

    [(code, reason)] = recorder.exits
    assert code == exit_codes.TOPICS_MISSING == 78
    assert "swerve.dlq, swerve.generations" in reason and "SWERVE_WORKER_CREATE_TOPICS=false" in reason


def test_given_the_broker_stays_down_past_the_limit_then_the_worker_exits_69() -> None:
    probe = ScriptedProbe(*[BrokerUnreachable("broker-1:9092: refused")] * 3)
    recorder, clock = Recorder(), FakeClock()
    subject = watch(probe, recorder, clock, broker_down_exit_s="120")

    asyncio.run(subject.check())
    clock.now = 119
    asyncio.run(subject.check())
    assert recorder.exits == []
    clock.now = 120
    assert asyncio.run(subject.check()) is OutageAction.EXIT_BROKER_DOWN

    [(code, reason)] = recorder.exits
    assert code == exit_codes.BROKER_UNAVAILABLE == 69
    assert "unreachable for 120 s" in reason and "SWERVE_WORKER_BROKER_DOWN_EXIT_S=120" in reason


def test_given_broker_down_exit_disabled_then_the_worker_waits_for_the_broker() -> None:
    assert outage_action(down_for_s=10**6, missing_topics=[], may_create_topics=True, broker_down_exit_s=0) is OutageAction.CARRY_ON


def test_given_an_outage_then_missing_topics_are_not_judged_until_the_broker_answers() -> None:
    assert outage_action(down_for_s=5, missing_topics=["swerve.dlq"], may_create_topics=False,
                         broker_down_exit_s=120) is OutageAction.CARRY_ON


def test_given_the_watch_stops_then_its_probe_clients_are_closed() -> None:
    probe, recorder, clock = ScriptedProbe(), Recorder(), FakeClock()
    asyncio.run(watch(probe, recorder, clock).on_stop())
    assert probe.closed


@pytest.mark.parametrize(("worker", "message"), [
    ({"STALL_TIMEOUT_S": "5", "PROBE_INTERVAL_S": "5"}, "STALL_TIMEOUT_S (5) must exceed SWERVE_WORKER_PROBE_INTERVAL_S (5)"),
    ({"BROKER_DOWN_EXIT_S": "2", "PROBE_INTERVAL_S": "5"}, "BROKER_DOWN_EXIT_S (2) must be 0 (never exit) or at least"),
])
def test_given_knobs_that_would_misjudge_then_the_worker_refuses_them(worker: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_watch_settings(settings(**worker))


def test_given_the_new_settings_then_defaults_and_environment_names_are_as_documented() -> None:
    defaults = Settings.from_env({}).worker
    assert (defaults.probe_interval_s, defaults.probe_timeout_s, defaults.stall_timeout_s) == (5.0, 5.0, 300.0)
    assert (defaults.broker_down_exit_s, defaults.create_topics, defaults.log_repeat_interval_s) == (120.0, True, 30.0)
    tuned = settings(create_topics="false", broker_down_exit_s="0", log_repeat_interval_s="0", stall_timeout_s="60").worker
    assert (tuned.create_topics, tuned.broker_down_exit_s, tuned.log_repeat_interval_s, tuned.stall_timeout_s) == (False, 0, 0, 60)
    with pytest.raises(ConfigurationError, match="SWERVE_WORKER_STALL_TIMEOUT_S"):
        settings(stall_timeout_s="0")


def test_given_the_watch_fails_unexpectedly_then_the_worker_exits_70_rather_than_freeze_its_probes() -> None:
    class BrokenProbe(ScriptedProbe):
        async def probe(self, assigned: Collection[Partition], seen_ends: Mapping[Partition, int] | None = None) -> BrokerAnswer:
            raise AssertionError("a bug in a client library")

    recorder, clock = Recorder(), FakeClock()
    subject = watch(BrokenProbe(), recorder, clock)
    with pytest.raises(AssertionError):
        asyncio.run(subject._watch())
    [(code, reason)] = recorder.exits
    assert code == exit_codes.UNFORESEEN and "broker watch failed: AssertionError" in reason
