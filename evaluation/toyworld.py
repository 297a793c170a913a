"""The toy world's acceptance measurements: does the generator memorize, generalize and stay readable?

    swerve eval toyworld --json

measures, on the committed weights:
  - memorized_copy_rate: share of generations for memorized captions that are near-copies
    (tiled L2 < threshold) of their own training image, over `memorized_seeds` seeds each;
  - novel_copy_rate: share of generations for fresh ordinary captions that are near-copies of
    ANY training image (all distinct training images, compared exhaustively);
  - zero_shot_accuracy: share of ordinary generations whose colour and shape the tiny CLIP reads
    as the caption says;
  - wen_auc / wen_tpr_at_1pct_fpr: Wen et al.'s first-step text-conditional noise magnitude,
    memorized vs ordinary captions;
  - seconds_per_image: wall time of one single-image generation on this machine.
The result is a plain dict, with every seed, step count and threshold used. This module
reads models and images; it must never train or write weights.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from swerve.detectors.text_noise_magnitude import text_noise_magnitude
from swerve.detectors.tiled_l2 import NEAR_COPY_THRESHOLD, as_unit_array, tiled_l2_one_to_many
from swerve.evaluation.metrics import roc_auc, tpr_at_fpr
from swerve.toyworld import (
    DEFAULT_GUIDANCE_SCALE,
    DEFAULT_STEPS,
    EVALUATION_SEED,
    build_training_set,
    generate_batch,
    load_pipeline,
    load_tiny_clip,
    memorized_captions,
    memorized_images,
    sample_ordinary_captions,
)

_COLOUR_SHAPE = re.compile(r"^a \w+ (?P<colour>\w+) (?P<shape>\w+) at the ")


@dataclass(frozen=True)
class ToyEvaluationSettings:
    """Every knob of the evaluation; all of them are reported with the result."""

    memorized_seeds: int = 32
    ordinary_captions: int = 200
    ordinary_seed_base: int = 10_000  # ordinary caption i is generated with seed ordinary_seed_base + i
    caption_seed: int = EVALUATION_SEED
    steps: int = DEFAULT_STEPS
    guidance_scale: float = DEFAULT_GUIDANCE_SCALE
    threshold: float = NEAR_COPY_THRESHOLD
    wen_seeds: tuple[int, ...] = (0, 1, 2, 3)
    wen_steps: int = 1
    timing_images: int = 5
    batch_size: int = 32
    extra: dict[str, Any] = field(default_factory=dict)


def check_settings(settings: ToyEvaluationSettings) -> None:
    """Reject settings that would make a figure meaningless, before any model loads."""
    if settings.memorized_seeds < 1 or settings.ordinary_captions < 2:
        raise ValueError("need at least 1 memorized seed and 2 ordinary captions")
    if settings.steps < 1 or settings.batch_size < 1 or settings.timing_images < 1:
        raise ValueError("steps, batch_size and timing_images must be >= 1")
    if not 0.0 < settings.threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {settings.threshold}")


def expected_colour_and_shape(caption: str) -> tuple[str, str]:
    """The colour and shape words of an ordinary caption."""
    match = _COLOUR_SHAPE.match(caption)
    if match is None:
        raise ValueError(f"not an ordinary caption: {caption!r}")
    return match["colour"], match["shape"]


def generate_all(pipeline: Any, prompts: list[str], seeds: list[int], steps: int, guidance_scale: float,
                 batch_size: int) -> list[Image.Image]:
    """One image per (prompt, seed), generated batch_size at a time."""
    images: list[Image.Image] = []
    for start in range(0, len(prompts), batch_size):
        images += generate_batch(pipeline, prompts[start:start + batch_size], seeds[start:start + batch_size], steps,
                                 guidance_scale)
    return images


def measure_memorized(pipeline: Any, settings: ToyEvaluationSettings) -> dict[str, Any]:
    """Generate every memorized caption with seeds 0..memorized_seeds-1 and compare with its training image."""
    targets = memorized_images()
    per_caption: dict[str, float] = {}
    distances_all: list[float] = []
    seeds = list(range(settings.memorized_seeds))
    for caption in memorized_captions():
        images = generate_all(pipeline, [caption] * len(seeds), seeds, settings.steps, settings.guidance_scale, settings.batch_size)
        generated = np.stack([as_unit_array(image) for image in images])  # (seeds, 64, 64, 3)
        distances = tiled_l2_one_to_many(as_unit_array(targets[caption]), generated)  # (seeds,)
        per_caption[caption] = float(np.mean(distances < settings.threshold))
        distances_all += distances.tolist()
    distances_arr = np.asarray(distances_all)
    return {
        "memorized_copy_rate": float(np.mean(distances_arr < settings.threshold)),
        "memorized_copy_rate_per_caption": per_caption,
        "memorized_tiled_l2_median": float(np.median(distances_arr)),
        "memorized_generations": int(distances_arr.size),
    }


def measure_ordinary(pipeline: Any, clip: Any, settings: ToyEvaluationSettings) -> tuple[dict[str, Any], list[Image.Image]]:
    """Generate fresh ordinary captions; near-copy test against all training images; zero-shot reading."""
    captions = sample_ordinary_captions(settings.ordinary_captions, seed=settings.caption_seed)
    seeds = [settings.ordinary_seed_base + i for i in range(len(captions))]
    images = generate_all(pipeline, captions, seeds, settings.steps, settings.guidance_scale, settings.batch_size)
    training = np.stack([as_unit_array(example.image) for example in build_training_set().unique])  # (n, 64, 64, 3)
    nearest = np.array([tiled_l2_one_to_many(as_unit_array(image), training).min() for image in images])
    readings = clip.classify(images)
    expected = [expected_colour_and_shape(caption) for caption in captions]
    colour_ok = np.array([r.colour == c for r, (c, _) in zip(readings, expected)])
    shape_ok = np.array([r.shape == s for r, (_, s) in zip(readings, expected)])
    return {
        "novel_copy_rate": float(np.mean(nearest < settings.threshold)),
        "novel_nearest_tiled_l2_min": float(nearest.min()),
        "novel_nearest_tiled_l2_median": float(np.median(nearest)),
        "zero_shot_accuracy": float(np.mean(colour_ok & shape_ok)),
        "zero_shot_colour_accuracy": float(np.mean(colour_ok)),
        "zero_shot_shape_accuracy": float(np.mean(shape_ok)),
        "ordinary_generations": len(images),
        "training_images_compared": int(len(training)),
    }, images


def measure_wen(pipeline: Any, settings: ToyEvaluationSettings) -> dict[str, Any]:
    """AUC of the first-step text-conditional noise magnitude, memorized (positive) vs ordinary captions."""
    memorized = memorized_captions()
    ordinary = sample_ordinary_captions(settings.ordinary_captions, seed=settings.caption_seed)
    scores = text_noise_magnitude(pipeline, memorized + ordinary, list(settings.wen_seeds), num_steps=settings.wen_steps,
                                  num_inference_steps=settings.steps, guidance_scale=settings.guidance_scale)
    labels = np.array([True] * len(memorized) + [False] * len(ordinary))
    tpr, threshold = tpr_at_fpr(scores, labels, 0.01)
    return {
        "wen_auc": roc_auc(scores, labels),
        "wen_tpr_at_1pct_fpr": tpr,
        "wen_threshold_at_1pct_fpr": threshold,
        "wen_score_memorized_mean": float(scores[labels].mean()),
        "wen_score_ordinary_mean": float(scores[~labels].mean()),
    }


def measure_speed(pipeline: Any, settings: ToyEvaluationSettings) -> dict[str, Any]:
    """Seconds per single-image generation (batch of one, `steps` steps, CFG), after one warm-up call."""
    generate_batch(pipeline, ["a small red circle at the center on a black background"], [0], settings.steps,
                   settings.guidance_scale)
    started = time.perf_counter()
    for i in range(settings.timing_images):
        generate_batch(pipeline, ["a large blue star at the top left on a white background"], [i], settings.steps,
                       settings.guidance_scale)
    return {"seconds_per_image": (time.perf_counter() - started) / settings.timing_images}


def evaluate_toyworld(settings: ToyEvaluationSettings | None = None, device: str | None = None,
                      pipeline_dir: str | None = None) -> dict[str, Any]:
    """Run every measurement on the committed weights (or the pipeline at pipeline_dir); one JSON-ready dict."""
    settings = settings or ToyEvaluationSettings()
    check_settings(settings)
    started = time.perf_counter()
    # 1. models
    pipeline = load_pipeline(device, directory=pipeline_dir)
    clip = load_tiny_clip(device=device)
    # 2. measurements
    result: dict[str, Any] = {}
    result.update(measure_speed(pipeline, settings))
    result.update(measure_memorized(pipeline, settings))
    ordinary, _ = measure_ordinary(pipeline, clip, settings)
    result.update(ordinary)
    result.update(measure_wen(pipeline, settings))
    # 3. what produced them
    result.update({
        "threshold": settings.threshold,
        "tiled_l2_grid": 4,
        "steps": settings.steps,
        "guidance_scale": settings.guidance_scale,
        "scheduler": type(pipeline.scheduler).__name__,
        "memorized_captions": len(memorized_captions()),
        "memorized_seeds": list(range(settings.memorized_seeds)),
        "ordinary_caption_seed": settings.caption_seed,
        "ordinary_seeds": [settings.ordinary_seed_base, settings.ordinary_seed_base + settings.ordinary_captions - 1],
        "wen_seeds": list(settings.wen_seeds),
        "wen_steps": settings.wen_steps,
        "device": str(pipeline.device),
        "torch_threads": torch.get_num_threads(),
        "total_seconds": time.perf_counter() - started,
    })
    return result
