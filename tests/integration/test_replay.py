"""Given past generations, when ops replay them under a new policy into a separate prefix, then
the outcomes follow the new policy, live delivery is untouched, and a second replay only repeats ids."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swerve.audit.signing import TrustedKeys, generate_key_pair, wire_body
from swerve.streams.topic_io import collect, publish_events
from swerve.streams.topics import TopicNames

from .builders import blocklist_policy, generation

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SWERVE = [sys.executable, "-m", "swerve.cli.main"]


def test_replay_applies_the_new_policy_into_its_own_topics_idempotently(swerve_env: dict[str, str], settings, tmp_path: Path) -> None:
    events = [generation(i, "replay") for i in range(5)]
    asyncio.run(publish_events(settings, "generations", events))
    policy = blocklist_policy(tmp_path / "new-policy.yaml", [events[2].image.sha256])
    into = f"{settings.topic_prefix}-replay"
    env = {**os.environ, **swerve_env}
    command = [*SWERVE, "replay", "--into", into, "--policy", str(policy)]

    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert "read 5, replayed 5" in first.stdout

    deliveries = asyncio.run(collect(settings, TopicNames(into).delivery, idle_timeout_s=0.5))
    flagged = asyncio.run(collect(settings, TopicNames(into).flagged, idle_timeout_s=0.5))
    assert {r.decoded(into).request_id for r in deliveries} == {e.request_id for i, e in enumerate(events) if i != 2}
    assert [r.decoded(into).generation.request_id for r in flagged] == [events[2].request_id]
    assert asyncio.run(collect(settings, TopicNames(settings.topic_prefix).delivery, idle_timeout_s=0.5)) == []

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    again = asyncio.run(collect(settings, TopicNames(into).delivery, idle_timeout_s=0.5))
    assert len(again) == 2 * len(deliveries)
    assert {r.decoded(into).id for r in again} == {r.decoded(into).id for r in deliveries}, "a repeated replay writes the same ids"


def test_replay_refuses_to_write_into_the_live_prefix(swerve_env: dict[str, str], settings) -> None:
    env = {**os.environ, **swerve_env}
    done = subprocess.run([*SWERVE, "replay", "--into", settings.topic_prefix], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "different prefix" in (done.stderr + done.stdout)


def test_given_a_signing_key_then_replayed_audit_events_are_signed_and_verify(swerve_env: dict[str, str], settings, tmp_path: Path) -> None:
    # Given past generations and the workers' audit key
    private_key, public_key = generate_key_pair(tmp_path / "keys")
    events = [generation(i, "signed-replay") for i in range(3)]
    asyncio.run(publish_events(settings, "generations", events))
    into = f"{settings.topic_prefix}-signed"
    env = {**os.environ, **swerve_env, "SWERVE_AUDIT_SIGNING_KEY_PATH": str(private_key)}
    # When ops replay them
    done = subprocess.run([*SWERVE, "replay", "--into", into], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    # Then every audit event of the replay carries a signature the trusted key verifies
    audit = asyncio.run(collect(settings, TopicNames(into).audit, idle_timeout_s=0.5))
    trusted = TrustedKeys.from_paths([public_key])
    assert len(audit) == 3
    for record in audit:
        trusted.require(wire_body(record.decoded(into)), "a replayed audit event")  # type: ignore[arg-type]
