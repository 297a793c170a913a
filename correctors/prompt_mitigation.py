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
from swerve.correctors.generator import (
    DiffusersGenerator,
    build_generator,
    request_seed,
)
from swerve.correctors.protocol import Candidate, CorrectionRequest
from swerve.errors import ConfigurationError, CorrectionError

__all__ = ["MitigatedEmbedding", "PromptMitigationCorrector", "mitigate_prompt_embedding"]


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


class PromptMitigationCorrector:
    """Regenerate from a prompt embedding optimized to lower Wen's memorization signal.

    Args:
        name (`str`): the corrector's name in the policy.
        model_dir (`str`, optional) / generator (`DiffusersGenerator`, optional): exactly one; the model.
        steps, guidance_scale, device, allow_download: generator settings when loading ``model_dir``.
        learning_rate (`float`, defaults to 0.05), max_iterations (`int`, defaults to 10): AdamW budget at attempt 1.
        target (`float`, optional): absolute stopping value of d (model-specific; calibrate per deployment).
        target_ratio (`float`, defaults to 0.8): otherwise stop at ratio ** attempt times the starting d
            (0.8, 0.64, 0.51 over three attempts: the gentlest change that passes is tried first;
            measured on the toy model in docs/correctors.md).
        l2_weight (`float`, defaults to 0.0): weight of ||e_c - e_c0||^2.
    """

    version = "1"

    def __init__(self, name: str = "prompt_mitigation", *, model_dir: str | None = None,
                 generator: DiffusersGenerator | None = None, steps: int = 25, guidance_scale: float = 7.5,
                 device: str | None = None, allow_download: bool = False, learning_rate: float = 0.05,
                 max_iterations: int = 10, target: float | None = None, target_ratio: float = 0.8,
                 l2_weight: float = 0.0):
        if not 0 < target_ratio < 1:
            raise ConfigurationError(f"prompt mitigation target_ratio must be in (0, 1), got {target_ratio}")
        self.name, self.learning_rate, self.max_iterations = name, learning_rate, max_iterations
        self.target, self.target_ratio, self.l2_weight = target, target_ratio, l2_weight
        self.generator = build_generator(model_dir, generator, device=device, allow_download=allow_download,
                                         steps=steps, guidance_scale=guidance_scale)

    def propose(self, request: CorrectionRequest, attempt: int) -> Candidate:
        if attempt < 1:
            raise CorrectionError(f"attempt counts from 1, got {attempt}", event_id=request.request_id, stage="correct")
        gen, seed = self.generator, request_seed(request.request_id, request.seed)
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
