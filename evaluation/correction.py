"""`swerve eval correct`: does correction land clearly past a copy, stay faithful, and erase only its target?

On the toy world (committed weights), every figure from one run:
  1. flagged sets, each as the product's MemorizationDetector flags it (not an oracle):
     - verbatim: every memorized caption with seeds 0..S-1;
     - paraphrased: implicit memorized prompts (``paraphrases.py``: reordered, a word dropped,
       a colour-family synonym) with the same seeds, reported apart, with their detection figures
       (how many generations were copies by the exhaustive judge, how many the detector caught);
  2. per method: the adaptive loop (``correct_until_clean``, up to 3 attempts). Each candidate is
     re-verified by the detector as a *replacement*, held to its clearance (``detectors/clearance.py``),
     stricter than the detection threshold. The primary method runs on every flagged output of
     both sets, and once more on the verbatim set with the old behaviour (re-verification at the
     detection threshold) so its fidelity is reported beside; the other methods run on the
     outputs of the first ``baseline_seeds`` seeds of each set, beside the primary's figures there.
     Every replacement is then read by judges the corrector does not steer by (``judges.py``):
     exhaustive tiled L2 to every training image, and SSIM to the memorized training image.
     The figures are defined in ``correction_summary.py``;
  3. GIE's removal rates (``gie_removal.py``).
The result holds every seed and setting. This module never trains and never writes weights.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

from swerve.correctors.adaptive_loop import correct_until_clean
from swerve.correctors.baselines.delayed_guidance import DelayedGuidanceCorrector
from swerve.correctors.baselines.negative_prompt import NegativePromptCorrector
from swerve.correctors.baselines.reseed import ReseedCorrector
from swerve.correctors.generator import DiffusersGenerator
from swerve.correctors.nudging.corrector import NudgingCorrector
from swerve.correctors.prompt_mitigation.corrector import PromptMitigationCorrector
from swerve.correctors.protocol import CorrectionRequest, Corrector, Finding
from swerve.detectors.clearance import DEFAULT_CLEARANCE_TILED_L2
from swerve.detectors.memorization import MemorizationDetector
from swerve.detectors.protocol import Sample
from swerve.detectors.tiled_l2 import as_unit_array, tiled_l2
from swerve.evaluation.correction_sheet import CorrectedExample, GieExample, correction_contact_sheet
from swerve.evaluation.gie_removal import evaluate_gie
from swerve.evaluation.correction_summary import RequestOutcome, summarize
from swerve.evaluation.distance_plot import distance_histogram
from swerve.evaluation.judges import TILED_L2_JUDGED, nearest_tiled_l2, ssim
from swerve.evaluation.paraphrases import paraphrases
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


@dataclass(frozen=True)
class CorrectionEvaluationSettings:
    seeds: int = 32
    baseline_seeds: int = 8
    max_attempts: int = 3
    steps: int = DEFAULT_STEPS
    guidance_scale: float = DEFAULT_GUIDANCE_SCALE
    tiled_l2_threshold: float = 0.1
    clearance_tiled_l2: float = DEFAULT_CLEARANCE_TILED_L2
    clearance_max_cosine: float | None = None
    paraphrases_per_caption: int = 2
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
    # Also run the primary method with re-verification at the detection threshold (the behaviour
    # before clearances), for the fidelity it had.
    compare_old_behaviour: bool = True
    run_gie: bool = True


@dataclass(frozen=True)
class Verification:
    passed: bool
    reasons: list[str]


@dataclass(frozen=True)
class FlaggedGeneration:
    """A generation the detector flagged: its prompt, the memorized caption behind it, and the evidence."""

    prompt: str
    source: str  # the memorized caption (itself, for verbatim prompts)
    seed: int
    image: Image.Image
    evidence: dict[str, Any]


def corrector_for(method: str, generator: DiffusersGenerator, params: dict[str, Any]) -> Corrector:
    factories: dict[str, Callable[..., Corrector]] = {
        "nudging": NudgingCorrector,
        "nudging_with_prompt_mitigation": partial(NudgingCorrector, prompt_mitigation=True),
        "prompt_mitigation": PromptMitigationCorrector,
        "reseed": ReseedCorrector,
        "negative_prompt": NegativePromptCorrector,
        "delayed_guidance": DelayedGuidanceCorrector,
    }
    # A variant "<kind>:<label>" takes its params from method_params under the full name,
    # e.g. "nudging:prompt" with {"target": "prompt"}.
    kind = method.split(":", 1)[0]
    if kind not in factories:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(factories)} (or '<known>:<label>')")
    return factories[kind](generator=generator, **params)


class ToyJudges:
    """The detector, the exhaustive judges and the fidelity score, shared by every method."""

    def __init__(self, data_dir: Path, threshold: float, clearance: dict[str, Any]):
        self.detector = MemorizationDetector(index_dir=str(ensure_toy_index(data_dir)), embedder=toy_embedder_params(),
                                             tiled_l2_threshold=threshold, clearance=clearance)
        self.threshold = threshold
        self.training = np.stack([as_unit_array(e.image) for e in build_training_set().unique])  # (n, 64, 64, 3)
        self.memorized = np.stack([as_unit_array(memorized_training_image(c)) for c in memorized_captions()])  # (16, 64, 64, 3)
        self.clip = load_tiny_clip()

    def flagged(self, image: Image.Image) -> tuple[bool, dict[str, Any]]:
        [score] = self.detector.score([Sample("eval", image, "0" * 64)])
        return score.flagged, dict(score.evidence)

    def verify_replacement(self, evidence: dict[str, Any], image: Image.Image) -> Verification:
        """Re-verification as the correct stage does it: held to the clearance."""
        [score] = self.detector.score([Sample("eval", image, "0" * 64, replaces={self.detector.name: evidence})])
        return Verification(not score.flagged, [f"memorization: min tiled L2 {score.evidence.get('min_tiled_l2')}"] if score.flagged else [])

    def verify_at_detection(self, evidence: dict[str, Any], image: Image.Image) -> Verification:
        """The old behaviour: a candidate passes once the detector no longer flags it."""
        flagged, found = self.flagged(image)
        return Verification(not flagged, [f"memorization: min tiled L2 {found.get('min_tiled_l2')}"] if flagged else [])

    def nearest(self, image: Image.Image) -> float:
        return nearest_tiled_l2(image, self.training)

    def nearest_memorized(self, image: Image.Image) -> float:
        return nearest_tiled_l2(image, self.memorized)


def run_method(method: str, generator: DiffusersGenerator, judges: ToyJudges, flagged: list[FlaggedGeneration],
               settings: CorrectionEvaluationSettings, old_behaviour: bool = False) -> list[RequestOutcome]:
    """The adaptive loop of ``method`` on every flagged output, then the judges' readings."""
    corrector = corrector_for(method, generator, settings.method_params.get(method, {}))
    outcomes = []
    for index, item in enumerate(flagged):
        started = time.perf_counter()
        request = CorrectionRequest(f"eval-{method}-{index}", item.prompt, item.image, [Finding("memorization", item.evidence)], seed=item.seed)
        verify = judges.verify_at_detection if old_behaviour else judges.verify_replacement
        outcome = correct_until_clean(corrector, request, partial(verify, item.evidence), settings.max_attempts)
        matched = memorized_training_image(item.source)
        original_ssim = ssim(item.image, matched)
        [prompt_vector] = judges.clip.embed_texts([item.prompt])
        if outcome.replacement is None:
            [original_vector] = judges.clip.embed_images([item.image])
            outcomes.append(RequestOutcome(False, len(outcome.attempts), None, None, time.perf_counter() - started,
                                           original_ssim_to_matched=original_ssim,
                                           original_fidelity=float(np.dot(original_vector, prompt_vector))))
            continue
        replacement = outcome.replacement.image
        replaced_vector, original_vector = judges.clip.embed_images([replacement, item.image])  # one pass for both
        outcomes.append(RequestOutcome(
            fixed=True, attempts=len(outcome.attempts), fidelity=float(np.dot(replaced_vector, prompt_vector)),
            drift=float(1.0 - np.dot(replaced_vector, original_vector)), seconds=time.perf_counter() - started,
            nearest_tiled_l2=judges.nearest(replacement), ssim_to_matched=ssim(replacement, matched),
            matched_tiled_l2=tiled_l2(replacement, matched, size=matched.size[0]), nearest_memorized_tiled_l2=judges.nearest_memorized(replacement),
            original_ssim_to_matched=original_ssim, original_fidelity=float(np.dot(original_vector, prompt_vector)),
            replacement=replacement))
    return outcomes


def flag(generator: DiffusersGenerator, judges: ToyJudges, prompts: list[tuple[str, str]], seeds: int
         ) -> tuple[list[FlaggedGeneration], dict[str, Any]]:
    """Generate each (prompt, source caption) with seeds 0..seeds-1; keep what the detector flags.

    Also returns the detection figures against the exhaustive judge: how many generations were
    copies (nearest tiled L2 < the detection threshold) and how many of those the detector caught,
    and the mean tiny-CLIP score of the generations it let through (``unflagged_fidelity``: what
    the model draws for these prompts when it does not copy, a reference for the replacements).
    """
    flagged: list[FlaggedGeneration] = []
    unflagged_fidelity: list[float] = []
    generated = copies = caught = false_flags = 0
    for prompt, source in prompts:
        seed_list = list(range(seeds))
        images = generator.generate([prompt] * seeds, seed_list)
        for seed, image, score in zip(seed_list, images, judges.clip.clip_scores(images, [prompt] * seeds)):
            generated += 1
            is_flagged, evidence = judges.flagged(image)
            is_copy = judges.nearest(image) < judges.threshold
            copies += is_copy
            caught += is_copy and is_flagged
            false_flags += is_flagged and not is_copy
            if is_flagged:
                flagged.append(FlaggedGeneration(prompt, source, seed, image, evidence))
            else:
                unflagged_fidelity.append(float(score))
    return flagged, {"generated": generated, "flagged": len(flagged), "copies": copies, "copies_flagged": caught,
                     "detection_recall": caught / copies if copies else None, "flagged_not_copies": false_flags,
                     "unflagged": len(unflagged_fidelity),
                     "unflagged_fidelity": float(np.mean(unflagged_fidelity)) if unflagged_fidelity else None}


@dataclass(frozen=True)
class OrdinaryReference:
    """Ordinary generations the detector lets through: their mean tiny-CLIP score (the fidelity
    reference), and the share at or past each tiled L2 from every training image (what a novel
    image reaches in this training set: the ceiling of the exhaustive judge)."""

    fidelity: float
    count: int
    at_tiled_l2: dict[str, float]


def ordinary_reference(generator: DiffusersGenerator, judges: ToyJudges, settings: CorrectionEvaluationSettings) -> OrdinaryReference:
    ordinary = sample_ordinary_captions(settings.ordinary_captions, seed=settings.ordinary_caption_seed)
    images = generator.generate(ordinary, list(range(len(ordinary))))
    unflagged = [(p, im) for p, im in zip(ordinary, images) if not judges.flagged(im)[0]]
    fidelity = float(np.mean(judges.clip.clip_scores([im for _, im in unflagged], [p for p, _ in unflagged])))
    nearest = [judges.nearest(im) for _, im in unflagged]
    return OrdinaryReference(fidelity, len(unflagged), {f"{at:.2f}": float(np.mean([d >= at for d in nearest])) for at in TILED_L2_JUDGED})


def _over(value: float | None, reference: float) -> float | None:
    return None if value is None else value / reference


def evaluate_correction(data_dir: Path, settings: CorrectionEvaluationSettings | None = None, device: str | None = None,
                        contact_sheet: Path | None = None, plot: Path | None = None) -> dict[str, Any]:
    """Run every correction measurement and return one JSON-ready dict; optionally save a contact
    sheet PNG and the histogram of replacements' distances (``plot``)."""
    settings = settings or CorrectionEvaluationSettings()
    started = time.perf_counter()
    pipeline = load_pipeline(device)
    generator = DiffusersGenerator(pipeline, "toyworld", steps=settings.steps, guidance_scale=settings.guidance_scale)
    clearance = {"tiled_l2": settings.clearance_tiled_l2, "max_cosine": settings.clearance_max_cosine}
    judges = ToyJudges(data_dir, settings.tiled_l2_threshold, clearance)
    # 1. the flagged sets, verbatim and paraphrased, as the detector flags them
    flagged, verbatim_detection = flag(generator, judges, [(c, c) for c in memorized_captions()], settings.seeds)
    implicit = paraphrases(settings.paraphrases_per_caption)
    flagged_implicit, implicit_detection = flag(generator, judges, [(p.prompt, p.source) for p in implicit], settings.seeds)
    # 2. fidelity reference: ordinary generations the detector lets through
    reference = ordinary_reference(generator, judges, settings)
    ordinary_fidelity = reference.fidelity
    figures = partial(summarize, ordinary_fidelity=ordinary_fidelity, clearance=settings.clearance_tiled_l2,
                      detection=settings.tiled_l2_threshold)
    # 3. the primary method on every flagged output (both sets, and verbatim at the old behaviour);
    #    the others on the verbatim outputs of the first baseline_seeds seeds (the same outputs for
    #    each, beside the primary's figures on that subset, "<primary>_on_baseline_seeds")
    methods: dict[str, Any] = {}
    methods_paraphrased: dict[str, Any] = {}
    primary_outcomes: list[RequestOutcome] = []
    old_outcomes: list[RequestOutcome] = []
    implicit_outcomes: list[RequestOutcome] = []
    compared = [f for f in flagged if f.seed < settings.baseline_seeds]
    compared_implicit = [f for f in flagged_implicit if f.seed < settings.baseline_seeds]
    for method in settings.methods:
        if method == settings.primary_method:
            outcomes = primary_outcomes = run_method(method, generator, judges, flagged, settings)
            methods[method] = figures(outcomes)
            if len(compared) < len(flagged):
                methods[f"{method}_on_baseline_seeds"] = figures([o for o, f in zip(outcomes, flagged) if f.seed < settings.baseline_seeds])
            implicit_outcomes = run_method(method, generator, judges, flagged_implicit, settings)
            methods_paraphrased[f"{method}_on_baseline_seeds"] = figures(
                [o for o, f in zip(implicit_outcomes, flagged_implicit) if f.seed < settings.baseline_seeds])
            if settings.compare_old_behaviour:
                old_outcomes = run_method(method, generator, judges, flagged, settings, old_behaviour=True)
        else:
            methods[method] = figures(run_method(method, generator, judges, compared, settings))
            methods_paraphrased[method] = figures(run_method(method, generator, judges, compared_implicit, settings))
    primary = methods[settings.primary_method]
    old = figures(old_outcomes) if old_outcomes else None
    result: dict[str, Any] = {
        **{key: primary[key] for key in ("success_at_clearance", "success_at_tiled_l2", "correction_success_rate", "blocked_rate",
                                          "success_at_tiled_l2_memorized", "success_at_tiled_l2_matched", "fidelity_ratio", "original_fidelity_ratio", "writer_block_rate", "ssim_to_matched_mean",
                                          "ssim_original_to_matched_mean")},
        "clearance": clearance,
        "fidelity_ratio_old_behaviour": old["fidelity_ratio"] if old else None,
        "old_behaviour": old,
        "methods": methods,
        "flagged": len(flagged),
        "generated_memorized": verbatim_detection["generated"],
        "detection": verbatim_detection,
        "paraphrased": {"detection": implicit_detection, "correction": figures(implicit_outcomes), "methods": methods_paraphrased,
                        # the model's own non-copies of these prompts, on the same scale as fidelity_ratio
                        "unflagged_fidelity_ratio": _over(implicit_detection["unflagged_fidelity"], ordinary_fidelity),
                        "prompts": [asdict(p) for p in implicit]},
        "ordinary_fidelity_mean": ordinary_fidelity,
        "ordinary_unflagged": reference.count,
        "ordinary_at_tiled_l2": reference.at_tiled_l2,
    }
    # 4. concept erasure
    gie_examples: list[GieExample] = []
    if settings.run_gie:
        gie_figures, gie_examples = evaluate_gie(generator, judges, settings)
        result.update(gie_figures)
    if contact_sheet is not None:
        shown: dict[str, CorrectedExample] = {}
        for item, outcome in zip(flagged, primary_outcomes):
            shown.setdefault(item.prompt, CorrectedExample(item.prompt, item.seed, memorized_training_image(item.source), item.image,
                                                           outcome.replacement, outcome.attempts))
        correction_contact_sheet(settings.primary_method, list(shown.values()), gie_examples,
                                 settings.gie_target).save(contact_sheet)
        result["contact_sheet"] = str(contact_sheet)
    if plot is not None:
        series = {"verbatim, at the clearance": [o.nearest_tiled_l2 for o in primary_outcomes if o.nearest_tiled_l2 is not None],
                  "paraphrased, at the clearance": [o.nearest_tiled_l2 for o in implicit_outcomes if o.nearest_tiled_l2 is not None]}
        if old_outcomes:
            series["verbatim, old behaviour"] = [o.nearest_tiled_l2 for o in old_outcomes if o.nearest_tiled_l2 is not None]
        thresholds = {"detection": settings.tiled_l2_threshold, "Carlini et al.": 0.15, "clearance": settings.clearance_tiled_l2}
        result["plot"] = str(distance_histogram(series, thresholds, plot))
    result.update({
        "settings": asdict(settings),
        "seeds": list(range(settings.seeds)),
        "index_version": judges.detector.index_version,
        "device": str(pipeline.device),
        "torch_threads": torch.get_num_threads(),
        "total_seconds": time.perf_counter() - started,
    })
    return result
