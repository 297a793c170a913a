"""Policy files: validated YAML, versioned by content, with per-tenant overrides."""

from __future__ import annotations

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
    detectors: []
  strict:
    on_detector_error: correct
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
    assert policy.rules_for("acme").detectors == []
    assert policy.rules_for("acme").correctors == policy.correctors
    strict = policy.rules_for("strict")
    assert (strict.on_detector_error, strict.max_attempts, len(strict.detectors)) == ("correct", 5, 1)
    assert policy.rules_for("unknown-tenant").detectors == policy.detectors


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
