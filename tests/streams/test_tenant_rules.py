"""Binding a request's tenant to where it came from, and telling a tightening override from a relaxing one."""

from __future__ import annotations

import pytest

from swerve.errors import TenantMismatchError
from swerve.media import ImageRef
from swerve.streams.events import GenerationEvent
from swerve.streams.policy import DetectorSpec, Rules
from swerve.streams.tenant_rules import bind_tenant, relaxations

from .builders import tiny_png


def claiming(tenant: str) -> GenerationEvent:
    return GenerationEvent(id="g-1", request_id="r-1", tenant=tenant, prompt="p", image=ImageRef.from_bytes(tiny_png()))


def test_given_an_unpinned_worker_then_the_claim_stands_for_the_policy_to_limit() -> None:
    assert bind_tenant(claiming("acme"), None).tenant == "acme"


def test_given_a_pinned_worker_then_an_unclaimed_body_gets_its_tenant_and_a_matching_one_stays() -> None:
    assert bind_tenant(claiming("default"), "acme").tenant == "acme"
    assert bind_tenant(claiming("acme"), "acme").tenant == "acme"


def test_given_a_pinned_worker_when_a_body_claims_another_tenant_then_it_is_refused_naming_both() -> None:
    with pytest.raises(TenantMismatchError, match="claims tenant 'globex'.*serves only tenant 'acme'"):
        bind_tenant(claiming("globex"), "acme")


BLOCKLIST = DetectorSpec(name="takedowns", kind="hash_blocklist", params={"digests": []}, on_flag="block")


@pytest.mark.parametrize(
    ("tenant", "relaxed"),
    [
        (Rules(detectors=[BLOCKLIST]), False),
        (Rules(detectors=[BLOCKLIST, BLOCKLIST.model_copy(update={"name": "extra"})]), False),
        (Rules(detectors=[BLOCKLIST], max_attempts=9), False),
        (Rules(detectors=[]), True),
        (Rules(detectors=[BLOCKLIST.model_copy(update={"on_flag": "correct"})]), True),
        (Rules(detectors=[BLOCKLIST], on_detector_error="pass"), True),
    ],
)
def test_given_an_override_then_only_a_weaker_one_is_a_relaxation(tenant: Rules, relaxed: bool) -> None:
    assert bool(relaxations(Rules(detectors=[BLOCKLIST]), tenant)) is relaxed
