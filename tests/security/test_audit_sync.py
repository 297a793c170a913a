"""Given workers that sign their decisions on the audit topic (a real broker and real workers),
when `swerve audit sync` runs, then the ledger holds each decision once, and events injected
by anyone else allowed on the topic (unsigned, forged, by an untrusted key, replayed) are
refused, counted, and never appended."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swerve.audit.signing import AuditSigner, generate_key_pair
from swerve.streams.topic_io import collect, publish_events
from swerve.streams.events import AuditEvent
from swerve.streams.topics import TopicNames

from ..audit.builders import audit_events, key_pair
from ..integration.builders import generation
from ..integration.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SWERVE = [sys.executable, "-m", "swerve.cli.main"]


def swerve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SWERVE, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=90)


def decisions_on_topic(settings, count: int) -> bool:  # type: ignore[no-untyped-def]
    return len(asyncio.run(collect(settings, TopicNames(settings.topic_prefix).audit, idle_timeout_s=0.5))) >= count


def test_signed_decisions_are_synced_once_and_injected_events_are_refused(swerve_env: dict[str, str], settings, start_worker,
                                                                            tmp_path: Path) -> None:
    # Given: a worker with a signing key, its public key trusted by sync
    private, _ = generate_key_pair(tmp_path / "trusted", "worker")
    start_worker(SWERVE_AUDIT_SIGNING_KEY_PATH=str(private))
    env = {**swerve_env, "SWERVE_AUDIT_TRUSTED_KEYS_DIR": str(tmp_path / "trusted")}
    ledger = str(tmp_path / "ledger.sqlite")
    asyncio.run(publish_events(settings, "generations", [generation(i, "audit") for i in range(6)]))
    assert wait_until(lambda: decisions_on_topic(settings, 6), timeout_s=60)

    # When: sync runs twice
    first, second = swerve(env, "audit", "sync", "--ledger", ledger, "--idle", "1"), swerve(env, "audit", "sync", "--ledger", ledger, "--idle", "1")
    # Then: each decision once, all admitted
    assert first.returncode == 0 and "appended 6 audit events" in first.stdout, first.stdout + first.stderr
    assert second.returncode == 0 and "appended 0 audit events" in second.stdout, second.stdout + second.stderr
    verified = swerve(env, "audit", "verify", "--ledger", ledger)
    assert verified.returncode == 0 and "intact: 6 rows" in verified.stdout
    queried = swerve(env, "audit", "query", "--ledger", ledger, "--request-id", "audit-req-00003")
    [row] = [json.loads(line) for line in queried.stdout.splitlines()]
    assert row["event"]["decision"] == "pass" and row["event"]["key_id"] and row["event"]["signature"]

    # When: someone allowed to produce to the audit topic injects events
    worker_signer = AuditSigner.from_file(private)  # the replay needs a worker's key: a reprocessing worker, or a stolen key
    attacker, _ = key_pair(tmp_path / "attacker")
    unsigned, forged, untrusted = audit_events(3, prefix="inj")
    genuine = AuditEvent.model_validate(row["event"])
    injected = [
        unsigned,  # well-formed, unsigned
        worker_signer.sign_event(forged).model_copy(update={"decision": "block"}),  # altered after signing
        attacker.sign_event(untrusted),  # signed by a key nobody trusts
        worker_signer.sign_event(genuine.model_copy(update={"decision": "block", "output_ids": []})),  # a ledgered id, other content
        worker_signer.sign_event(genuine),  # the same event again: a harmless duplicate
    ]
    asyncio.run(publish_events(settings, "audit", injected))
    third = swerve(env, "audit", "sync", "--ledger", ledger, "--idle", "1")

    # Then: every one is refused and counted, nothing appended, and sync exits 1
    assert third.returncode == 1, third.stdout + third.stderr
    assert ("appended 0 audit events, 1 duplicates; refused 4 (0 undecodable, 1 unsigned, 1 unknown key, 1 forged, 1 replayed)"
            in third.stdout), third.stdout
    assert swerve(env, "audit", "verify", "--ledger", ledger).stdout.startswith("intact: 6 rows")


def test_an_unkeyed_worker_warns_and_its_events_need_allow_unsigned(swerve_env: dict[str, str], settings, start_worker,
                                                                     tmp_path: Path) -> None:
    # Given: a worker without a signing key
    worker = start_worker()
    asyncio.run(publish_events(settings, "generations", [generation(i, "unsigned") for i in range(3)]))
    assert wait_until(lambda: decisions_on_topic(settings, 3), timeout_s=60)
    assert "SWERVE_AUDIT_SIGNING_KEY_PATH is not set" in worker.log_tail(200)
    _, public = generate_key_pair(tmp_path / "trusted")
    env = {**swerve_env, "SWERVE_AUDIT_TRUSTED_KEYS_DIR": str(tmp_path / "trusted")}

    # Then: sync refuses its events, unless told to allow unsigned ones
    refused = swerve(env, "audit", "sync", "--ledger", str(tmp_path / "a.sqlite"), "--idle", "1")
    assert refused.returncode == 1 and "refused 3 (0 undecodable, 3 unsigned" in refused.stdout, refused.stdout + refused.stderr
    allowed = swerve(env, "audit", "sync", "--ledger", str(tmp_path / "b.sqlite"), "--idle", "1", "--allow-unsigned")
    assert allowed.returncode == 0 and "appended 3 audit events" in allowed.stdout, allowed.stdout + allowed.stderr
    no_keys = swerve(swerve_env, "audit", "sync", "--ledger", str(tmp_path / "c.sqlite"), "--idle", "1")
    assert no_keys.returncode == 1 and "no trusted audit keys" in no_keys.stderr
