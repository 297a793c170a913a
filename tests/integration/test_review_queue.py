"""The human review queue on a real broker with a real worker, under tests/integration/policies/review.yaml:
a flagged request waits with no delivery until a person decides, then gets exactly one delivery
and a signed audit record naming the reviewer; a second decision is refused with the first's
details; a tenant's short timeout blocks as `swerve:review-timeout`; a worker restart loses no
pending item and decides none twice."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from PIL import ImageOps

from swerve.audit.signing import TrustedKeys, generate_key_pair
from swerve.errors import AlreadyDecidedError
from swerve.media import decode_bytes, sha256_hex
from swerve.media.encode import encode_image
from swerve.streams.events import AuditEvent, DeliveryEvent, GenerationEvent, ReviewDecisionEvent
from swerve.streams.review_ledger import ReviewLedger
from swerve.streams.settings import Settings
from swerve.streams.topic_io import collect, publish_events
from swerve.streams.topics import TopicNames

from .builders import generation, png_bytes
from .conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

POLICY = Path(__file__).parent / "policies" / "review.yaml"
SWERVE = [sys.executable, "-m", "swerve.cli.main"]


def mirrored_digest(index: int) -> str:
    """The digest of the testing mirror's candidate for ``generation(index, ...)``, as the correct stage encodes it."""
    return sha256_hex(encode_image(ImageOps.mirror(decode_bytes(png_bytes(index))), "image/png"))


def review_env(swerve_env: dict[str, str], tmp_path: Path, near_copies: list[GenerationEvent], red: list[int]) -> tuple[dict[str, str], Path]:
    """The worker environment under the review policy, and the public key its audit records verify with."""
    data = Path(swerve_env["SWERVE_DATA_DIR"])
    data.mkdir(parents=True, exist_ok=True)
    (data / "near-copies.txt").write_text("".join(f"{e.image.sha256}\n" for e in near_copies))
    # A red image and its mirror are both listed: the one correction attempt cannot clear.
    (data / "red.txt").write_text("".join(f"{sha256_hex(png_bytes(i))}\n{mirrored_digest(i)}\n" for i in red))
    private, public = generate_key_pair(tmp_path / "keys")
    env = {"SWERVE_POLICY_PATH": str(POLICY), "SWERVE_AUDIT_SIGNING_KEY_PATH": str(private), "SWERVE_WORKER_REVIEW_TIMEOUT_CHECK_S": "0.5"}
    return env, public


def deliveries(settings: Settings) -> dict[str, list[DeliveryEvent]]:
    records = asyncio.run(collect(settings, TopicNames(settings.topic_prefix).delivery, idle_timeout_s=0.5))
    by_request: dict[str, list[DeliveryEvent]] = defaultdict(list)
    for record in records:
        event = record.decoded(settings.topic_prefix)
        assert isinstance(event, DeliveryEvent)
        by_request[event.request_id].append(event)
    return by_request


def review_audits(settings: Settings) -> list[tuple[AuditEvent, dict]]:
    records = asyncio.run(collect(settings, TopicNames(settings.topic_prefix).audit, idle_timeout_s=0.5))
    audits = []
    for record in records:
        event = record.decoded(settings.topic_prefix)
        assert isinstance(event, AuditEvent)
        if event.stage == "review":
            audits.append((event, json.loads(record.value or b"{}")))
    return audits


def ledger(settings: Settings) -> ReviewLedger:
    return asyncio.run(ReviewLedger.read(settings))


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SWERVE, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60)


def test_a_flagged_request_waits_for_a_person_then_gets_one_delivery_naming_the_reviewer(
    settings: Settings, swerve_env: dict[str, str], start_worker, tmp_path: Path
) -> None:
    near, clean = generation(1, "review"), generation(2, "review")
    env, public = review_env(swerve_env, tmp_path, [near], [])
    worker = start_worker(**env)
    asyncio.run(publish_events(settings, "generations", [near, clean]))

    # Given a near-copy flagged with on_flag: review, it waits for a person with no delivery
    assert wait_until(lambda: clean.request_id in deliveries(settings) and ledger(settings).item(near.request_id) is not None, 90), worker.log_tail()
    assert near.request_id not in deliveries(settings)
    listed = cli({**swerve_env, **env}, "review", "list")
    assert listed.returncode == 0, listed.stderr
    [shown] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (shown["request_id"], shown["route"], shown["scores"][0]["detector"], shown["candidate"]) == (near.request_id, "on_flag", "memorization", None)

    # When alice approves the original through the CLI
    decided = cli({**swerve_env, **env}, "review", "decide", near.request_id, "--decision", "approve_original",
                  "--reviewer", "alice", "--note", "a drawing of my own")
    assert decided.returncode == 0, decided.stderr
    assert json.loads(decided.stdout)["status"] == "accepted"

    # Then the request gets exactly one delivery, naming alice, and a signed audit record naming her
    assert wait_until(lambda: near.request_id in deliveries(settings), 60), worker.log_tail()
    assert wait_until(lambda: any(a.decision == "approve_original" for a, _ in review_audits(settings)), 30), worker.log_tail()
    [delivery] = deliveries(settings)[near.request_id]
    assert (delivery.outcome, delivery.image, delivery.reason_class) == ("original", near.image, "review")
    assert delivery.reason == "review: approve_original by 'alice': a drawing of my own"
    [(audit, body)] = [(a, b) for a, b in review_audits(settings) if a.decision == "approve_original"]
    assert audit.record["context"]["reviewer"] == "alice" and audit.output_ids == [delivery.id]
    assert TrustedKeys.from_paths([public]).check(body) == "valid"

    # And a second decision is refused with the first one's details, by the CLI before it publishes...
    second = cli({**swerve_env, **env}, "review", "decide", near.request_id, "--decision", "block", "--reviewer", "bob")
    assert second.returncode == 1, second.stderr
    refusal = json.loads(second.stdout)
    assert refusal["status"] == "refused"
    assert (refusal["first_decision"]["decision"], refusal["first_decision"]["reviewer"]) == ("approve_original", "alice")
    assert refusal["first_decision"]["decided_at"]

    # ...and by the worker when a racing reviewer's decision reached the log anyway: an audit record, no delivery
    item = ledger(settings).item(near.request_id)
    assert item is not None
    raced = ReviewDecisionEvent(id="raced-bob", request_id=near.request_id, item_id=item.id, decision="block", reviewer="bob", note="too late")
    asyncio.run(publish_events(settings, "review_decisions", [raced]))
    assert wait_until(lambda: any(a.decision == "refused" for a, _ in review_audits(settings)), 60), worker.log_tail()
    [(refused, refused_body)] = [(a, b) for a, b in review_audits(settings) if a.decision == "refused"]
    first = refused.record["context"]["first_decision"]
    assert (first["decision"], first["reviewer"], refused.record["context"]["refused_decision"]["reviewer"]) == ("approve_original", "alice", "bob")
    assert TrustedKeys.from_paths([public]).check(refused_body) == "valid"
    assert {d.id for d in deliveries(settings)[near.request_id]} == {delivery.id}

    # The decided item exports as a labeled example: a false positive of memorization
    exported = cli({**swerve_env, **env}, "review", "export", "--output", str(tmp_path / "labels.jsonl"))
    assert exported.returncode == 0, exported.stderr
    [row] = [json.loads(line) for line in (tmp_path / "labels.jsonl").read_text().splitlines()]
    assert (row["label"], row["scores"], row["reviewer"]) == (0, {"memorization": 1.0, "no-red": 0.0}, "alice")
    assert worker.alive


def test_exhausted_corrections_wait_with_their_candidate_and_a_tenants_short_timeout_blocks(
    settings: Settings, swerve_env: dict[str, str], start_worker, tmp_path: Path
) -> None:
    red, hasty = generation(3, "review"), generation(4, "review", tenant="hasty")
    env, _ = review_env(swerve_env, tmp_path, [hasty], [3])
    worker = start_worker(**env)
    asyncio.run(publish_events(settings, "generations", [red, hasty]))

    # Given a red image whose one correction cannot clear (on_exhausted: review), it waits with that candidate
    def candidate_waits() -> bool:
        item = ledger(settings).item(red.request_id)
        return item is not None and item.candidate is not None
    assert wait_until(candidate_waits, 90), worker.log_tail()
    current = ledger(settings)
    item = current.item(red.request_id)
    assert item is not None and item.candidate is not None and item.candidate.image.sha256 == mirrored_digest(3)
    assert item.route == "on_exhausted" and red.request_id not in deliveries(settings)

    # When carol approves the replacement through the library the gateway uses
    receipt = asyncio.run(current.submit(current.decision(red.request_id, "approve_replacement", reviewer="carol", note="the mirror is fine")))
    assert receipt.accepted

    # Then the candidate is the request's one delivery
    assert wait_until(lambda: red.request_id in deliveries(settings), 60), worker.log_tail()
    [delivery] = deliveries(settings)[red.request_id]
    assert (delivery.outcome, delivery.image, delivery.verdict_id) == ("replacement", item.candidate.image, item.candidate.verdict.id)

    # And the hasty tenant's near-copy, which nobody decided, is blocked by the timeout after its 3 s
    assert wait_until(lambda: hasty.request_id in deliveries(settings), 60), worker.log_tail()
    [blocked] = deliveries(settings)[hasty.request_id]
    waited = ledger(settings).item(hasty.request_id)
    assert waited is not None and blocked.created_at >= waited.deadline
    assert (blocked.outcome, blocked.reason_class) == ("blocked", "review") and "swerve:review-timeout" in (blocked.reason or "")
    assert wait_until(lambda: any(a.request_id == hasty.request_id for a, _ in review_audits(settings)), 30)
    [(audit, _)] = [(a, b) for a, b in review_audits(settings) if a.request_id == hasty.request_id]
    assert (audit.decision, audit.record["context"]["reviewer"]) == ("block", "swerve:review-timeout")
    with pytest.raises(AlreadyDecidedError) as late:
        ledger(settings).decision(hasty.request_id, "approve_original", reviewer="dave")
    assert late.value.first_reviewer == "swerve:review-timeout"
    assert worker.alive


def test_a_worker_restart_while_items_wait_loses_none_and_decides_none_twice(
    settings: Settings, swerve_env: dict[str, str], start_worker, tmp_path: Path
) -> None:
    waiting = [generation(10 + i, "restart") for i in range(6)]
    hasty = [generation(20 + i, "restart", tenant="hasty") for i in range(2)]
    env, _ = review_env(swerve_env, tmp_path, [*waiting, *hasty], [])
    worker = start_worker(**env)
    asyncio.run(publish_events(settings, "generations", [*waiting, *hasty]))
    expected = {g.request_id for g in [*waiting, *hasty]}
    assert wait_until(lambda: all(ledger(settings).item(r) is not None for r in expected), 90), worker.log_tail()

    decisions = {g.request_id: ("block" if i % 2 else "approve_original") for i, g in enumerate(waiting)}

    def decide(requests: list[GenerationEvent]) -> None:
        current = ledger(settings)
        for g in requests:
            assert asyncio.run(current.submit(current.decision(g.request_id, decisions[g.request_id], reviewer="erin"))).accepted  # type: ignore[arg-type]

    # Given two decisions published just before the worker is killed, and two while it is down
    decide(waiting[:2])
    worker.kill()
    decide(waiting[2:4])

    # When a new worker starts, and the last two are decided after it started
    restarted = start_worker(**env)
    decide(waiting[4:])

    # Then every request has exactly one delivery after dedupe by id, as decided; the hasty ones timed out
    assert wait_until(lambda: set(deliveries(settings)) >= expected, 120), restarted.log_tail()
    final = deliveries(settings)
    assert set(final) == expected
    assert all(len({d.id for d in ds}) == 1 for ds in final.values()), {r: [d.id for d in ds] for r, ds in final.items()}
    outcome = {"block": "blocked", "approve_original": "original"}
    assert {r: final[r][0].outcome for r in decisions} == {r: outcome[d] for r, d in decisions.items()}
    assert all(final[g.request_id][0].outcome == "blocked" and "swerve:review-timeout" in (final[g.request_id][0].reason or "") for g in hasty)
    # ... and no request was decided twice: one applied decision per request, and nothing refused
    applied: dict[str, set[str]] = defaultdict(set)
    assert wait_until(lambda: len({a.request_id for a, _ in review_audits(settings)}) == len(expected), 30)
    for audit, _ in review_audits(settings):
        assert audit.decision != "refused", audit.record
        applied[audit.request_id].add(audit.id)
    assert all(len(ids) == 1 for ids in applied.values()) and set(applied) == expected
    assert restarted.alive
