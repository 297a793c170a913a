"""``PromptMitigationCorrector``: Wen et al.'s mitigation (``algorithm.py``) as a swerve corrector.

Each attempt optimizes the prompt embedding to a lower target (``target_ratio ** attempt`` of the
sample's starting magnitude, or ``target``) and regenerates the same seed from it. (Starting
later attempts from other seeds was measured and did not pay: an implicit memorized prompt that
was flagged copies from nearly every seed; docs/correctors.md.)
"""

from __future__ import annotations

from typing import Any

from swerve.correctors.generator import (
    DiffusersGenerator,
    build_generator,
    request_seed,
)
from swerve.correctors.prompt_mitigation.algorithm import mitigate_prompt_embedding
from swerve.correctors.protocol import Candidate, CorrectionRequest
from swerve.errors import ConfigurationError, CorrectionError

__all__ = ["PromptMitigationCorrector"]


class PromptMitigationCorrector:
    """Regenerate from a prompt embedding optimized to lower Wen's memorization signal.

    Args:
        name (`str`): the corrector's name in the policy.
        model_dir (`str`, optional) / generator (`DiffusersGenerator`, optional): exactly one; the model.
        **generation: ``GenerationSettings`` when loading ``model_dir`` (steps, guidance_scale, scheduler, size, dtype, device, ...).
        learning_rate (`float`, defaults to 0.05), max_iterations (`int`, defaults to 10): AdamW budget at attempt 1.
        target (`float`, optional): absolute stopping value of d (model-specific; calibrate per deployment).
        target_ratio (`float`, defaults to 0.8): otherwise stop at ratio ** attempt times the starting d
            (0.8, 0.64, 0.51 over three attempts: the gentlest change that passes is tried first;
            measured on the toy model in docs/correctors.md).
        l2_weight (`float`, defaults to 0.0): weight of ||e_c - e_c0||^2.
    """

    version = "1"

    def __init__(self, name: str = "prompt_mitigation", *, model_dir: str | None = None,
                 generator: DiffusersGenerator | None = None, learning_rate: float = 0.05,
                 max_iterations: int = 10, target: float | None = None, target_ratio: float = 0.8,
                 l2_weight: float = 0.0, **generation: Any):
        if not 0 < target_ratio < 1:
            raise ConfigurationError(f"prompt mitigation target_ratio must be in (0, 1), got {target_ratio}")
        self.name, self.learning_rate, self.max_iterations = name, learning_rate, max_iterations
        self.target, self.target_ratio, self.l2_weight = target, target_ratio, l2_weight
        self.generator = build_generator(model_dir, generator, **generation)

    def propose(self, request: CorrectionRequest, attempt: int) -> Candidate:
        if attempt < 1:
            raise CorrectionError(f"attempt counts from 1, got {attempt}", event_id=request.request_id, stage="correct")
        gen, seed = self.generator.sized_for(request.image), request_seed(request.request_id, request.seed)
        with gen.lock:
            # 1. x_T of the flagged output and its text embeddings
            x_t = gen.initial_latents([seed])  # (1, C, h, w)
            cond, uncond = gen.encode([request.prompt], request.negative_prompt)  # (1, tokens, width) each
            # 2. optimize e_c at step 0, harder with each attempt
            result = mitigate_prompt_embedding(gen, cond, x_t, self.learning_rate, self.max_iterations * attempt,
                                               self.target, self.target_ratio ** attempt, self.l2_weight)
            # 3. the same seed, from the optimized embedding
            image = gen.generate([request.prompt], [seed], prompt_embeds=result.prompt_embeds,
                                 negative_prompt_embeds=uncond, latents=x_t)[0]
        parameters: dict[str, Any] = {
            **gen.record(), "seed": seed, "attempt": attempt, "learning_rate": self.learning_rate,
            "max_iterations": self.max_iterations * attempt, "target": self.target,
            "target_ratio": None if self.target is not None else round(self.target_ratio ** attempt, 4),
            "l2_weight": self.l2_weight, "magnitude_before": result.magnitude_before[0],
            "magnitude_after": result.magnitude_after[0], "iterations": result.iterations[0],
        }
        return Candidate(image=image, method="prompt_mitigation", parameters=parameters)
