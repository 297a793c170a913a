"""Given a worker's decisions on the audit topic, when `swerve audit sync` runs twice, then the
ledger holds each decision once and `swerve audit verify` finds the chain intact."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swerve.streams.client import collect, publish_events
from swerve.streams.topics import TopicNames

from .builders import generation
from .conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SWERVE = [sys.executable, "-m", "swerve.streams.cli"]


def test_audit_sync_is_idempotent_and_the_ledger_verifies(swerve_env: dict[str, str], settings, start_worker, tmp_path: Path) -> None:
    start_worker()
    asyncio.run(publish_events(settings, "generations", [generation(i, "audit") for i in range(6)]))
    audit_topic = TopicNames(settings.topic_prefix).audit
    assert wait_until(lambda: len(asyncio.run(collect(settings, audit_topic, idle_timeout_s=0.5))) >= 6, timeout_s=60)

    env = {**os.environ, **swerve_env}
    ledger = str(tmp_path / "ledger.sqlite")
    first = subprocess.run([*SWERVE, "audit", "sync", "--ledger", ledger, "--idle", "1"], env=env, capture_output=True, text=True, timeout=60)
    second = subprocess.run([*SWERVE, "audit", "sync", "--ledger", ledger, "--idle", "1"], env=env, capture_output=True, text=True, timeout=60)
    assert "appended 6 audit events" in first.stdout, first.stdout + first.stderr
    assert "appended 0 audit events" in second.stdout, second.stdout + second.stderr

    verified = subprocess.run([*SWERVE, "audit", "verify", "--ledger", ledger], env=env, capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0 and "intact: 6 rows" in verified.stdout
    queried = subprocess.run([*SWERVE, "audit", "query", "--ledger", ledger, "--request-id", "audit-req-00003"],
                             env=env, capture_output=True, text=True, timeout=60)
    assert queried.stdout.count("\n") == 1 and '"decision": "pass"' in queried.stdout
