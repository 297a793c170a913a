"""Tenants bound to identity: a producer that names a weaker tenant in the body gets no weaker
rules, and a worker pinned to a tenant refuses a body that claims another."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from swerve.streams.topic_io import collect, publish_events
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames

from ..integration.builders import generation
from ..integration.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def lenient_policy(path: Path, blocked: list[str]) -> Path:
    """Base rules block the listed images; tenant `lenient` drops every detector, bound to a pinned worker."""
    digests = ", ".join(f'"{d}"' for d in blocked)
    path.write_text(
        f"""version: "tenants-1"
detectors:
  - name: takedowns
    kind: hash_blocklist
    on_flag: block
    params: {{digests: [{digests}]}}
tenants:
  lenient:
    relaxes: true
    source: pinned_worker
    detectors: []
""",
        encoding="utf-8",
    )
    return path


def outcomes(settings: Settings) -> dict[str, str]:
    records = asyncio.run(collect(settings, TopicNames(settings.topic_prefix).delivery, idle_timeout_s=0.5))
    return {event.request_id: event.outcome for event in (record.decoded(settings.topic_prefix) for record in records)}  # type: ignore[union-attr]


def test_given_a_producer_naming_a_weaker_tenant_when_the_worker_is_not_pinned_to_it_then_it_gets_the_base_rules(
    settings: Settings, start_worker, tmp_path: Path
) -> None:
    # Given a listed image sent once as the default tenant and once claiming the lenient tenant
    plain, claiming = generation(1, "plain"), generation(1, "claim").model_copy(update={"tenant": "lenient"})
    policy = lenient_policy(tmp_path / "policy.yaml", [plain.image.sha256])
    worker = start_worker(SWERVE_POLICY_PATH=str(policy))
    asyncio.run(publish_events(settings, "generations", [plain, claiming]))
    # Then both are blocked: the claim did not buy the lenient tenant's empty detector list
    expected = {plain.request_id, claiming.request_id}
    assert wait_until(lambda: set(outcomes(settings)) >= expected, timeout_s=90), worker.log_tail()
    assert outcomes(settings) == {plain.request_id: "blocked", claiming.request_id: "blocked"}


def test_given_a_worker_pinned_to_a_tenant_then_its_rules_apply_and_a_body_claiming_another_is_rejected(
    settings: Settings, start_worker, tmp_path: Path
) -> None:
    # Given a worker pinned to `lenient` (its own ACL-protected topics), and three bodies:
    # one naming `lenient`, one naming no tenant, one claiming the tenant `acme`
    named = generation(1, "named").model_copy(update={"tenant": "lenient"})
    unnamed = generation(2, "unnamed")
    other = generation(3, "other").model_copy(update={"tenant": "acme"})
    policy = lenient_policy(tmp_path / "policy.yaml", [named.image.sha256, unnamed.image.sha256, other.image.sha256])
    worker = start_worker(SWERVE_POLICY_PATH=str(policy), SWERVE_WORKER_TENANT="lenient")
    asyncio.run(publish_events(settings, "generations", [named, unnamed, other]))
    # Then the pinned tenant's relaxed rules apply to the first two, and the third is refused
    expected = {named.request_id, unnamed.request_id, other.request_id}
    assert wait_until(lambda: set(outcomes(settings)) >= expected, timeout_s=90), worker.log_tail()
    assert outcomes(settings) == {named.request_id: "original", unnamed.request_id: "original", other.request_id: "rejected"}
    letters = asyncio.run(collect(settings, TopicNames(settings.topic_prefix).dlq, idle_timeout_s=0.5))
    assert [dict(r.headers)["swerve_dlq_error_class"] for r in letters] == [b"TenantMismatchError"]
