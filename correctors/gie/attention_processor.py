"""GIE (Chen et al.): growth inhibitors injected into cross-attention to erase a concept, no fine-tuning.

In every cross-attention layer, for the conditional rows of the CFG batch [uncond, cond]:

    M  = Softmax(Q(phi(z_t)) K(c)^T / sqrt(d)),   M* = Softmax(Q(phi(z_t)) K(c*)^T / sqrt(d))      (Eq. 6)
    I  = W (.) M*[:, :, s+1:e]                  the concept's own tokens, SOT and EOT excluded      (Eq. 7)
    M_replace = M[:pos] ++ I ++ M[pos:n-K]      I inserted just before the prompt's EOT at pos      (Eq. 8)
    c_replace = c[:pos] ++ c*[s+1:e] ++ c[pos:n-K]   keys/values to match; length stays n

K is the number of inserted tokens (all concepts), so the last K tokens of the prompt, which are
padding, are dropped. W holds one suppression scale w per concept (negative inhibits; w = 0
inserts nothing but still drops the K padding columns). As in the public code there is no
renormalization after the injection. The injection runs while ``GieState.injecting`` (the first
``active_steps`` denoising steps); after that the layer's original processor runs. With
``recording`` it stores Eq. 9's adapter features: per layer, the mean of M* on each concept's
tokens over pixels, heads and the conditional batch.

``growth_inhibitors`` installs one ``GrowthInhibitorProcessor`` per cross-attention layer with
``unet.set_attn_processor`` (and, when ``GieState.self_attention_copy`` is set, the public code's
self-attention copy on the self-attention layers: self_attention_copy.py) and restores the
original processors on exit, even on error. This
module must never patch ``forward``, never change weights, and never run the sampler itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from diffusers.models.attention_processor import Attention
from swerve.correctors.attention_parts import as_tokens, attention_layers, attention_output, require_plain_attention
from swerve.correctors.gie.self_attention_copy import SelfAttentionCopy, SelfAttentionCopyProcessor
from swerve.errors import CorrectionError

__all__ = ["GieState", "GrowthInhibitorProcessor", "concept_attention", "cross_attention_layers", "growth_inhibitors"]


@dataclass
class GieState:
    """What every layer's processor shares: the concepts, their scales, the positions and the step.

    Args:
        concept_context: c* per concept, (n_concepts, n, width): the concepts' own text encodings.
        concept_lengths: tokens per concept between SOT and EOT (k_j); c*[j, 1:1+k_j] are inserted.
        scales: w per concept, (n_concepts,); negative inhibits.
        eot_positions: the prompt's EOT index per conditional sample (pos); None leaves that sample
            unedited (the original branch of a self-attention copy).
        active_steps: inject during steps 0 .. active_steps - 1.
        cfg: the UNet batch is [uncond, cond] (diffusers' order); else it is all conditional.
        self_attention_copy: run with an original branch whose self-attention maps the edited rows take.
    """

    concept_context: torch.Tensor
    concept_lengths: list[int]
    scales: torch.Tensor
    eot_positions: list[int | None]
    active_steps: int
    cfg: bool = True
    self_attention_copy: SelfAttentionCopy | None = None
    step: int = 0
    recording: bool = False
    features: dict[int, torch.Tensor] = field(default_factory=dict)  # layer -> (n_concepts,) mean M* (Eq. 9)

    @property
    def injecting(self) -> bool:
        return self.step < self.active_steps

    @property
    def inserted(self) -> int:
        return sum(self.concept_lengths)

    def advance(self, pipeline: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        """``callback_on_step_end``: the next step is ``step + 1``."""
        self.step = step + 1
        return tensors


def cross_attention_layers(unet: Any) -> list[str]:
    """Processor names of the cross-attention layers, in the UNet's order (down, mid, up): L of them."""
    return attention_layers(unet, cross=True)


def concept_attention(attn: Attention, query: torch.Tensor, concepts: torch.Tensor) -> torch.Tensor:
    """M* of Eq. 6: the image queries (B, H, N, d) against each concept's own encoding c* (nc, n, width).

    Returns float32 probabilities (B, nc, H, N, n), softmax over the concept's n tokens.
    """
    heads, n = query.shape[1], concepts.shape[1]
    k_star = attn.head_to_batch_dim(attn.to_k(concepts)).view(len(concepts), heads, n, -1)  # (nc, H, n, d)
    m_star: torch.Tensor = (torch.einsum("bhqd,chkd->bchqk", query, k_star) * attn.scale).float().softmax(-1)
    return m_star


class GrowthInhibitorProcessor:
    """A diffusers attention processor for one cross-attention layer (``layer`` in 0 .. L-1).

    While the state neither injects nor records, it hands the call to ``original`` (the layer's own
    processor, e.g. fused SDPA) when given, so the remaining steps cost what plain sampling costs.
    """

    def __init__(self, layer: int, state: GieState, original: Any = None):
        self.layer, self.state, self.original = layer, state, original

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None) -> torch.Tensor:
        if self.original is not None and not (self.state.injecting or self.state.recording):
            plain: torch.Tensor = self.original(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
            return plain
        if encoder_hidden_states is None:
            raise CorrectionError("GrowthInhibitorProcessor belongs on cross-attention layers")
        require_plain_attention(attn, attention_mask, "GrowthInhibitorProcessor")
        residual, hidden_states = hidden_states, as_tokens(hidden_states)
        context = attn.norm_encoder_hidden_states(encoder_hidden_states) if attn.norm_cross else encoder_hidden_states
        b, n = context.shape[0], context.shape[1]  # batch, text tokens
        heads = attn.heads
        # 1. M = Softmax(Q K(c)^T / sqrt(d)) for the whole batch, explicitly: (B*H, N, n)
        query = attn.head_to_batch_dim(attn.to_q(hidden_states))  # (B*H, N, d)
        probs = attn.get_attention_scores(query, attn.head_to_batch_dim(attn.to_k(context)))  # (B*H, N, n)
        out = torch.bmm(probs, attn.head_to_batch_dim(attn.to_v(context)))  # (B*H, N, d)
        if self.state.recording or self.state.injecting:
            out = self._inhibit(attn, query, probs, context, out, b, n, heads)
        return attention_output(attn, out, residual)

    def _inhibit(self, attn: Attention, query: torch.Tensor, probs: torch.Tensor, context: torch.Tensor,
                 out: torch.Tensor, b: int, n: int, heads: int) -> torch.Tensor:
        state = self.state
        first = b // 2 if state.cfg else 0  # conditional rows start here
        big_n = query.shape[1]
        q_cond = query.view(b, heads, big_n, -1)[first:]  # (Bc, H, N, d)
        # 2. M* = Softmax(Q K(c*)^T / sqrt(d)) per concept: (Bc, n_concepts, H, N, n)
        concepts = state.concept_context.to(context.dtype)  # (n_concepts, n, width)
        m_star = concept_attention(attn, q_cond, concepts).to(probs.dtype)
        # 3. the concepts' own token maps M*[:, :, s+1:e] (SOT at s = 0), one block per concept
        maps = [m_star[:, j, :, :, 1:1 + k] for j, k in enumerate(state.concept_lengths)]  # (Bc, H, N, k_j) each
        if state.recording:
            state.features[self.layer] = torch.stack([m.float().mean(dim=(0, 1, 2, 3)) for m in maps])  # (nc,)
        if not state.injecting:
            return out
        # 4. growth inhibitors I = W (.) M*[s+1:e]  (Eq. 7): (Bc, H, N, K)
        inhibitors = torch.cat([w * m for w, m in zip(state.scales.tolist(), maps)], dim=-1)
        tokens = torch.cat([concepts[j, 1:1 + k] for j, k in enumerate(state.concept_lengths)])  # (K, width)
        big_k = tokens.shape[0]
        out = out.view(b, heads, big_n, -1).clone()  # (B, H, N, d)
        m = probs.view(b, heads, big_n, n)  # (B, H, N, n)
        for row, pos in enumerate(state.eot_positions):
            if pos is None:
                continue
            i = first + row
            # 5. M_replace and c_replace (Eq. 8): insert before EOT, drop the last K (padding)
            m_replace = torch.cat([m[i, :, :, :pos], inhibitors[row], m[i, :, :, pos:n - big_k]], dim=-1)  # (H, N, n)
            c_replace = torch.cat([context[i, :pos], tokens, context[i, pos:n - big_k]])  # (n, width)
            v_replace = attn.head_to_batch_dim(attn.to_v(c_replace[None]))  # (H, n, d)
            out[i] = torch.bmm(m_replace, v_replace)  # (H, N, d)
        inhibited: torch.Tensor = out.view(b * heads, big_n, -1)
        return inhibited


@contextmanager
def growth_inhibitors(unet: Any, state: GieState) -> Iterator[GieState]:
    """Install a ``GrowthInhibitorProcessor`` on every cross-attention layer (and the self-attention copy's
    processor on every self-attention layer when the state asks for it); restore the originals on exit."""
    for pos in state.eot_positions:
        if pos is not None and pos + state.inserted >= state.concept_context.shape[1]:
            raise CorrectionError(f"prompt too long for GIE: EOT at {pos} leaves no room for {state.inserted} tokens")
    original = dict(unet.attn_processors)
    layers = {name: index for index, name in enumerate(cross_attention_layers(unet))}
    if not layers:
        raise CorrectionError("the UNet has no cross-attention layer for GIE")
    replaced: dict[str, Any] = {name: GrowthInhibitorProcessor(index, state, original[name])
                                for name, index in layers.items()}
    if state.self_attention_copy is not None:
        copy = state.self_attention_copy
        replaced.update({name: SelfAttentionCopyProcessor(copy, lambda: state.step, original[name])
                         for name in attention_layers(unet, cross=False)})
    unet.set_attn_processor({name: replaced.get(name, processor) for name, processor in original.items()})
    try:
        yield state
    finally:
        unet.set_attn_processor(dict(original))
