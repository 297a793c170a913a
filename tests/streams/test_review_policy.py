"""The review keys of a policy: `on_flag: review`, `on_exhausted`, the review timeout per tenant."""

from __future__ import annotations

import pytest

from swerve.client.moderator import Moderator
from swerve.errors import ConfigurationError, PolicyError
from swerve.streams.events import DetectorScore
from swerve.streams.judging import decide
from swerve.streams.policy import parse_policy
from swerve.streams.review_timeout import check_review_retention
from swerve.streams.settings import Settings

BASE = """
version: "review-1"
detectors:
  - {name: takedowns, kind: hash_blocklist, on_flag: %s, params: {digests: []}}
correctors: [{name: mirror, kind: testing.mirror}]
"""


def test_given_no_review_keys_then_exhausted_corrections_block_and_items_wait_a_day() -> None:
    policy = parse_policy(BASE % "correct")
    assert (policy.on_exhausted, policy.review_timeout_s, policy.on_review_timeout) == ("block", 86400.0, "block")
    assert not policy.uses_review


@pytest.mark.parametrize("text", [BASE % "review", BASE % "correct" + "on_exhausted: review\n"])
def test_given_on_flag_or_on_exhausted_review_then_the_policy_uses_review(text: str) -> None:
    assert parse_policy(text).uses_review


def test_given_a_tenant_timeout_then_only_that_tenant_gets_it() -> None:
    policy = parse_policy(BASE % "review" + "review_timeout_s: 600\ntenants:\n  hasty: {review_timeout_s: 2}\n")
    assert policy.rules_for("hasty").review_timeout_s == 2
    assert policy.rules_for("other").review_timeout_s == 600
    assert policy.longest_review_timeout_s() == 600


@pytest.mark.parametrize("extra, named", [
    ("on_review_timeout: approve_original\n", "on_review_timeout"),
    ("on_exhausted: approve\n", "on_exhausted"),
    ("review_timeout_s: 0\n", "review_timeout_s"),
    ("review_timeout_s: 99999999\n", "review_timeout_s"),
])
def test_given_an_invalid_review_key_then_the_policy_error_names_it(extra: str, named: str) -> None:
    with pytest.raises(PolicyError, match=named):
        parse_policy(BASE % "review" + extra)


@pytest.mark.parametrize("base_flag, tenant, weaker", [
    ("block", "detectors: [{name: takedowns, kind: hash_blocklist, on_flag: review, params: {digests: []}}]", "from block to review"),
    ("correct", "on_exhausted: review", "weakens on_exhausted from block to review"),
])
def test_given_a_tenant_override_that_relaxes_to_review_then_it_needs_a_binding(base_flag: str, tenant: str, weaker: str) -> None:
    with pytest.raises(PolicyError, match=weaker):
        parse_policy(BASE % base_flag + f"tenants:\n  t: {{{tenant}}}\n")
    bound = parse_policy(BASE % base_flag + f"tenants:\n  t: {{relaxes: true, source: pinned_worker, {tenant}}}\n")
    assert bound.rules_for("t", bound=True).uses_review and not bound.rules_for("t").uses_review


def test_given_a_tenant_that_goes_from_correct_to_review_then_it_only_tightens() -> None:
    tightening = "detectors: [{name: takedowns, kind: hash_blocklist, on_flag: review, params: {digests: []}}]"
    policy = parse_policy(BASE % "correct" + f"tenants:\n  careful: {{{tightening}}}\n")
    assert policy.rules_for("careful").detectors[0].on_flag == "review"


def score(action: str) -> DetectorScore:
    return DetectorScore(detector=action, version="1", status="ok", value=1.0, threshold=0.5, flagged=True, action=action)  # type: ignore[arg-type]


@pytest.mark.parametrize("actions, decision", [
    (["correct", "review"], "review"), (["review", "block"], "block"), (["review", "pass"], "review"),
])
def test_given_several_firing_detectors_then_block_beats_review_beats_correct(actions: list[str], decision: str) -> None:
    assert decide([score(a) for a in actions])[0] == decision


def test_given_a_review_policy_then_the_in_process_moderator_refuses_it() -> None:
    with pytest.raises(PolicyError, match="review"):
        Moderator(parse_policy(BASE % "review"), settings=Settings(), ledger_path=False)


def test_given_a_timeout_not_shorter_than_the_review_topics_retention_then_the_worker_refuses_to_start() -> None:
    policy = parse_policy(BASE % "review" + "review_timeout_s: 7200\n")
    check_review_retention(policy, Settings.model_validate({"worker": {"review_retention_h": 3}}))
    with pytest.raises(ConfigurationError, match="SWERVE_WORKER_REVIEW_RETENTION_H"):
        check_review_retention(policy, Settings.model_validate({"worker": {"review_retention_h": 2}}))


def test_given_a_prompt_detector_with_on_flag_review_then_the_policy_refuses_it() -> None:
    with pytest.raises(PolicyError, match="prompt detectors cannot send to review"):
        parse_policy('version: "p"\nprompt_detectors: [{name: wen, kind: prompt_memorization, on_flag: review}]\n')
