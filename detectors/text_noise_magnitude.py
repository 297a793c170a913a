"""Wen et al. (ICLR 2024): the magnitude of the text-conditional noise prediction.

At denoising step t, classifier-free guidance computes both eps(x_t, c) and
eps(x_t, empty). Memorized prompts pull the prediction hard toward one image, so

    d_t = || eps_theta(x_t, c) - eps_theta(x_t, empty) ||_2        (Wen et al., Eq. 3)

over the whole latent of one sample is large for them. The score of a prompt is d_t
averaged over the chosen first steps and seeds. No guidance scale enters d_t; it
is used only to advance x_t to the next step when more than one step is averaged.
The value is not normalized: thresholds depend on the model, resolution, scheduler
and step count, and must be calibrated per deployment.

eps here is the UNet's output as the pipeline uses it for guidance: the noise for
epsilon-prediction models (SD 1.x), v for v-prediction models (SD 2.x-v, the toy
world). With a zero-terminal-SNR schedule, converting v to noise at the first step
would multiply the difference by alpha_T = 0, so the output itself is what carries
the signal there (at t = T, v = -x0: the difference of the predicted images).

This module is the signal only, as a plain function over a diffusers pipeline. It
must never decide (no threshold here) and never modify the pipeline: the scheduler
is copied, and the weights are only read.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from diffusers.utils.torch_utils import randn_tensor

__all__ = ["TextNoiseInputError", "initial_latents", "text_noise_magnitude"]


class TextNoiseInputError(ValueError):
    """Arguments that cannot produce a score: no prompts, no seeds, or a bad step count."""


def initial_latents(pipeline: Any, seed: int, height: int | None = None, width: int | None = None) -> torch.Tensor:
    """x_T for one seed, drawn exactly as StableDiffusionPipeline draws it from a CPU generator: (1, C, h, w)."""
    scale = pipeline.vae_scale_factor
    height = height or pipeline.unet.config.sample_size * scale
    width = width or pipeline.unet.config.sample_size * scale
    shape = (1, pipeline.unet.config.in_channels, height // scale, width // scale)
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    noise: torch.Tensor = randn_tensor(shape, generator=generator, device=pipeline.device, dtype=pipeline.unet.dtype)
    return noise


def _check_inputs(prompts: Sequence[str], seeds: Sequence[int], num_steps: int, num_inference_steps: int) -> None:
    if not prompts:
        raise TextNoiseInputError("text_noise_magnitude needs at least one prompt")
    if not seeds:
        raise TextNoiseInputError("text_noise_magnitude needs at least one seed")
    if not 1 <= num_steps <= num_inference_steps:
        raise TextNoiseInputError(f"num_steps must be in [1, {num_inference_steps}], got {num_steps}")


@torch.no_grad()
def text_noise_magnitude(pipeline: Any, prompts: Sequence[str], seeds: Sequence[int], num_steps: int = 1,
                         num_inference_steps: int = 25, guidance_scale: float = 7.5) -> np.ndarray:
    """Wen's score of each prompt: d_t averaged over the first num_steps steps and all seeds.

    Args:
        pipeline: a loaded StableDiffusionPipeline (its unet, text encoder, tokenizer and scheduler are used).
        prompts: the prompts to score.
        seeds: initial-noise seeds; each prompt is scored with every seed.
        num_steps: how many first denoising steps to average over (1 = first step only).
        num_inference_steps: the sampler's step count, which fixes the timesteps visited.
        guidance_scale: used only to move x_t along the sampling trajectory between averaged steps.
    Returns:
        (len(prompts),) float64 array of mean ||eps(x_t, c) - eps(x_t, empty)||_2.
    """
    _check_inputs(prompts, seeds, num_steps, num_inference_steps)
    device = pipeline.device
    scheduler = pipeline.scheduler.__class__.from_config(pipeline.scheduler.config)
    scores = np.zeros(len(prompts), dtype=np.float64)
    x_seeds = torch.cat([initial_latents(pipeline, seed) for seed in seeds])  # (seeds, C, h, w)
    for index, prompt in enumerate(prompts):
        # 1. text embeddings for [uncond, cond], one row per seed
        cond, uncond = pipeline.encode_prompt(prompt, device, len(seeds), True, negative_prompt=None)
        embeddings = torch.cat([uncond, cond])  # (2 * seeds, tokens, width)
        # 2. x_T for every seed, on the sampler's own timesteps
        scheduler.set_timesteps(num_inference_steps, device=device)
        latents = x_seeds * scheduler.init_noise_sigma  # (seeds, C, h, w)
        total = torch.zeros(len(seeds), dtype=torch.float64, device=device)
        for t in scheduler.timesteps[:num_steps]:
            # 3. both branches in one UNet call, as CFG does
            model_input = scheduler.scale_model_input(torch.cat([latents, latents]), t)
            eps = pipeline.unet(model_input, t, encoder_hidden_states=embeddings).sample
            eps_uncond, eps_text = eps.chunk(2)  # (seeds, C, h, w) each
            # 4. d_t per sample, over the whole latent
            total += (eps_text - eps_uncond).float().flatten(1).norm(dim=1).double()
            # 5. advance x_t with ordinary guidance, so later steps see the usual trajectory
            guided = eps_uncond + guidance_scale * (eps_text - eps_uncond)
            latents = scheduler.step(guided, t, latents).prev_sample
        scores[index] = float((total / num_steps).mean().item())
    return scores
