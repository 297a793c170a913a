"""Policy files: validated YAML, versioned by content, with per-tenant overrides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from swerve.errors import PolicyError
from swerve.streams.policy import PASS_EVERYTHING, load_policy, parse_policy

POLICY = """
version: "2026-11-22"
detectors:
  - name: takedowns
    kind: hash_blocklist
    params: {digests: []}
    corrector: mirror
correctors:
  - name: mirror
    kind: testing.mirror
tenants:
  acme:
    relaxes: true
    source: pinned_worker
    detectors: []
  strict:
    on_detector_error: block
    max_attempts: 5
"""


def test_given_a_valid_file_then_it_loads_with_a_content_digest_in_its_version(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    policy = load_policy(path)
    assert policy.version == "2026-11-22"
    assert policy.full_version.startswith("2026-11-22+") and len(policy.full_version) == len("2026-11-22+") + 12
    assert policy.on_detector_error == "block", "fail closed is the default"
    assert [d.name for d in policy.detectors] == ["takedowns"]


def test_given_the_same_version_but_other_content_then_the_full_version_differs() -> None:
    assert parse_policy(POLICY).full_version != parse_policy(POLICY + "\nmax_attempts: 2\n").full_version


def test_given_tenant_overrides_then_rules_for_applies_only_those_fields() -> None:
    policy = parse_policy(POLICY)
    assert policy.rules_for("acme", bound=True).detectors == []
    assert policy.rules_for("acme", bound=True).correctors == policy.correctors
    strict = policy.rules_for("strict")
    assert (strict.on_detector_error, strict.max_attempts, len(strict.detectors)) == ("block", 5, 1)
    assert policy.rules_for("unknown-tenant").detectors == policy.detectors


def test_given_a_relaxing_override_claimed_without_its_binding_then_the_base_rules_apply() -> None:
    # Given a tenant whose override drops every detector, bound to a pinned worker
    policy = parse_policy(POLICY)
    # When a request merely claims it (a body, on a worker not pinned to it), it gets the base rules
    assert policy.rules_for("acme").detectors == policy.detectors
    # ... and only where the tenant is bound does the relaxed rule set apply
    assert policy.rules_for("acme", bound=True).detectors == []


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("detectors: []", "drops detector 'takedowns'"),
        ("on_detector_error: pass", "weakens on_detector_error from block to pass"),
        ("detectors: [{name: takedowns, kind: hash_blocklist, params: {digests: []}, on_flag: correct, corrector: mirror}]", None),
        ("detectors: [{name: takedowns, kind: hash_blocklist, params: {digests: [], path: /x}, corrector: mirror}]", "changes the kind or params"),
        ("relaxes: true\n    detectors: []", "must say `relaxes: true` and bind"),
    ],
)
def test_given_an_override_that_relaxes_without_a_binding_then_the_policy_refuses_to_load(override: str, named: str | None) -> None:
    text = POLICY.split("tenants:")[0] + "tenants:\n  weak:\n    " + override + "\n"
    if named is None:
        assert parse_policy(text).rules_for("weak").detectors[0].on_flag == "correct"  # the same rules: not a relaxation
        return
    with pytest.raises(PolicyError, match=re.escape(named)):
        parse_policy(text)


def test_given_a_block_policy_when_a_tenant_tightens_then_it_loads_and_a_claim_applies_it() -> None:
    text = POLICY.split("tenants:")[0].replace("corrector: mirror", "corrector: mirror\n    on_flag: correct") + (
        "tenants:\n  stricter:\n    detectors:\n"
        "      - {name: takedowns, kind: hash_blocklist, params: {digests: []}, on_flag: block}\n"
        "      - {name: extra, kind: hash_blocklist, params: {digests: []}, on_flag: block}\n"
    )
    rules = parse_policy(text).rules_for("stricter")
    assert [(d.name, d.on_flag) for d in rules.detectors] == [("takedowns", "block"), ("extra", "block")]


def test_given_no_detectors_then_the_policy_passes_everything() -> None:
    assert PASS_EVERYTHING.rules_for("any").detectors == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- just a list", "mapping"),
        ("version: [unclosed", "YAML"),
        ("detectors: []", "version"),
        ('version: "1"\ndetectors: [{name: a, kind: hash_blocklist, on_flag: explode}]', "on_flag"),
        ('version: "1"\ndetectors: [{name: a, kind: x, corrector: nope}]', "unknown corrector"),
        ('version: "1"\ndetectors: [{name: a, kind: x}, {name: a, kind: y}]', "duplicate"),
        ('version: "1"\nsurprise: true', "surprise"),
    ],
)
def test_given_an_invalid_policy_then_a_policy_error_names_the_problem(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(text)


def test_given_a_missing_file_then_the_error_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="nowhere.yaml"):
        load_policy(tmp_path / "nowhere.yaml")


def test_given_variables_then_they_expand_and_unknown_ones_are_named() -> None:
    text = 'version: "v"\ndetectors: [{name: a, kind: hash_blocklist, params: {path: "${SWERVE_TOYWORLD}/list.txt"}}]'
    policy = parse_policy(text)
    assert policy.detectors[0].params["path"].endswith("toyworld/list.txt")
    assert parse_policy(text, variables={"SWERVE_TOYWORLD": "/opt/x"}).detectors[0].params["path"] == "/opt/x/list.txt"
    with pytest.raises(PolicyError, match="NOT_SET_ANYWHERE"):
        parse_policy('version: "${NOT_SET_ANYWHERE}"', variables={})


def test_given_the_shipped_toy_policy_then_its_correctors_sample_as_the_toy_world_measures() -> None:
    from swerve.streams.embedded_defaults import TOY_POLICY
    from swerve.toyworld import DEFAULT_GUIDANCE_SCALE

    # The efficacy figures (docs/results.md) are measured at the toy world's guidance; the demo must match.
    correctors = load_policy(TOY_POLICY).correctors
    assert correctors
    assert {c.params["guidance_scale"] for c in correctors} == {DEFAULT_GUIDANCE_SCALE}
