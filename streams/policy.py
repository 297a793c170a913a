"""The policy file: which detectors run, their thresholds, and what each outcome does.

A policy is YAML, validated by pydantic, with an operator-chosen ``version``. The version
recorded in every verdict is that string plus a digest of the file's content, so an auditor
can tell exactly which rules decided. Tenants may override the detector list, the correctors
and the error action. An override may only tighten the base rules, unless it says it relaxes
them and binds itself to a source the producer cannot forge (``streams/tenant_rules.py``).
A policy with no detectors passes everything.

A detector may send what it flags to a person (``on_flag: review``), and corrections that run
out may too (``on_exhausted: review``, default ``block``). A request under review gets no
delivery until a reviewer decides, or until ``review_timeout_s`` passes and it resolves to
``on_review_timeout`` (``block``: nothing flagged is delivered because nobody looked).

Example::

    version: "2026-11-22"
    on_detector_error: block        # fail closed (block or correct); "pass" must be explicit
    detectors:
      - name: takedowns
        kind: hash_blocklist
        params: {path: /etc/swerve/takedowns.txt}
        on_flag: correct            # or review, or block
        corrector: mirror
    correctors:
      - name: mirror
        kind: testing.mirror
    max_attempts: 3
    on_exhausted: review            # after max_attempts: a person decides (default block)
    review_timeout_s: 86400         # then the item resolves to on_review_timeout (block)
    tenants:
      strict:                       # tightens: a body's claim is enough
        max_attempts: 1
        review_timeout_s: 600
      lenient:                      # relaxes: only a worker pinned to it applies it
        relaxes: true
        source: pinned_worker
        detectors: []
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from swerve.errors import PolicyError
from swerve.streams.events import MAX_ATTEMPTS
from swerve.streams.tenant_rules import relaxations

# The longest review timeout a policy may set (30 days): an item must stay in the review topics
# until it resolves, and their retention (SWERVE_WORKER_REVIEW_RETENTION_H) is checked against it.
MAX_REVIEW_TIMEOUT_S = 30 * 24 * 3600.0


class DetectorSpec(BaseModel):
    """One detector as the policy configures it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    on_flag: Literal["correct", "review", "block"] = "correct"
    corrector: str | None = Field(default=None, description="Corrector to use when this detector fires.")


class CorrectorSpec(BaseModel):
    """One corrector as the policy configures it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)


class Rules(BaseModel):
    """The rules that decide one request: the whole policy, or one tenant's view of it."""

    model_config = ConfigDict(extra="forbid")

    on_detector_error: Literal["block", "correct", "pass"] = "block"
    detectors: list[DetectorSpec] = Field(default_factory=list)
    prompt_detectors: list[DetectorSpec] = Field(default_factory=list, description="Run on swerve.prompts before generation.")
    correctors: list[CorrectorSpec] = Field(default_factory=list)
    max_attempts: int = Field(default=3, ge=1, le=MAX_ATTEMPTS)
    on_exhausted: Literal["block", "review"] = Field(default="block", description="After max_attempts failed corrections.")
    review_timeout_s: float = Field(default=86400.0, gt=0, le=MAX_REVIEW_TIMEOUT_S, description="How long an item waits for a person.")
    # Only block: approving an image a detector flagged because nobody looked at it would undo
    # fail-closed. A Literal, so a policy that asks for anything else is refused by name.
    on_review_timeout: Literal["block"] = "block"

    @property
    def uses_review(self) -> bool:
        """Whether these rules can hold a request for a person."""
        return self.on_exhausted == "review" or any(d.on_flag == "review" for d in self.detectors)

    @model_validator(mode="after")
    def _check_review(self) -> "Rules":
        reviewed = [d.name for d in self.prompt_detectors if d.on_flag == "review"]
        if reviewed:
            # A prompt is screened before there is an image: nothing a person could review or deliver.
            raise ValueError(f"prompt detectors cannot send to review (on_flag: review): {reviewed}; use correct or block")
        return self

    @model_validator(mode="after")
    def _check_names(self) -> "Rules":
        groups = (
            ("detector", [d.name for d in self.detectors]),
            ("prompt detector", [d.name for d in self.prompt_detectors]),
            ("corrector", [c.name for c in self.correctors]),
        )
        for kind, names in groups:
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"duplicate {kind} names: {duplicates}")
        known = {c.name for c in self.correctors}
        for detector in self.detectors:
            if detector.corrector is not None and detector.corrector not in known:
                raise ValueError(f"detector {detector.name!r} names unknown corrector {detector.corrector!r}")
        return self


class TenantOverride(BaseModel):
    """Fields a tenant may override; unset fields inherit from the policy.

    ``relaxes`` and ``source`` must both be set for an override that is weaker than the base
    rules: it then applies only on a worker pinned to this tenant (``SWERVE_WORKER_TENANT``).
    """

    model_config = ConfigDict(extra="forbid")

    relaxes: bool = Field(default=False, description="The override may be weaker than the base rules.")
    source: Literal["pinned_worker"] | None = Field(
        default=None, description="Where the tenant must come from for this override to apply."
    )

    on_detector_error: Literal["block", "correct", "pass"] | None = None
    detectors: list[DetectorSpec] | None = None
    prompt_detectors: list[DetectorSpec] | None = None
    correctors: list[CorrectorSpec] | None = None
    max_attempts: int | None = Field(default=None, ge=1, le=MAX_ATTEMPTS)
    on_exhausted: Literal["block", "review"] | None = None
    review_timeout_s: float | None = Field(default=None, gt=0, le=MAX_REVIEW_TIMEOUT_S)
    on_review_timeout: Literal["block"] | None = None


class Policy(Rules):
    """A whole policy file."""

    version: str = Field(min_length=1)
    tenants: dict[str, TenantOverride] = Field(default_factory=dict)
    digest: str = Field(default="", description="sha256 of the file content; set by load_policy.")

    @property
    def full_version(self) -> str:
        """What verdicts record: the operator's version plus the content digest."""
        return f"{self.version}+{self.digest[:12]}" if self.digest else self.version

    def rules_for(self, tenant: str, *, bound: bool = False) -> Rules:
        """The rules for ``tenant``: the policy with that tenant's overrides applied.

        Args:
            tenant: the tenant of the request.
            bound: whether the tenant comes from a source the producer cannot forge (a worker
                pinned to it). A relaxing override applies only then; otherwise the request
                gets the base rules.
        """
        base = Rules(
            on_detector_error=self.on_detector_error,
            detectors=self.detectors,
            prompt_detectors=self.prompt_detectors,
            correctors=self.correctors,
            max_attempts=self.max_attempts,
            on_exhausted=self.on_exhausted,
            review_timeout_s=self.review_timeout_s,
            on_review_timeout=self.on_review_timeout,
        )
        override = self.tenants.get(tenant)
        if override is None or (override.relaxes and not bound):
            return base
        changes = override.model_dump(exclude_none=True, exclude={"relaxes", "source"})
        return Rules.model_validate({**base.model_dump(), **changes})

    def all_rules(self) -> list[Rules]:
        """The base rules and every tenant's: what a worker builds before it says it is ready."""
        return [self.rules_for(tenant, bound=True) for tenant in ["", *self.tenants]]

    @property
    def uses_review(self) -> bool:
        """Whether any tenant's rules can hold a request for a person (workers must then run
        the review agent; the in-process ``Moderator`` refuses such a policy)."""
        return any(rules.uses_review for rules in self.all_rules())

    def longest_review_timeout_s(self) -> float:
        """The longest review timeout of any tenant's rules."""
        return max(rules.review_timeout_s for rules in self.all_rules())


_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def builtin_variables() -> dict[str, str]:
    """Variables every policy may use: ``SWERVE_TOYWORLD`` (the toy world's package folder, where
    its weights live) and ``SWERVE_DATA_DIR`` (default ``./.swerve``); the environment overrides."""
    spec = importlib.util.find_spec("swerve.toyworld")
    toyworld = next(iter(spec.submodule_search_locations or [])) if spec is not None else ""
    return {"SWERVE_TOYWORLD": str(toyworld), "SWERVE_DATA_DIR": str(Path.cwd() / ".swerve")}


def expand_variables(text: str, variables: dict[str, str], source: str) -> str:
    """Replace each ``${NAME}`` with its value; an unknown name is a PolicyError."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise PolicyError(f"{source} uses ${{{name}}}, which is neither set in the environment nor built in")
        return variables[name]

    return _VARIABLE.sub(value, text)


def parse_policy(text: str, *, source: str = "<policy>", variables: dict[str, str] | None = None) -> Policy:
    """Validate policy YAML ``text``; ``source`` names it in errors.

    ``${NAME}`` in the text is replaced from ``variables`` (default: the built-ins, then the
    environment). The digest in the policy version covers the text as written, before expansion.
    """
    expanded = expand_variables(text, variables if variables is not None else {**builtin_variables(), **os.environ}, source)
    try:
        data = yaml.safe_load(expanded)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PolicyError(f"{source} must be a YAML mapping, got {type(data).__name__}")
    try:
        policy = Policy.model_validate({**data, "digest": hashlib.sha256(text.encode()).hexdigest()})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()[:5])
        raise PolicyError(f"{source} is not a valid policy: {problems}") from exc
    base = policy.rules_for("")
    for tenant, override in policy.tenants.items():
        try:
            rules = policy.rules_for(tenant, bound=True)
        except ValidationError as exc:
            raise PolicyError(f"{source}: tenant {tenant!r} override is inconsistent: {exc.errors()[0]['msg']}") from exc
        weaker = relaxations(base, rules)
        if weaker and not (override.relaxes and override.source is not None):
            raise PolicyError(
                f"{source}: tenant {tenant!r} override relaxes the base rules ({'; '.join(weaker)}); a relaxing override "
                "must say `relaxes: true` and bind itself to a source the producer cannot forge (`source: pinned_worker`)"
            )
        if override.relaxes != (override.source is not None):
            raise PolicyError(f"{source}: tenant {tenant!r} must set both `relaxes: true` and `source`, or neither")
    return policy


def load_policy(path: Path | str, variables: dict[str, str] | None = None) -> Policy:
    """Read and validate the policy file at ``path`` (``variables`` as for ``parse_policy``)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {file}: {exc}") from exc
    return parse_policy(text, source=str(file), variables=variables)


PASS_EVERYTHING = Policy(version="pass-everything")
