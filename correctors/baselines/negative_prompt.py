"""Baseline: the negative prompt (Ho & Salimans' CFG with a negative branch).

The flagged concepts (evidence ``{"concepts": [...]}``), the captions of the training images a
memorization finding matched, and the configured ``copy_terms`` become the negative prompt, so classifier-free guidance steers away from them:
eps = eps(x_t, negative) + g (eps(x_t, c) - eps(x_t, negative)). The cheapest method, and weak on
implicit prompts (GIE's comparison, "SD + NEG"). The same prompt and seed are regenerated; each
further attempt raises g by ``guidance_step``. This module must never judge its own output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from swerve.correctors.findings import concepts_in, matched_captions_in
from swerve.correctors.generator import (
    DiffusersGenerator,
    build_generator,
    request_seed,
)
from swerve.correctors.protocol import Candidate, CorrectionRequest
from swerve.errors import ConfigurationError, CorrectionError

__all__ = ["NegativePromptCorrector"]


class NegativePromptCorrector:
    """Regenerate with the flagged concepts and copy terms as the negative prompt.

    Args:
        name (`str`): the corrector's name in the policy.
        model_dir (`str`, optional) / generator (`DiffusersGenerator`, optional): exactly one; the model.
        **generation: ``GenerationSettings`` when loading ``model_dir`` (steps, guidance_scale, scheduler, size, dtype, device, ...).
        copy_terms (`list[str]`): always in the negative prompt (e.g. the memorized captions' words).
        guidance_step (`float`, defaults to 1.5): added to the guidance scale at each further attempt.
    """

    version = "1"

    def __init__(self, name: str = "negative_prompt", *, model_dir: str | None = None,
                 generator: DiffusersGenerator | None = None, copy_terms: Sequence[str] = (),
                 guidance_step: float = 1.5, **generation: Any):
        if guidance_step < 0:
            raise ConfigurationError(f"guidance_step must be >= 0, got {guidance_step}")
        self.name, self.copy_terms, self.guidance_step = name, [t.strip() for t in copy_terms if t.strip()], guidance_step
        self.generator = build_generator(model_dir, generator, **generation)

    def propose(self, request: CorrectionRequest, attempt: int) -> Candidate:
        if attempt < 1:
            raise CorrectionError(f"attempt counts from 1, got {attempt}", event_id=request.request_id, stage="correct")
        # 1. the negative terms: the user's own negative prompt, the flagged concepts, the copy terms
        terms = list(dict.fromkeys([*concepts_in(request.findings), *matched_captions_in(request.findings),
                                    *self.copy_terms]))
        if not terms:
            raise CorrectionError("negative prompt has no term: no concept or matched caption in the findings "
                                  "and no copy_terms",
                                  event_id=request.request_id, stage="correct")
        negative = ", ".join([request.negative_prompt, *terms] if request.negative_prompt else terms)
        # 2. the same prompt and seed, guided away harder with each attempt
        gen, seed = self.generator.sized_for(request.image), request_seed(request.request_id, request.seed)
        guidance = gen.guidance_scale + self.guidance_step * (attempt - 1)
        image = gen.generate([request.prompt], [seed], negative_prompt=negative, guidance_scale=guidance)[0]
        parameters: dict[str, Any] = {**gen.record(), "seed": seed, "attempt": attempt, "negative_prompt": negative,
                                      "guidance_scale": guidance}
        return Candidate(image=image, method="negative_prompt", parameters=parameters)
