"""``GieCorrector``: erase the flagged concepts with growth inhibitors (GIE) and regenerate.

The target concepts are the policy's fixed ``concepts`` plus those the findings name (evidence
``{"concepts": [...]}``). Each gets a scale: the adapter's prediction when an adapter is
configured (one extra first-step UNet call), else the fixed ``scale``. Each further attempt
multiplies the scales by ``escalation``. Semantically close concepts are deduplicated (Eq. 11),
keeping the stronger. Same prompt and seed as the flagged output. This module must never judge
its own output; the adaptive loop re-verifies the candidate with the detectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from swerve.correctors.findings import concepts_in
from swerve.correctors.generator import (
    DiffusersGenerator,
    build_generator,
    request_seed,
)
from swerve.correctors.gie.attention_processor import cross_attention_layers
from swerve.correctors.gie.scale_predictor import (
    SuppressionScaleAdapter,
    first_step_features,
    load_adapter,
)
from swerve.correctors.gie.algorithm import (
    EncodedConcepts,
    dedupe_concepts,
    encode_concepts,
    erase_concepts,
)
from swerve.correctors.protocol import Candidate, CorrectionRequest
from swerve.errors import ConfigurationError, CorrectionError

__all__ = ["GieCorrector"]


class GieCorrector:
    """Regenerate with the target concepts inhibited in every cross-attention layer.

    Args:
        name (`str`): the corrector's name in the policy.
        model_dir (`str`, optional) / generator (`DiffusersGenerator`, optional): exactly one; the model.
        **generation: ``GenerationSettings`` when loading ``model_dir`` (steps, guidance_scale, scheduler, size, dtype, device, ...).
        concepts (`list[str]`): concepts always erased, besides those the findings name.
        scale (`float`, defaults to -3.0): fixed suppression scale w (negative inhibits), without an adapter.
        escalation (`float`, defaults to 1.5): scales are multiplied by it at each further attempt.
        adapter_path (`str`, optional) / adapter (`SuppressionScaleAdapter`, optional): predicts w per concept.
        active_fraction (`float`, defaults to 0.8): fraction of denoising steps with the inhibitor.
        dedupe_distance (`float`, defaults to 0.1): concepts closer than this (cosine distance) are merged.
        max_strength (`float`, defaults to 15.0): |w| is capped here (the paper's largest scale).
        self_attention_copy_fraction (`float`, defaults to 0.0): the public code's self-attention copy
            (self_attention_copy.py) for this fraction of the steps; it doubles the UNet batch.
    """

    version = "1"

    def __init__(self, name: str = "gie", *, model_dir: str | None = None, generator: DiffusersGenerator | None = None,
                 concepts: Sequence[str] = (), scale: float = -3.0, escalation: float = 1.5,
                 adapter_path: str | None = None, adapter: SuppressionScaleAdapter | None = None,
                 active_fraction: float = 0.8, dedupe_distance: float = 0.1, max_strength: float = 15.0,
                 self_attention_copy_fraction: float = 0.0, **generation: Any):
        if scale >= 0 or escalation < 1 or not 0 < active_fraction <= 1 or dedupe_distance < 0 or max_strength <= 0 \
                or not 0 <= self_attention_copy_fraction <= 1:
            raise ConfigurationError("GIE needs scale < 0, escalation >= 1, 0 < active_fraction <= 1, "
                                     "dedupe_distance >= 0, max_strength > 0, 0 <= self_attention_copy_fraction <= 1; "
                                     f"got {scale}, {escalation}, {active_fraction}, {dedupe_distance}, {max_strength}, "
                                     f"{self_attention_copy_fraction}")
        if adapter is not None and adapter_path is not None:
            raise ConfigurationError("give the GIE adapter as adapter or adapter_path, not both")
        self.name, self.concepts, self.scale, self.escalation = name, [c.strip() for c in concepts], scale, escalation
        self.active_fraction, self.dedupe_distance, self.max_strength = active_fraction, dedupe_distance, max_strength
        self.self_attention_copy_fraction = self_attention_copy_fraction
        self.generator = build_generator(model_dir, generator, **generation)
        self.adapter = load_adapter(Path(adapter_path)) if adapter_path is not None else adapter
        layers = len(cross_attention_layers(self.generator.pipeline.unet))
        if self.adapter is not None and self.adapter.layers != layers:
            raise ConfigurationError(f"the GIE adapter {adapter_path or '(given)'} takes {self.adapter.layers} inputs, one per "
                                     f"cross-attention layer of the model it was trained for; this UNet has {layers}: "
                                     "train one for this model (swerve gie train-adapter --model-dir ...)")

    def check_sources(self, detectors: Sequence[tuple[str, bool]]) -> None:
        """Refuse at load a GIE with nothing to erase: no concepts configured, and routed from
        ``detectors`` ((name, whether its findings name concepts)) of which some name none."""
        silent = [name for name, names_concepts in detectors if not names_concepts]
        if not self.concepts and silent:
            raise ConfigurationError(f"GIE corrector {self.name!r} has no concepts to erase: none configured, and detector(s) "
                                     f"{', '.join(map(repr, silent))} routed to it name none in their findings. Set its "
                                     "params.concepts, or route only concept detectors (concept, nudenet) to it")

    def _scales(self, generator: DiffusersGenerator, request: CorrectionRequest, seed: int,
                concepts: EncodedConcepts) -> tuple[torch.Tensor, str]:
        """w per concept, (n_concepts,), before escalation; and where it came from."""
        if self.adapter is None:
            return torch.full((len(concepts.names),), self.scale), "fixed"
        features = first_step_features(generator, [request.prompt], [seed], concepts)  # (nc, L)
        with torch.no_grad():
            predicted = self.adapter(features.cpu()).view(-1)  # (nc,)
        return predicted.clamp(max=-1.0), "adapter"  # the paper's labels span -1 .. -15

    def propose(self, request: CorrectionRequest, attempt: int) -> Candidate:
        if attempt < 1:
            raise CorrectionError(f"attempt counts from 1, got {attempt}", event_id=request.request_id, stage="correct")
        # 1. the target concepts: configured and named by the findings
        names = list(dict.fromkeys([*self.concepts, *concepts_in(request.findings)]))
        if not names:
            raise CorrectionError("GIE has no concept to erase: none configured and none in the findings",
                                  event_id=request.request_id, stage="correct")
        seed, generator = request_seed(request.request_id, request.seed), self.generator.sized_for(request.image)
        concepts = encode_concepts(generator, names)
        # 2. one scale per concept, stronger with each attempt, |w| capped
        base, source = self._scales(generator, request, seed, concepts)
        scales = (base * self.escalation ** (attempt - 1)).clamp(min=-self.max_strength)  # (nc,)
        # 3. merge semantically close concepts, keeping the stronger (Eq. 11)
        keep = dedupe_concepts(concepts, scales, self.dedupe_distance)
        kept = EncodedConcepts([names[j] for j in keep], concepts.context[keep], [concepts.lengths[j] for j in keep],
                               concepts.pooled[keep])
        # 4. Algorithm 1: sample with the growth inhibitors installed
        image = erase_concepts(generator, [request.prompt], [seed], kept, scales[keep], self.active_fraction,
                               request.negative_prompt, self.self_attention_copy_fraction)[0]
        parameters: dict[str, Any] = {
            **generator.record(), "seed": seed, "attempt": attempt, "concepts": kept.names,
            "merged_concepts": [n for j, n in enumerate(names) if j not in keep],
            "scales": [round(float(w), 4) for w in scales[keep]], "scale_source": source,
            "active_fraction": self.active_fraction, "self_attention_copy_fraction": self.self_attention_copy_fraction,
        }
        return Candidate(image=image, method="gie", parameters=parameters)
