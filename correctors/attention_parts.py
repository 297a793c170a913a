"""What swerve's explicit-probability attention processors share with diffusers' ``AttnProcessor``:
the refusal of features they do not handle, the (B, C, H, W) -> (B, N, C) reshape, and the output
projection, reshape back, residual and rescale. This module must stay free of any method's logic."""

from __future__ import annotations

from typing import Any

import torch
from diffusers.models.attention_processor import Attention
from swerve.errors import CorrectionError

__all__ = ["as_tokens", "attention_layers", "attention_output", "require_plain_attention"]


def attention_layers(unet: Any, cross: bool) -> list[str]:
    """Processor names of the UNet's cross-attention (``cross``) or self-attention layers, in module order."""
    return [f"{name}.processor" for name, module in unet.named_modules()
            if isinstance(module, Attention) and module.is_cross_attention == cross]


def require_plain_attention(attn: Attention, attention_mask: torch.Tensor | None, who: str) -> None:
    """Refuse masks, spatial norm and group norm, which these processors do not implement."""
    if attention_mask is not None or attn.spatial_norm is not None or attn.group_norm is not None:
        raise CorrectionError(f"{who} needs plain attention (no mask, no spatial/group norm)")


def as_tokens(hidden_states: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H*W, C); (B, N, C) unchanged."""
    if hidden_states.ndim != 4:
        return hidden_states
    batch, channels, height, width = hidden_states.shape
    return hidden_states.view(batch, channels, height * width).transpose(1, 2)


def attention_output(attn: Attention, heads_out: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """The layer's output from the per-head result (B*H, N, d), shaped like ``residual`` (the layer's input)."""
    out = attn.to_out[1](attn.to_out[0](attn.batch_to_head_dim(heads_out)))  # (B, N, C)
    if residual.ndim == 4:
        out = out.transpose(-1, -2).reshape(residual.shape)
    if attn.residual_connection:
        out = out + residual
    result: torch.Tensor = out / attn.rescale_output_factor
    return result
