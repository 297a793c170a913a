"""Wen et al. (ICLR 2024), inference-time mitigation: lower the text-conditional noise magnitude.

    d(e_c) = || eps_theta(x_T, e_c) - eps_theta(x_T, e_empty) ||_2                    (Wen et al., Eq. 3)

At step 0, the conditional prompt embedding e_c is optimized to lower d, then the image is
generated with the same seed from the optimized ``prompt_embeds``:

1. AdamW on e_c, lr ~0.05, at most ~10 iterations, stopping once d <= target;
2. the gradient on the start-of-text token is zeroed (SOT carries no prompt content);
3. an optional L2 term l2_weight * ||e_c - e_c0||^2 keeps e_c near the original.

Wen's code takes the norm over the whole batch, so its target depends on the batch size; here d
and the stopping rule are per sample. The target is absolute (``target``) or relative to the
sample's starting d (``target_ratio``); attempt k stops at ratio ** k times the starting d and
allows k times the iterations. This module must never judge its own output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from swerve.correctors.generator import DiffusersGenerator
from swerve.errors import ConfigurationError

__all__ = ["MitigatedEmbedding", "mitigate_prompt_embedding"]


@dataclass(frozen=True)
class MitigatedEmbedding:
    """The optimized e_c (B, tokens, width) and, per sample, d before and after and the iterations used."""

    prompt_embeds: torch.Tensor
    magnitude_before: list[float]
    magnitude_after: list[float]
    iterations: list[int]


def _magnitude(unet: Any, x: torch.Tensor, t: Any, e_c: torch.Tensor, eps_empty: torch.Tensor) -> torch.Tensor:
    """d per sample: (B,)."""
    eps_text: torch.Tensor = unet(x, t, encoder_hidden_states=e_c).sample  # (B, C, h, w)
    magnitude: torch.Tensor = (eps_text - eps_empty).float().flatten(1).norm(dim=1)
    return magnitude


def mitigate_prompt_embedding(generator: DiffusersGenerator, cond: torch.Tensor, x_t: torch.Tensor,
                              learning_rate: float = 0.05, max_iterations: int = 10, target: float | None = None,
                              target_ratio: float | None = 0.5, l2_weight: float = 0.0) -> MitigatedEmbedding:
    """Optimize each sample's e_c (B, tokens, width) at x_T (B, C, h, w) to lower d, independently."""
    if learning_rate <= 0 or max_iterations < 1 or l2_weight < 0 or (target_ratio is not None and target_ratio <= 0):
        raise ConfigurationError("prompt mitigation needs learning_rate > 0, max_iterations >= 1, l2_weight >= 0, "
                                 "target_ratio > 0")
    pipeline, unet = generator.pipeline, generator.pipeline.unet
    scheduler = pipeline.scheduler.__class__.from_config(pipeline.scheduler.config)
    scheduler.set_timesteps(generator.steps, device=generator.device)
    t = scheduler.timesteps[0]
    x = scheduler.scale_model_input(x_t * scheduler.init_noise_sigma, t)  # (B, C, h, w)
    empty, _ = generator.encode([""] * len(cond))  # e_empty, (B, tokens, width)
    with torch.no_grad():
        eps_empty = unet(x, t, encoder_hidden_states=empty).sample  # (B, C, h, w)
    optimized, before, after, used = [], [], [], []
    for b in range(len(cond)):
        # 1. one sample at a time, so d and its target never depend on the batch
        e0 = cond[b:b + 1].detach().float()  # (1, tokens, width)
        e_c = e0.clone().requires_grad_(True)
        optimizer = torch.optim.AdamW([e_c], lr=learning_rate, weight_decay=0.0)  # decay would move SOT too
        d0, stop, iterations = 0.0, 0.0, 0
        while True:
            with torch.enable_grad():
                magnitude = _magnitude(unet, x[b:b + 1], t, e_c.to(cond.dtype), eps_empty[b:b + 1])[0]
            d = float(magnitude.detach())
            if iterations == 0:
                d0 = d
                stop = target if target is not None else (d0 * target_ratio if target_ratio is not None else 0.0)
            if d <= stop or iterations == max_iterations:
                break
            with torch.enable_grad():
                loss = magnitude + l2_weight * (e_c - e0).pow(2).sum()
                (grad,) = torch.autograd.grad(loss, [e_c])  # no parameter gradients are kept
            grad[:, 0] = 0.0  # 2. the SOT token is left as it is
            e_c.grad = grad
            optimizer.step()
            iterations += 1
        optimized.append(e_c.detach().to(cond.dtype))
        before.append(round(d0, 4))
        after.append(round(d, 4))
        used.append(iterations)
    return MitigatedEmbedding(torch.cat(optimized), before, after, used)
