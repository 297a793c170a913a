"""`swerve eval detect`: how well the detectors separate memorized from ordinary generations.

On the toy world (committed weights):
  1. generate every memorized caption with seeds 0..S-1 (positives), and as many ordinary
     captions with seeds 0..S-1 each (negatives);
  2. image level: the MemorizationDetector (tiny-CLIP index kNN + tiled-L2 confirmation) scores
     every generation: ``auc`` and ``tpr_at_1pct_fpr``, plus the flag rates at its threshold;
  3. prompt level: Wen et al.'s first-step text-conditional noise magnitude for each
     (caption, seed): ``prompt_auc`` and ``prompt_tpr_at_1pct_fpr``;
  4. concepts: the ConceptDetector with one concept set per toy colour and per toy shape reads
     the ordinary generations: ``concept_accuracy`` is the share whose strongest colour and
     strongest shape are the caption's.
Everything that produced the figures (seeds, thresholds, index version) is in the result.
This module reads models and writes only the toy index cache; it never trains.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from swerve.detectors.concepts import ConceptDetector
from swerve.detectors.memorization import MemorizationDetector
from swerve.detectors.prompt_memorization import PromptMemorizationDetector
from swerve.detectors.protocol import Sample
from swerve.detectors.tiled_l2 import as_unit_array, tiled_l2_arrays
from swerve.evaluation.metrics import roc_auc, tpr_at_fpr
from swerve.evaluation.toyworld import expected_colour_and_shape, generate_all
from swerve.streams.embedded_defaults import ensure_toy_index, toy_embedder_params
from swerve.toyworld import DEFAULT_GUIDANCE_SCALE, DEFAULT_STEPS, load_pipeline, memorized_captions, memorized_images, sample_ordinary_captions
from swerve.toyworld.vocabulary import SHAPE_COLOURS, SHAPES


@dataclass(frozen=True)
class DetectionEvaluationSettings:
    seeds: int = 32
    ordinary_caption_seed: int = 2_000_003
    steps: int = DEFAULT_STEPS
    guidance_scale: float = DEFAULT_GUIDANCE_SCALE
    k: int = 5
    candidate_similarity: float = 0.8
    tiled_l2_threshold: float = 0.1
    prompt_num_steps: int = 1
    target_fpr: float = 0.01
    batch_size: int = 32


def toy_concept_sets() -> list[dict[str, Any]]:
    """One concept set per toy colour and per toy shape, each against its siblings."""
    colours, shapes = list(SHAPE_COLOURS), list(SHAPES)
    sets = [
        {"name": f"colour:{c}", "prompts": [f"a {c} {s}" for s in shapes], "contrast": [f"a {o} {s}" for o in colours if o != c for s in shapes]}
        for c in colours
    ]
    sets += [
        {"name": f"shape:{s}", "prompts": [f"a {c} {s}" for c in colours], "contrast": [f"a {c} {o}" for o in shapes if o != s for c in colours]}
        for s in shapes
    ]
    return sets


def summary(scores: np.ndarray, labels: np.ndarray, target_fpr: float) -> dict[str, float]:
    tpr, threshold = tpr_at_fpr(scores, labels, target_fpr)
    return {"auc": roc_auc(scores, labels), "tpr": tpr, "threshold": threshold}


def evaluate_detection(data_dir: Path, settings: DetectionEvaluationSettings | None = None, device: str | None = None) -> dict[str, Any]:
    """Run every detection measurement and return one JSON-ready dict."""
    settings = settings or DetectionEvaluationSettings()
    started = time.perf_counter()
    # 1. generations: memorized captions (positives) and as many ordinary captions, S seeds each
    pipeline = load_pipeline(device)
    memorized = memorized_captions()
    ordinary = sample_ordinary_captions(len(memorized), seed=settings.ordinary_caption_seed)
    seeds = list(range(settings.seeds))
    prompts = [c for c in memorized for _ in seeds] + [c for c in ordinary for _ in seeds]
    prompt_seeds = seeds * (len(memorized) + len(ordinary))
    labels = np.array([True] * (len(memorized) * len(seeds)) + [False] * (len(ordinary) * len(seeds)))
    images = generate_all(pipeline, prompts, prompt_seeds, settings.steps, settings.guidance_scale, settings.batch_size)
    samples = [Sample(f"eval-{i}", image, "0" * 64, prompt, seed) for i, (image, prompt, seed) in enumerate(zip(images, prompts, prompt_seeds))]

    # 2. image level: index kNN + tiled L2
    index_dir = ensure_toy_index(data_dir)
    memorization = MemorizationDetector(
        index_dir=str(index_dir), embedder=toy_embedder_params(), k=settings.k,
        candidate_similarity=settings.candidate_similarity, tiled_l2_threshold=settings.tiled_l2_threshold,
    )
    image_scores = []
    for start in range(0, len(samples), settings.batch_size):
        image_scores += memorization.score(samples[start:start + settings.batch_size])
    values = np.array([s.value for s in image_scores])
    flagged = np.array([s.flagged for s in image_scores])
    image = summary(values, labels, settings.target_fpr)
    # The same, with positives limited to memorized-caption generations that really are
    # near-copies of their own training image: the detector's accuracy apart from how often
    # the generator happens to copy.
    own = memorized_images()
    is_copy = np.array([
        bool(label) and tiled_l2_arrays(as_unit_array(own[prompt]), as_unit_array(picture)) < settings.tiled_l2_threshold
        for picture, prompt, label in zip(images, prompts, labels)
    ])
    keep = is_copy | ~labels
    verified = summary(values[keep], is_copy[keep], settings.target_fpr)

    # 3. prompt level: Wen's first-step magnitude per (caption, seed)
    wen = PromptMemorizationDetector(pipeline=pipeline, num_steps=settings.prompt_num_steps, num_inference_steps=settings.steps)
    magnitudes = np.array([wen.magnitudes([prompt], [seed])[0] for prompt, seed in zip(prompts, prompt_seeds)])
    prompt = summary(magnitudes, labels, settings.target_fpr)

    # 4. concepts: strongest colour and shape on the ordinary generations
    concepts = ConceptDetector(concepts=toy_concept_sets(), embedder=toy_embedder_params())
    ordinary_images = [image for image, label in zip(images, labels) if not label]
    ordinary_prompts = [p for p, label in zip(prompts, labels) if not label]
    table = concepts.probabilities(ordinary_images)  # (n, colours + shapes)
    names = [c.name for c in concepts.concepts]
    colour_columns = [i for i, n in enumerate(names) if n.startswith("colour:")]
    shape_columns = [i for i, n in enumerate(names) if n.startswith("shape:")]
    correct = []
    for row, caption in zip(table, ordinary_prompts):
        colour, shape = expected_colour_and_shape(caption)
        read_colour = names[colour_columns[int(np.argmax(row[colour_columns]))]].split(":")[1]
        read_shape = names[shape_columns[int(np.argmax(row[shape_columns]))]].split(":")[1]
        correct.append(read_colour == colour and read_shape == shape)

    return {
        "auc": image["auc"],
        "tpr_at_1pct_fpr": image["tpr"],
        "score_threshold_at_1pct_fpr": image["threshold"],
        "auc_verified_copies": verified["auc"],
        "tpr_at_1pct_fpr_verified_copies": verified["tpr"],
        "verified_copies": int(is_copy.sum()),
        "flag_rate_memorized": float(flagged[labels].mean()),
        "flag_rate_ordinary": float(flagged[~labels].mean()),
        "prompt_auc": prompt["auc"],
        "prompt_tpr_at_1pct_fpr": prompt["tpr"],
        "prompt_threshold_at_1pct_fpr": prompt["threshold"],
        "concept_accuracy": float(np.mean(correct)),
        "generations": {"memorized": int(labels.sum()), "ordinary": int((~labels).sum())},
        "memorized_captions": len(memorized),
        "ordinary_captions": len(ordinary),
        "seeds": seeds,
        "settings": asdict(settings),
        "index_version": memorization.index_version,
        "detector_versions": {"memorization": memorization.version, "prompt": wen.version, "concepts": concepts.version},
        "device": str(pipeline.device),
        "torch_threads": torch.get_num_threads(),
        "total_seconds": time.perf_counter() - started,
    }
