"""Labels for GIE's adapter without GPT-4o: the smallest scale that erases the concept and keeps fidelity.

The paper asks GPT-4o to pick, among images made with growing suppression scales, the one that
erases the concept best while keeping quality (Appendix D, scales -1 to -15 in steps of 1). Here
two callables decide instead, so this module needs no detector: ``concept_present(prompt, image)``
(our concept detector) and ``faithful(prompt, image)`` (our fidelity metric). A scale is a label
when the concept is gone and the image is still faithful; the first such scale, in the given
order of growing strength, wins. Examples with no such scale are left out, and counted. This module
must never import a detector or decide a threshold for those callables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from PIL import Image
from swerve.correctors.generator import DiffusersGenerator
from swerve.correctors.gie.scale_predictor import first_step_features
from swerve.correctors.gie.algorithm import encode_concepts, erase_concepts
from swerve.errors import ConfigurationError

__all__ = ["PAPER_SCALES", "AdapterExamples", "ImageCheck", "label_examples", "smallest_erasing_scale"]

ImageCheck = Callable[[str, Image.Image], bool]
PAPER_SCALES = (-1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0, -9.0, -10.0, -11.0, -12.0, -13.0, -14.0, -15.0)


@dataclass(frozen=True)
class AdapterExamples:
    """Labeled pairs for ``train_adapter``: features (N, L) and best scales (N,), plus what was skipped."""

    features: torch.Tensor
    scales: torch.Tensor
    skipped: list[tuple[str, int]]


def smallest_erasing_scale(render: Callable[[float], Image.Image], erased: Callable[[Image.Image], bool],
                           faithful: Callable[[Image.Image], bool], scales: Sequence[float]) -> float | None:
    """The first scale (weakest first) whose image is erased and faithful; None if none is."""
    if not scales:
        raise ConfigurationError("smallest_erasing_scale needs at least one candidate scale")
    for scale in scales:
        image = render(float(scale))
        if erased(image) and faithful(image):
            return float(scale)
    return None


def label_examples(generator: DiffusersGenerator, prompts: Sequence[str], seeds: Sequence[int], concept: str,
                   concept_present: ImageCheck, faithful: ImageCheck,
                   scales: Sequence[float] = PAPER_SCALES,
                   active_fraction: float = 0.8) -> AdapterExamples:
    """Label every (prompt, seed) with its smallest erasing scale; features are Eq. 9 at t = T.

    Args:
        generator: the model to label for (the adapter is model-specific: L depends on it).
        prompts, seeds: the examples; every prompt is tried with every seed.
        concept: the target concept P*.
        concept_present: (prompt, image) -> whether the concept is still visible.
        faithful: (prompt, image) -> whether the image still fits the prompt apart from the concept.
        scales: candidate scales, weakest first (default -1 .. -15, the paper's range).
        active_fraction: fraction of steps with the inhibitor, as at inference.
    """
    concepts = encode_concepts(generator, [concept])
    features, labels, skipped = [], [], []
    for prompt in prompts:
        for seed in seeds:
            def render(scale: float, prompt: str = prompt, seed: int = seed) -> Image.Image:
                return erase_concepts(generator, [prompt], [seed], concepts, torch.tensor([scale]), active_fraction)[0]

            def erased(image: Image.Image, prompt: str = prompt) -> bool:
                return not concept_present(prompt, image)

            def kept(image: Image.Image, prompt: str = prompt) -> bool:
                return faithful(prompt, image)

            label = smallest_erasing_scale(render, erased, kept, scales)
            if label is None:
                skipped.append((prompt, seed))
                continue
            features.append(first_step_features(generator, [prompt], [seed], concepts)[0])  # (L,)
            labels.append(label)
    layers = len(features[0]) if features else 0
    return AdapterExamples(torch.stack(features) if features else torch.zeros(0, layers),
                           torch.tensor(labels, dtype=torch.float32), skipped)
