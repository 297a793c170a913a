"""`swerve eval correct`: does correction remove the copy, stay faithful, and erase only its target?

On the toy world (committed weights), every figure from one run:
  1. flagged set: every memorized caption with seeds 0..S-1, kept where the MemorizationDetector
     flags the generation (the detector of the product, not an oracle);
  2. per method: the adaptive loop (``correct_until_clean``, up to 3 attempts, each candidate
     re-verified by the memorization detector). The primary method (Wen's prompt-embedding
     mitigation, the toy policy's memorization corrector) runs on every flagged output; nudging,
     nudging with prompt mitigation and the baselines (reseed, negative prompt, delayed guidance) on
     the flagged outputs of the first ``baseline_seeds`` seeds, beside the primary's figures on that
     same subset. ``correction_success_rate`` is the
     share of flagged outputs whose replacement passed and is no near-copy (tiled L2 < 0.1) of ANY
     training image, checked exhaustively; ``blocked_rate`` the share that ran out of attempts;
     ``fidelity_ratio`` the mean tiny-CLIP score of replacements to their prompt over the mean for
     ordinary unflagged generations; ``drift`` the mean tiny-CLIP embedding distance from the
     flagged original;
  3. GIE (ORR protocol of its paper): prompts that show the target colour, generated plainly and
     with GIE erasing it; ``gie_orr_target`` is the share of GIE generations whose colour the
     zero-shot classifier no longer reads as the target; for prompts of other colours erased
     with the same target, ``gie_orr_nontarget`` is the share whose own colour is no longer read.
The result holds every seed and setting. This module never trains and never writes weights.
"""

from __future__ import annotations

import time
from functools import partial
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

from swerve.correctors.adaptive_loop import correct_until_clean
from swerve.correctors.baselines.delayed_guidance import DelayedGuidanceCorrector
from swerve.correctors.generator import DiffusersGenerator
from swerve.correctors.gie.corrector import GieCorrector
from swerve.correctors.baselines.negative_prompt import NegativePromptCorrector
from swerve.correctors.nudging.corrector import NudgingCorrector
from swerve.correctors.prompt_mitigation.corrector import PromptMitigationCorrector
from swerve.correctors.protocol import CorrectionRequest, Corrector, Finding
from swerve.correctors.baselines.reseed import ReseedCorrector
from swerve.detectors.memorization import MemorizationDetector
from swerve.detectors.protocol import Sample
from swerve.detectors.tiled_l2 import as_unit_array, tiled_l2_one_to_many
from swerve.evaluation.correction_sheet import CorrectedExample, GieExample, correction_contact_sheet
from swerve.evaluation.toyworld import expected_colour_and_shape
from swerve.streams.embedded_defaults import ensure_toy_index, toy_embedder_params
from swerve.toyworld import (
    DEFAULT_GUIDANCE_SCALE,
    DEFAULT_STEPS,
    build_training_set,
    load_pipeline,
    load_tiny_clip,
    memorized_captions,
    memorized_training_image,
    sample_ordinary_captions,
)
from swerve.toyworld.vocabulary import SHAPE_COLOURS


@dataclass(frozen=True)
class CorrectionEvaluationSettings:
    seeds: int = 32
    baseline_seeds: int = 8
    max_attempts: int = 3
    steps: int = DEFAULT_STEPS
    guidance_scale: float = DEFAULT_GUIDANCE_SCALE
    tiled_l2_threshold: float = 0.1
    ordinary_captions: int = 64
    ordinary_caption_seed: int = 3_000_017
    gie_target: str = "red"
    gie_prompts: int = 48
    gie_caption_seed: int = 4_000_037
    methods: tuple[str, ...] = ("prompt_mitigation", "nudging", "nudging_with_prompt_mitigation", "reseed",
                                "negative_prompt", "delayed_guidance")
    # The headline figures: the method the toy policy corrects memorization with (docs/correctors.md,
    # "Which method corrects memorization"). It runs on every flagged output.
    primary_method: str = "prompt_mitigation"
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Verification:
    passed: bool
    reasons: list[str]


def corrector_for(method: str, generator: DiffusersGenerator, params: dict[str, Any]) -> Corrector:
    factories: dict[str, Callable[..., Corrector]] = {
        "nudging": NudgingCorrector,
        "nudging_with_prompt_mitigation": partial(NudgingCorrector, prompt_mitigation=True),
        "prompt_mitigation": PromptMitigationCorrector,
        "reseed": ReseedCorrector,
        "negative_prompt": NegativePromptCorrector,
        "delayed_guidance": DelayedGuidanceCorrector,
    }
    return factories[method](generator=generator, **params)


class ToyJudges:
    """The detector, the exhaustive near-copy check and the fidelity score, shared by every method."""

    def __init__(self, data_dir: Path, threshold: float):
        self.detector = MemorizationDetector(index_dir=str(ensure_toy_index(data_dir)), embedder=toy_embedder_params(),
                                             tiled_l2_threshold=threshold)
        self.threshold = threshold
        self.training = np.stack([as_unit_array(e.image) for e in build_training_set().unique])  # (n, 64, 64, 3)
        self.clip = load_tiny_clip()

    def flagged(self, image: Image.Image) -> tuple[bool, dict[str, Any]]:
        [score] = self.detector.score([Sample("eval", image, "0" * 64)])
        return score.flagged, dict(score.evidence)

    def verify(self, image: Image.Image) -> Verification:
        flagged, evidence = self.flagged(image)
        return Verification(not flagged, [f"memorization: min tiled L2 {evidence.get('min_tiled_l2')}"] if flagged else [])

    def near_copy_of_any(self, image: Image.Image) -> bool:
        return bool(tiled_l2_one_to_many(as_unit_array(image), self.training).min() < self.threshold)


@dataclass(frozen=True)
class RequestOutcome:
    """One flagged output after the adaptive loop."""

    fixed: bool  # a candidate passed re-verification within max_attempts
    no_copy: bool  # ... and it is no near-copy of any training image (exhaustive check)
    attempts: int
    fidelity: float | None  # tiny-CLIP score of the replacement to its prompt
    drift: float | None  # tiny-CLIP distance of the replacement from the flagged original
    seconds: float
    replacement: Image.Image | None = field(default=None, compare=False, repr=False)  # for the contact sheet


def summarize(outcomes: list[RequestOutcome], ordinary_fidelity: float) -> dict[str, Any]:
    """The success figures of one method over some flagged outputs."""
    total = len(outcomes)
    fidelity = [o.fidelity for o in outcomes if o.fidelity is not None]
    drift = [o.drift for o in outcomes if o.drift is not None]
    return {
        "correction_success_rate": sum(o.fixed and o.no_copy for o in outcomes) / total if total else None,
        "blocked_rate": sum(not o.fixed for o in outcomes) / total if total else None,
        "fidelity_ratio": float(np.mean(fidelity)) / ordinary_fidelity if fidelity else None,
        "drift_mean": float(np.mean(drift)) if drift else None,
        "attempts_mean": float(np.mean([o.attempts for o in outcomes])) if outcomes else None,
        "flagged": total,
        "seconds_per_flagged": float(np.mean([o.seconds for o in outcomes])) if outcomes else None,
    }


def run_method(method: str, generator: DiffusersGenerator, judges: ToyJudges,
               flagged: list[tuple[str, int, Image.Image, dict[str, Any]]],
               settings: CorrectionEvaluationSettings) -> list[RequestOutcome]:
    """The adaptive loop of ``method`` on every flagged output, each re-verified by the detector."""
    corrector = corrector_for(method, generator, settings.method_params.get(method, {}))
    outcomes = []
    for index, (prompt, seed, image, evidence) in enumerate(flagged):
        started = time.perf_counter()
        request = CorrectionRequest(f"eval-{method}-{index}", prompt, image, [Finding("memorization", evidence)], seed=seed)
        outcome = correct_until_clean(corrector, request, judges.verify, settings.max_attempts)
        if outcome.replacement is None:
            outcomes.append(RequestOutcome(False, False, len(outcome.attempts), None, None, time.perf_counter() - started))
            continue
        replacement = outcome.replacement.image
        replaced_vector, original_vector = judges.clip.embed_images([replacement, image])  # one pass for both
        [prompt_vector] = judges.clip.embed_texts([prompt])
        outcomes.append(RequestOutcome(
            fixed=True, no_copy=not judges.near_copy_of_any(replacement), attempts=len(outcome.attempts),
            fidelity=float(np.dot(replaced_vector, prompt_vector)),
            drift=float(1.0 - np.dot(replaced_vector, original_vector)), seconds=time.perf_counter() - started,
            replacement=replacement))
    return outcomes


def evaluate_gie(generator: DiffusersGenerator, judges: ToyJudges,
                 settings: CorrectionEvaluationSettings) -> tuple[dict[str, Any], list[GieExample]]:
    """ORR of GIE for the target colour, and for other colours under the same erasure (same seeds).

    Also returns the first few (prompt, plain, erased) triples of each kind, for the contact sheet.
    """
    captions = sample_ordinary_captions(settings.gie_prompts * len(SHAPE_COLOURS), seed=settings.gie_caption_seed)
    target = settings.gie_target
    with_target = [c for c in captions if f" {target} " in f" {c} "][: settings.gie_prompts]
    others = [c for c in captions if f" {target} " not in f" {c} "][: settings.gie_prompts]
    gie = GieCorrector(generator=generator, concepts=[target], **settings.method_params.get("gie", {}))
    seeds = list(range(len(with_target)))

    def colours(images: list[Image.Image]) -> list[str]:
        return [reading.colour for reading in judges.clip.classify(images)]

    def erased(prompts: list[str]) -> list[Image.Image]:
        return [gie.propose(CorrectionRequest(f"gie-{i}", p, Image.new("RGB", (8, 8)), [], seed=i), 1).image
                for i, p in enumerate(prompts)]

    plain_target_images, gie_target_images = generator.generate(with_target, seeds), erased(with_target)
    plain_other_images, gie_other_images = generator.generate(others, list(range(len(others)))), erased(others)
    plain_target, gie_target = colours(plain_target_images), colours(gie_target_images)
    plain_others, gie_others = colours(plain_other_images), colours(gie_other_images)
    other_colours = [expected_colour_and_shape(c)[0] for c in others]
    examples = [GieExample(p, a, b) for p, a, b in list(zip(with_target, plain_target_images, gie_target_images))[:6]]
    examples += [GieExample(p, a, b) for p, a, b in list(zip(others, plain_other_images, gie_other_images))[:6]]
    return {
        "gie_orr_target": float(np.mean([c != target for c in gie_target])),
        "gie_orr_target_without_gie": float(np.mean([c != target for c in plain_target])),
        "gie_orr_nontarget": float(np.mean([g != own for g, own in zip(gie_others, other_colours)])),
        "gie_orr_nontarget_without_gie": float(np.mean([g != own for g, own in zip(plain_others, other_colours)])),
        "gie_target": target,
        "gie_prompts": {"target": len(with_target), "nontarget": len(others)},
    }, examples


def evaluate_correction(data_dir: Path, settings: CorrectionEvaluationSettings | None = None, device: str | None = None,
                        contact_sheet: Path | None = None) -> dict[str, Any]:
    """Run every correction measurement and return one JSON-ready dict; optionally save a contact sheet PNG."""
    settings = settings or CorrectionEvaluationSettings()
    started = time.perf_counter()
    pipeline = load_pipeline(device)
    generator = DiffusersGenerator(pipeline, "toyworld", steps=settings.steps, guidance_scale=settings.guidance_scale)
    judges = ToyJudges(data_dir, settings.tiled_l2_threshold)
    # 1. the flagged set: memorized captions x seeds, as the detector flags them
    flagged: list[tuple[str, int, Image.Image, dict[str, Any]]] = []
    generated = 0
    for caption in memorized_captions():
        seeds = list(range(settings.seeds))
        for seed, image in zip(seeds, generator.generate([caption] * len(seeds), seeds)):
            generated += 1
            is_flagged, evidence = judges.flagged(image)
            if is_flagged:
                flagged.append((caption, seed, image, evidence))
    # 2. fidelity reference: ordinary generations the detector lets through
    ordinary = sample_ordinary_captions(settings.ordinary_captions, seed=settings.ordinary_caption_seed)
    ordinary_images = generator.generate(ordinary, list(range(len(ordinary))))
    unflagged = [(p, im) for p, im in zip(ordinary, ordinary_images) if not judges.flagged(im)[0]]
    ordinary_fidelity = float(np.mean(judges.clip.clip_scores([im for _, im in unflagged], [p for p, _ in unflagged])))
    # 3. the primary method on every flagged output; the others on those of the first baseline_seeds
    #    seeds (the same outputs for each, so their figures compare side by side with the primary's
    #    on that subset, reported as "<primary>_on_baseline_seeds")
    methods: dict[str, Any] = {}
    primary_outcomes: list[RequestOutcome] = []
    compared = [f for f in flagged if f[1] < settings.baseline_seeds]
    for method in settings.methods:
        if method == settings.primary_method:
            outcomes = primary_outcomes = run_method(method, generator, judges, flagged, settings)
            methods[method] = summarize(outcomes, ordinary_fidelity)
            if len(compared) < len(flagged):
                on_compared = [o for o, f in zip(outcomes, flagged) if f[1] < settings.baseline_seeds]
                methods[f"{method}_on_baseline_seeds"] = summarize(on_compared, ordinary_fidelity)
        else:
            methods[method] = summarize(run_method(method, generator, judges, compared, settings), ordinary_fidelity)
    primary = methods.get(settings.primary_method, next(iter(methods.values())))
    result: dict[str, Any] = {
        "correction_success_rate": primary["correction_success_rate"],
        "blocked_rate": primary["blocked_rate"],
        "fidelity_ratio": primary["fidelity_ratio"],
        "methods": methods,
        "flagged": len(flagged),
        "generated_memorized": generated,
        "ordinary_fidelity_mean": ordinary_fidelity,
        "ordinary_unflagged": len(unflagged),
    }
    # 4. concept erasure
    gie_figures, gie_examples = evaluate_gie(generator, judges, settings)
    result.update(gie_figures)
    if contact_sheet is not None:
        shown: dict[str, CorrectedExample] = {}
        for (prompt, seed, image, _), outcome in zip(flagged, primary_outcomes):
            shown.setdefault(prompt, CorrectedExample(prompt, seed, memorized_training_image(prompt), image,
                                                      outcome.replacement, outcome.attempts))
        correction_contact_sheet(settings.primary_method, list(shown.values()), gie_examples,
                                 settings.gie_target).save(contact_sheet)
        result["contact_sheet"] = str(contact_sheet)
    result.update({
        "settings": asdict(settings),
        "seeds": list(range(settings.seeds)),
        "index_version": judges.detector.index_version,
        "device": str(pipeline.device),
        "torch_threads": torch.get_num_threads(),
        "total_seconds": time.perf_counter() - started,
    })
    return result
