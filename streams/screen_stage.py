"""The prompt-screening stage as a plain function: judge prompts before generation.

For each ``PromptEvent`` it runs the policy's ``prompt_detectors`` (e.g. Wen et al.'s
memorization signal) and makes a ``ScreenedPromptEvent`` and an audit record. When a detector
that fired can explain itself (``explain(prompt, seed)``), the per-token attribution travels
with the verdict so the generator's operator can see which words drive it. No broker code.
"""

from __future__ import annotations

from typing import Any, Sequence

from swerve.detectors.protocol import Sample
from swerve.streams.events import Decision, DetectorScore, PromptEvent, ScreenedPromptEvent, TokenAttributionRecord
from swerve.streams.ids import derive_id
from swerve.streams.judging import Judge
from swerve.streams.policy import Policy, Rules
from swerve.streams.publication import Publication, audit_of


def attributions_for(judge: Judge, rules: Rules, event: PromptEvent, firing: list[str]) -> list[TokenAttributionRecord]:
    """Token attributions from the first firing detector that can explain itself."""
    for spec in rules.prompt_detectors:
        detector: Any = judge.detector(spec)
        if spec.name in firing and hasattr(detector, "explain"):
            return [
                TokenAttributionRecord(token=a.token, position=a.position, weight=a.gradient_norm)
                for a in detector.explain(event.prompt, event.seed)
            ]
    return []


def screen(judge: Judge, policy: Policy, batch: Sequence[PromptEvent], bound_tenant: str | None = None) -> list[list[Publication]]:
    """Screen a micro-batch of prompts; return, per prompt, the events to publish (``bound_tenant``: as in ``detect``)."""
    outputs = []
    for event in batch:
        rules = policy.rules_for(event.tenant, bound=event.tenant == bound_tenant)
        sample = Sample(request_id=event.request_id, image=None, image_sha256=None, prompt=event.prompt, seed=event.seed)
        [judgement] = judge.judge(rules, [sample], rules.prompt_detectors)
        flagged = [s.detector for s in judgement.scores if s.flagged]
        attributions = attributions_for(judge, rules, event, flagged) if flagged else []
        outputs.append(screened(policy, event, judgement.decision, judgement.reasons, judgement.scores, attributions))
    return outputs


def screened(
    policy: Policy,
    event: PromptEvent,
    decision: Decision,
    reasons: list[str],
    scores: list[DetectorScore],
    attributions: list[TokenAttributionRecord],
) -> list[Publication]:
    """The screening verdict on ``event`` and its audit record."""
    verdict = ScreenedPromptEvent(
        id=derive_id(event.id, "screened"),
        request_id=event.request_id,
        tenant=event.tenant,
        prompt_id=event.id,
        prompt=event.prompt,
        decision=decision,
        reasons=reasons,
        scores=scores,
        attributions=attributions,
        policy_version=policy.full_version,
    )
    publications = [Publication("prompts_screened", verdict)]
    publications.append(audit_of("screen", event, verdict.decision, publications))
    return publications


def fail_closed(policy: Policy, event: PromptEvent, error: BaseException) -> list[Publication]:
    """The outcome of a prompt the stage itself failed on (a bug, not a detector): blocked."""
    reason = f"internal error in the screen stage: {type(error).__name__}: {error}"[:2000]
    return screened(policy, event, "block", [reason], [], [])
