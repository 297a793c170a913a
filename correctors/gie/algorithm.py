"""GIE's Algorithm 1 on a ``DiffusersGenerator``: encode the target concepts, place the growth
inhibitors, pick the scales, and sample with the processors of ``attention_processor.py`` installed.

    c = Encoder(P), c* = Encoder(P*);  w <- Adapter(z_T, c, t = T)   (or a fixed w)
    for t = T .. 1:  z_{t-1} <- DM(z_t, c_replace, t) {M <- M_replace}   during the first ~80% of steps

Several concepts get one scale each; concepts closer than ``dedupe_distance`` in cosine distance
of their text embeddings (Eq. 11, d = 1 - c1.c2 / |c1||c2|, on the CLIP-pooled EOT embedding)
keep only the stronger one (the larger |w|). This module must never judge images and never keep
processors installed after it returns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from PIL import Image
from swerve.correctors.generator import DiffusersGenerator
from swerve.correctors.gie.attention_processor import GieState, growth_inhibitors
from swerve.correctors.gie.self_attention_copy import SelfAttentionCopy, branch_pairs
from swerve.errors import CorrectionError

__all__ = ["EncodedConcepts", "dedupe_concepts", "encode_concepts", "eot_positions", "erase_concepts", "gie_state"]


@dataclass(frozen=True)
class EncodedConcepts:
    """Target concepts P* as the UNet sees them."""

    names: list[str]
    context: torch.Tensor  # c*, (n_concepts, tokens, width)
    lengths: list[int]  # tokens between SOT and EOT, per concept
    pooled: torch.Tensor  # c*[EOT], (n_concepts, width): the semantic vector of Eq. 11


def _token_ids(generator: DiffusersGenerator, texts: Sequence[str]) -> torch.Tensor:
    tokenizer = generator.pipeline.tokenizer
    ids: torch.Tensor = tokenizer(list(texts), padding="max_length", max_length=tokenizer.model_max_length,
                                  truncation=True, return_tensors="pt").input_ids  # (B, tokens)
    return ids


def eot_positions(generator: DiffusersGenerator, prompts: Sequence[str]) -> list[int]:
    """Index of the first EOT token of each prompt (pos in Eq. 8)."""
    eos = generator.pipeline.tokenizer.eos_token_id
    return [int((row == eos).nonzero()[0]) for row in _token_ids(generator, prompts)]


@torch.no_grad()
def encode_concepts(generator: DiffusersGenerator, names: Sequence[str]) -> EncodedConcepts:
    """c* for each concept, encoded exactly as prompts are (the pipeline's ``encode_prompt``)."""
    if not names:
        raise CorrectionError("GIE needs at least one target concept")
    lengths = [eos - 1 for eos in eot_positions(generator, names)]
    if min(lengths) < 1:
        raise CorrectionError(f"a GIE concept has no tokens: {list(names)!r}")
    context, _ = generator.encode(names)  # (n_concepts, tokens, width)
    pooled = torch.stack([context[j, 1 + k] for j, k in enumerate(lengths)])  # (n_concepts, width)
    return EncodedConcepts(list(names), context, lengths, pooled)


def dedupe_concepts(concepts: EncodedConcepts, scales: torch.Tensor, max_distance: float) -> list[int]:
    """Indices of the concepts to keep: of any pair closer than ``max_distance`` (Eq. 11), the stronger."""
    unit = torch.nn.functional.normalize(concepts.pooled.float(), dim=-1)  # (nc, width)
    distance = 1 - unit @ unit.T  # (nc, nc)
    keep: list[int] = []
    for j in sorted(range(len(concepts.names)), key=lambda j: -abs(float(scales[j]))):
        if all(float(distance[j, kept]) >= max_distance for kept in keep):
            keep.append(j)
    return sorted(keep)


def gie_state(generator: DiffusersGenerator, prompts: Sequence[str], concepts: EncodedConcepts,
              scales: torch.Tensor, active_fraction: float, self_attention_copy_fraction: float = 0.0) -> GieState:
    """The processors' shared state for one batch of prompts.

    With ``self_attention_copy_fraction`` > 0 the batch is meant to be the prompts twice, originals
    first: only the second copy is edited, and it takes the first's self-attention maps for that
    fraction of the steps.
    """
    if not 0.0 <= active_fraction <= 1.0 or not 0.0 <= self_attention_copy_fraction <= 1.0:
        raise CorrectionError("GIE active_fraction and self_attention_copy_fraction must be in [0, 1], "
                              f"got {active_fraction} and {self_attention_copy_fraction}")
    cfg = generator.guidance_scale > 1
    positions: list[int | None] = list(eot_positions(generator, prompts))
    copy = None
    if self_attention_copy_fraction > 0:
        originals: list[int | None] = [None] * len(prompts)
        positions = originals + positions
        copy = SelfAttentionCopy(branch_pairs(len(prompts), cfg), math.ceil(self_attention_copy_fraction * generator.steps))
    return GieState(concept_context=concepts.context, concept_lengths=concepts.lengths, scales=scales.float().cpu(),
                    eot_positions=positions, active_steps=math.ceil(active_fraction * generator.steps), cfg=cfg,
                    self_attention_copy=copy)


def erase_concepts(generator: DiffusersGenerator, prompts: Sequence[str], seeds: Sequence[int],
                   concepts: EncodedConcepts, scales: torch.Tensor, active_fraction: float = 0.8,
                   negative_prompt: str | None = None, self_attention_copy_fraction: float = 0.0) -> list[Image.Image]:
    """Generate ``prompts`` with ``concepts`` inhibited at ``scales`` (n_concepts,) for the first steps.

    ``self_attention_copy_fraction`` > 0 also runs the unedited prompts in the same batch (twice the
    UNet work) and keeps their self-attention maps for that fraction of the steps.
    """
    if scales.shape != (len(concepts.names),):
        raise CorrectionError(f"need one scale per concept ({len(concepts.names)}), got shape {tuple(scales.shape)}")
    state = gie_state(generator, prompts, concepts, scales, active_fraction, self_attention_copy_fraction)
    branches = 2 if state.self_attention_copy is not None else 1
    with generator.lock, growth_inhibitors(generator.pipeline.unet, state):
        images = generator.generate(list(prompts) * branches, list(seeds) * branches, negative_prompt=negative_prompt,
                                    callback=state.advance)
    return images[len(images) - len(prompts):]  # the edited branch
