"""The detect stage as a plain function of decoded generations: judge, then route.

For each generation it makes a verdict and an audit record, plus exactly one of: a delivery
of the original (pass), a flagged event (correct), a review item (review: no delivery until a
person decides, ``review_routing``) or a blocked delivery (block). All ids derive from the
generation id, so a replay yields the same events. No broker code here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from PIL import Image

from swerve.detectors.protocol import Sample
from swerve.streams.events import DeliveryEvent, FlaggedEvent, GenerationEvent, ReasonClass, VerdictEvent
from swerve.streams.ids import derive_id
from swerve.streams.judging import Judge, Judgement
from swerve.streams.policy import Policy, Rules
from swerve.streams.publication import Publication, audit_of
from swerve.streams.review_routing import review_item


@dataclass(frozen=True)
class DecodedGeneration:
    """A generation event with its image already decoded and verified."""

    event: GenerationEvent
    image: Image.Image


def verdict_for(generation: GenerationEvent, judgement: Judgement, policy: Policy, attempt: int = 0, image_sha256: str | None = None) -> VerdictEvent:
    """The verdict event recording ``judgement`` on ``generation`` (or on its ``attempt``-th replacement)."""
    return VerdictEvent(
        id=derive_id(generation.id, "verdict", attempt),
        request_id=generation.request_id,
        tenant=generation.tenant,
        generation_id=generation.id,
        image_sha256=image_sha256 or generation.image.sha256,
        decision=judgement.decision,
        reasons=judgement.reasons,
        scores=judgement.scores,
        policy_version=policy.full_version,
        index_version=judgement.index_version,
        attempt=attempt,
    )


def route(
    generation: GenerationEvent, verdict: VerdictEvent, policy: Policy, block_class: ReasonClass = "policy", rules: Rules | None = None
) -> Publication:
    """Where a first-pass verdict sends the generation (``block_class``: why, when it blocks).

    ``rules`` are the tenant's rules that judged it; a ``review`` verdict needs them (its
    review timeout).
    """
    if verdict.decision == "review":
        if rules is None:
            raise ValueError(f"routing generation {generation.id!r} to review needs the tenant's rules (its review timeout)")
        return review_item(generation, verdict, policy, rules, "on_flag")
    if verdict.decision == "correct":
        flagged = FlaggedEvent(
            id=derive_id(generation.id, "flagged"),
            request_id=generation.request_id,
            tenant=generation.tenant,
            generation=generation,
            verdict=verdict,
        )
        return Publication("flagged", flagged)
    blocked = verdict.decision == "block"
    delivery = DeliveryEvent(
        id=derive_id(generation.id, "delivery"),
        request_id=generation.request_id,
        tenant=generation.tenant,
        generation_id=generation.id,
        outcome="blocked" if blocked else "original",
        image=None if blocked else generation.image,
        reason="; ".join(verdict.reasons) if blocked else None,
        verdict_id=verdict.id,
        policy_version=policy.full_version,
        reason_class=block_class if blocked else None,
    )
    return Publication("delivery", delivery)


def detect(judge: Judge, policy: Policy, batch: Sequence[DecodedGeneration], bound_tenant: str | None = None) -> list[list[Publication]]:
    """Judge a micro-batch; return, per generation, the events to publish.

    ``bound_tenant`` is the tenant the worker is pinned to: only its requests may get a
    relaxing override; any other tenant named in a body gets rules at least as strict as the base.
    """
    judgements: dict[int, Judgement] = {}
    by_tenant: dict[str, list[int]] = {}
    rules_of: dict[str, Rules] = {}
    for position, item in enumerate(batch):
        by_tenant.setdefault(item.event.tenant, []).append(position)
    for tenant, positions in by_tenant.items():
        rules_of[tenant] = policy.rules_for(tenant, bound=tenant == bound_tenant)
        samples = [
            Sample(
                request_id=batch[p].event.request_id,
                image=batch[p].image,
                image_sha256=batch[p].event.image.sha256,
                prompt=batch[p].event.prompt,
                seed=batch[p].event.seed,
            )
            for p in positions
        ]
        for position, judgement in zip(positions, judge.judge(rules_of[tenant], samples)):
            judgements[position] = judgement
    outputs = []
    for position, item in enumerate(batch):
        verdict = verdict_for(item.event, judgements[position], policy)
        publications = [Publication("verdicts", verdict), route(item.event, verdict, policy, rules=rules_of[item.event.tenant])]
        publications.append(audit_of("detect", item.event, verdict.decision, publications))
        outputs.append(publications)
    return outputs


def fail_closed(policy: Policy, item: DecodedGeneration, error: BaseException) -> list[Publication]:
    """The outcome of a generation the stage itself failed on (a bug, not a detector): blocked.

    Detector failures never get here (they become ``error`` scores); this is for the code
    around them. The verdict has no scores and the exception as its reason.
    """
    judgement = Judgement("block", [f"internal error in the detect stage: {type(error).__name__}: {error}"[:2000]], [])
    verdict = verdict_for(item.event, judgement, policy)
    publications = [Publication("verdicts", verdict), route(item.event, verdict, policy, "internal")]
    publications.append(audit_of("detect", item.event, verdict.decision, publications))
    return publications
