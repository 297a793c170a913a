"""Baseline: plain reseeding. Regenerate the same prompt from another seed, nothing steered.

A memorized prompt often reproduces its training image from most seeds (that is what makes it
memorized), so this baseline mainly shows how much the steering methods add. Attempt k uses seed
``(seed + k * stride) mod 2**31``: deterministic, so a retried correction gives the same image.
This module must never judge its own output.
"""

from __future__ import annotations

from typing import Any

from swerve.correctors.generator import (
    DiffusersGenerator,
    build_generator,
    request_seed,
)
from swerve.correctors.protocol import Candidate, CorrectionRequest
from swerve.errors import ConfigurationError, CorrectionError

__all__ = ["ReseedCorrector"]


class ReseedCorrector:
    """Regenerate with a different, deterministic seed per attempt.

    Args:
        name (`str`): the corrector's name in the policy.
        model_dir (`str`, optional) / generator (`DiffusersGenerator`, optional): exactly one; the model.
        **generation: ``GenerationSettings`` when loading ``model_dir`` (steps, guidance_scale, scheduler, size, dtype, device, ...).
        stride (`int`, defaults to 1000003): seed offset per attempt.
    """

    version = "1"

    def __init__(self, name: str = "reseed", *, model_dir: str | None = None,
                 generator: DiffusersGenerator | None = None, stride: int = 1_000_003, **generation: Any):
        if stride % 2**31 == 0:
            raise ConfigurationError(f"reseed stride must change the seed, got {stride}")
        self.name, self.stride = name, stride
        self.generator = build_generator(model_dir, generator, **generation)

    def propose(self, request: CorrectionRequest, attempt: int) -> Candidate:
        if attempt < 1:
            raise CorrectionError(f"attempt counts from 1, got {attempt}", event_id=request.request_id, stage="correct")
        original = request_seed(request.request_id, request.seed)
        seed = (original + attempt * self.stride) % 2**31
        generator = self.generator.sized_for(request.image)
        image = generator.generate([request.prompt], [seed], negative_prompt=request.negative_prompt)[0]
        parameters: dict[str, Any] = {**generator.record(), "seed": seed, "original_seed": original,
                                      "attempt": attempt}
        return Candidate(image=image, method="reseed", parameters=parameters)
