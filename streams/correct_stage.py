"""The correct stage as a plain function of one flagged generation: regenerate, re-verify,
deliver the replacement or block with the reason.

The corrector comes from the policy: the one named by the first detector that fired, else
the policy's first corrector. With none configured the request is blocked, and says so.
Every candidate is re-judged by the same rules that flagged the original, held to each
detector's clearance (stricter than detection: ``detectors/clearance.py``). When corrections
run out (or there is no corrector), the request is blocked, or, under ``on_exhausted:
review``, held for a person with the best candidate (``review_routing``), with no delivery
yet. Running out of GPU memory twice blocks with the ``infrastructure`` reason class, a bug in
this stage with ``internal`` (``fail_closed``): neither is a verdict on the image, so neither
goes to review. Each attempt is traced (``stage_telemetry``); failed writes of the store are
counted (``swerve_store_failures_total{operation="put"}``). No broker code.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from swerve.correctors.adaptive_loop import CorrectionOutcome, correct_until_clean
from swerve.correctors.memory_pressure import MemoryPressureGate
from swerve.correctors.protocol import CorrectionRequest, Corrector, Finding
from swerve.correctors.registry import build_corrector
from swerve.detectors.protocol import Sample
from swerve.media import ImageRef, ImageStore, MediaLimits, sha256_hex
from swerve.media.encode import encode_image
from swerve.streams.detect_stage import verdict_for
from swerve.streams.events import DeliveryEvent, FlaggedEvent, ReasonClass, ReplacementEvent, ReviewCandidate, VerdictEvent
from swerve.streams.ids import derive_id
from swerve.streams.judging import Judge, Judgement
from swerve.streams.metrics import counting_store_failures
from swerve.streams.policy import CorrectorSpec, DetectorSpec, Policy, Rules
from swerve.streams.publication import Publication, audit_of
from swerve.streams.review_routing import best_attempt, review_item
from swerve.streams.stage_telemetry import observe_correction_attempt


@dataclass(frozen=True)
class Verification:
    """A candidate's re-verification: the judgement plus the candidate's image digest."""

    judgement: Judgement
    image_sha256: str
    encoded: bytes

    @property
    def passed(self) -> bool:
        return self.judgement.passed

    @property
    def reasons(self) -> list[str]:
        return self.judgement.reasons


def routed_to(rules: Rules, corrector: str) -> list[DetectorSpec]:
    """The detectors whose flags ``corrector`` corrects: those naming it, and, for the first
    corrector, those naming none (``CorrectStage.corrector_for``)."""
    first = rules.correctors[0].name if rules.correctors else None
    return [d for d in rules.detectors if d.corrector == corrector or (d.corrector is None and corrector == first)]


class CorrectStage:
    """Holds the judge, the correctors and the image store; corrects one flagged event at a time."""

    def __init__(self, policy: Policy, judge: Judge, store: ImageStore, limits: MediaLimits, bound_tenant: str | None = None):
        self.policy = policy
        self.bound_tenant = bound_tenant
        self.judge = judge
        self.store = store
        self.limits = limits
        self._correctors: dict[tuple[str, str], Corrector] = {}
        self.memory = MemoryPressureGate()

    def prepare(self) -> None:
        """Build every corrector and detector the policy names, for any tenant (start-up).

        A wrong model or index path fails here, naming the path, instead of at the first
        flagged request.
        """
        for rules in self.policy.all_rules():
            for detector in rules.detectors:
                self.judge.detector(detector)
            for spec in rules.correctors:
                corrector = self._build(spec)
                check_sources = getattr(corrector, "check_sources", None)
                if check_sources is not None:  # a corrector that needs something of its detectors' findings
                    check_sources([(d.name, bool(getattr(self.judge.detector(d), "names_concepts", False)))
                                   for d in routed_to(rules, spec.name)])

    def _build(self, spec: CorrectorSpec) -> Corrector:
        key = (spec.name, spec.model_dump_json())
        if key not in self._correctors:
            self._correctors[key] = build_corrector(spec.kind, spec.name, dict(spec.params))
        return self._correctors[key]

    def corrector_for(self, rules: Rules, flagged: FlaggedEvent) -> Corrector | None:
        # The same routing as routed_to: a firing detector's own corrector, else the first one.
        firing = {s.detector for s in flagged.verdict.scores if s.flagged or s.status == "error"}
        named = [d.corrector for d in rules.detectors if d.name in firing and d.corrector]
        spec_name = named[0] if named else (rules.correctors[0].name if rules.correctors else None)
        if spec_name is None:
            return None
        spec = next(c for c in rules.correctors if c.name == spec_name)
        return self._build(spec)

    def correct(self, flagged: FlaggedEvent, image: Image.Image) -> list[Publication]:
        """Correct one flagged generation; return the events to publish."""
        generation = flagged.generation
        rules = self.policy.rules_for(generation.tenant, bound=generation.tenant == self.bound_tenant)
        corrector = self.corrector_for(rules, flagged)
        if corrector is None:
            if rules.on_exhausted == "review":
                return self._to_review(flagged, rules, "no corrector configured for this policy", [], None)
            return self._blocked(flagged, "no corrector configured for this policy", [])

        # What each detector found on the original: detectors with a clearance hold candidates to it.
        found_on_original = {s.detector: s.evidence for s in flagged.verdict.scores}

        def verify(candidate: Image.Image) -> Verification:
            # Judge the bytes that would be delivered, so digests match what consumers receive.
            encoded = encode_image(candidate, "image/png")
            digest = sha256_hex(encoded)
            sample = Sample(generation.request_id, candidate, digest, generation.prompt, generation.seed, replaces=found_on_original)
            return Verification(self.judge.judge(rules, [sample])[0], digest, encoded)

        request = CorrectionRequest(
            request_id=generation.request_id,
            prompt=generation.prompt,
            image=image,
            findings=[Finding(s.detector, s.evidence) for s in flagged.verdict.scores if s.flagged or s.status == "error"],
            seed=generation.seed,
            negative_prompt=generation.negative_prompt,
            model_id=generation.model_id,
        )
        outcome = correct_until_clean(corrector, request, verify, rules.max_attempts, self.memory, observe_correction_attempt)
        verdicts = self._verification_verdicts(flagged, outcome)
        if outcome.resource_failure is not None:
            return self._blocked(flagged, f"infrastructure: {outcome.resource_failure}", verdicts, "infrastructure")
        if not outcome.fixed:
            if rules.on_exhausted == "review":
                return self._to_review(flagged, rules, outcome.block_reason(), verdicts, outcome)
            return self._blocked(flagged, outcome.block_reason(), verdicts)
        return self._replaced(flagged, outcome, verdicts)

    def _verification_verdicts(self, flagged: FlaggedEvent, outcome: CorrectionOutcome[Verification]) -> list[Publication]:
        return [
            Publication(
                "verdicts",
                verdict_for(flagged.generation, record.report.judgement, self.policy, record.attempt, record.report.image_sha256),
            )
            for record in outcome.attempts
            if record.report is not None
        ]

    def _replaced(self, flagged: FlaggedEvent, outcome: CorrectionOutcome[Verification], verdicts: list[Publication]) -> list[Publication]:
        generation = flagged.generation
        assert outcome.replacement is not None and outcome.verification is not None
        with counting_store_failures("put"):
            ref = ImageRef.from_bytes(outcome.verification.encoded, limits=self.limits, store=self.store, tenant=generation.tenant)
        final_verdict = verdicts[-1].event
        replacement = ReplacementEvent(
            id=derive_id(generation.id, "replacement"),
            request_id=generation.request_id,
            tenant=generation.tenant,
            generation_id=generation.id,
            original_sha256=generation.image.sha256,
            image=ref,
            method=outcome.replacement.method,
            parameters=dict(outcome.replacement.parameters),
            attempts=len(outcome.attempts),
            verification=final_verdict,  # type: ignore[arg-type]
            # The model that made the replacement (the corrector's, recorded by it), never the submitted one's.
            model_id=outcome.replacement.parameters.get("model_id"),
        )
        delivery = DeliveryEvent(
            id=derive_id(generation.id, "delivery"),
            request_id=generation.request_id,
            tenant=generation.tenant,
            generation_id=generation.id,
            outcome="replacement",
            image=ref,
            reason="; ".join(flagged.verdict.reasons),
            verdict_id=final_verdict.id,
            replacement_id=replacement.id,
            policy_version=self.policy.full_version,
        )
        publications = [*verdicts, Publication("replacements", replacement), Publication("delivery", delivery)]
        return [*publications, audit_of("correct", flagged, "replaced", publications)]

    def _to_review(
        self, flagged: FlaggedEvent, rules: Rules, reason: str, verdicts: list[Publication], outcome: CorrectionOutcome[Verification] | None
    ) -> list[Publication]:
        """Hold the request for a person, with the candidate closest to clearing, instead of blocking it."""
        generation = flagged.generation
        best = best_attempt(outcome.attempts) if outcome is not None else None
        candidate = None
        if best is not None and best.report is not None and best.candidate is not None:
            with counting_store_failures("put"):
                ref = ImageRef.from_bytes(best.report.encoded, limits=self.limits, store=self.store, tenant=generation.tenant)
            verdict = next(p.event for p in verdicts if isinstance(p.event, VerdictEvent) and p.event.attempt == best.attempt)
            assert isinstance(verdict, VerdictEvent)
            candidate = ReviewCandidate(
                image=ref, verdict=verdict, attempt=best.attempt, method=best.candidate.method, parameters=dict(best.candidate.parameters)
            )
        publications = [*verdicts, review_item(generation, flagged.verdict, self.policy, rules, "on_exhausted", candidate, reason)]
        return [*publications, audit_of("correct", flagged, "review", publications)]

    def fail_closed(self, item: tuple[FlaggedEvent, Image.Image], error: BaseException) -> list[Publication]:
        """The outcome of a flagged generation this stage itself failed on (a bug): blocked."""
        return self._blocked(item[0], f"internal error in the correct stage: {type(error).__name__}: {error}"[:2000], [], "internal")

    def _blocked(
        self, flagged: FlaggedEvent, reason: str, verdicts: list[Publication], reason_class: ReasonClass = "policy"
    ) -> list[Publication]:
        generation = flagged.generation
        delivery = DeliveryEvent(
            id=derive_id(generation.id, "delivery"),
            request_id=generation.request_id,
            tenant=generation.tenant,
            generation_id=generation.id,
            outcome="blocked",
            reason=reason,
            verdict_id=verdicts[-1].event.id if verdicts else flagged.verdict.id,
            policy_version=self.policy.full_version,
            reason_class=reason_class,
        )
        publications = [*verdicts, Publication("delivery", delivery)]
        return [*publications, audit_of("correct", flagged, "blocked", publications)]
