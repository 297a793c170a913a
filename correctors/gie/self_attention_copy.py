"""GIE's self-attention copy (from the paper's public code, not its equations).

The original prompt runs beside the edited one in the same UNet batch, from the same x_T. During
the first ``copy_steps`` denoising steps, in every self-attention layer with at most
``max_tokens`` pixels (16x16 and below, as the public code), the edited branch's attention maps
are replaced by the original branch's:

    A_edit <- A_orig = Softmax(Q_orig K_orig^T / sqrt(d)),   out_edit = A_orig V_edit

so the layout of the original image is kept while the growth inhibitors remove the concept.
``SelfAttentionCopy`` is the shared state; ``SelfAttentionCopyProcessor`` is installed on the
self-attention layers (``attn1``) by ``gie.growth_inhibitors``. Like gie.py, this module must never
patch ``forward``, change weights or run the sampler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from diffusers.models.attention_processor import Attention
from swerve.correctors.attention_parts import as_tokens, attention_output, require_plain_attention
from swerve.errors import CorrectionError

__all__ = ["SelfAttentionCopy", "SelfAttentionCopyProcessor", "branch_pairs"]

SMALL_LAYER_TOKENS = 16 * 16


def branch_pairs(samples: int, cfg: bool) -> list[tuple[int, int]]:
    """(original row, edited row) in the UNet batch for ``samples`` prompts run twice, originals first.

    With CFG the batch is [uncond x 2n, cond x 2n] (diffusers' order), each half [originals, edited].
    """
    halves = 2 if cfg else 1
    return [(h * 2 * samples + j, h * 2 * samples + samples + j) for h in range(halves) for j in range(samples)]


@dataclass
class SelfAttentionCopy:
    """Which rows copy from which, and for how many steps (the step counter is GieState's)."""

    pairs: list[tuple[int, int]]
    copy_steps: int
    max_tokens: int = SMALL_LAYER_TOKENS


class SelfAttentionCopyProcessor:
    """A self-attention processor: the edited rows take the original rows' attention maps while copying."""

    def __init__(self, copy: SelfAttentionCopy, step_of: Callable[[], int], original: Any):
        self.copy, self.step_of, self.original = copy, step_of, original

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None) -> torch.Tensor:
        tokens = hidden_states.shape[1] if hidden_states.ndim == 3 else hidden_states.shape[2] * hidden_states.shape[3]
        if self.step_of() >= self.copy.copy_steps or tokens > self.copy.max_tokens:
            plain: torch.Tensor = self.original(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
            return plain
        if encoder_hidden_states is not None:
            raise CorrectionError("SelfAttentionCopyProcessor belongs on self-attention layers")
        require_plain_attention(attn, attention_mask, "SelfAttentionCopyProcessor")
        residual, hidden_states = hidden_states, as_tokens(hidden_states)
        b, n = hidden_states.shape[0], hidden_states.shape[1]
        if max(max(pair) for pair in self.copy.pairs) >= b:
            raise CorrectionError(f"self-attention copy rows {self.copy.pairs} do not fit a batch of {b}")
        query = attn.head_to_batch_dim(attn.to_q(hidden_states))  # (B*H, N, d)
        key = attn.head_to_batch_dim(attn.to_k(hidden_states))
        probs = attn.get_attention_scores(query, key).view(b, attn.heads, n, n).clone()  # (B, H, N, N)
        for original_row, edited_row in self.copy.pairs:
            probs[edited_row] = probs[original_row]
        value = attn.head_to_batch_dim(attn.to_v(hidden_states))  # (B*H, N, d)
        return attention_output(attn, torch.bmm(probs.view(b * attn.heads, n, n), value), residual)
