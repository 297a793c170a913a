"""Baseline: delayed guidance (Jain et al., CVPR 2025). CFG inside the attraction basin causes
memorization, so guide with ~0 until the trajectory has left it, then use normal CFG.

The memorization signal is Wen's d_t = ||eps(x_t, c) - eps(x_t, empty)|| per sample, which CFG
computes anyway, so the method costs nothing extra. A sample switches to normal guidance after
d_t's first local minimum (the first step where d_t rises), or at a fixed step; never before
``earliest`` and never after ``latest``. Each further attempt shifts both by ``escalation_steps``.

Why not ``callback_on_step_end``: diffusers' own SDCFGCutoffCallback does change
``pipeline._guidance_scale``, but a scale <= 1 turns CFG off inside the loop (the batch halves and
eps(x_t, c) is no longer computed), so the signal this method reads would vanish. Instead this
module runs the loop with the pipeline's own components (its text encoding, a copy of its
scheduler, its UNet and VAE, and its step kwargs), with the per-sample guidance computed where CFG
combines the branches. With no delay it reproduces the pipeline's output exactly (tested). It
must never patch the pipeline or judge its own output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image
from swerve.correctors.generator import (
    DiffusersGenerator,
    build_generator,
    request_seed,
)
from swerve.correctors.protocol import Candidate, CorrectionRequest
from swerve.errors import ConfigurationError, CorrectionError

__all__ = ["DelayedGuidanceCorrector", "delayed_guidance_sample"]


@torch.no_grad()
def delayed_guidance_sample(generator: DiffusersGenerator, prompts: Sequence[str], seeds: Sequence[int], *,
                            delayed_scale: float = 0.0, earliest: int = 0, latest: int = 10,
                            at_minimum: bool = True, negative_prompt: str | None = None,
                            ) -> tuple[list[Image.Image], list[int], list[list[float]]]:
    """Sample with guidance ``delayed_scale`` until each sample's switch step, then the generator's scale.

    Returns the images, each sample's switch step, and d_t per step and sample.
    """
    pipe, unet, batch = generator.pipeline, generator.pipeline.unet, len(prompts)
    with generator.lock:
        # 1. text embeddings [uncond, cond] and x_T, exactly as the pipeline prepares them
        cond, uncond = generator.encode(prompts, negative_prompt)
        embeds = torch.cat([uncond, cond])  # (2B, tokens, width)
        scheduler = pipe.scheduler.__class__.from_config(pipe.scheduler.config)
        scheduler.set_timesteps(generator.steps, device=generator.device)
        latents = generator.initial_latents(seeds) * scheduler.init_noise_sigma  # (B, C, h, w)
        step_kwargs = pipe.prepare_extra_step_kwargs([torch.Generator("cpu").manual_seed(int(s)) for s in seeds], 0.0)
        switched = torch.full((batch,), -1, dtype=torch.long)
        previous: torch.Tensor | None = None
        history: list[list[float]] = []
        for i, t in enumerate(scheduler.timesteps):
            # 2. both branches in one UNet call, as CFG does
            model_input = scheduler.scale_model_input(torch.cat([latents] * 2), t)
            eps_uncond, eps_text = unet(model_input, t, encoder_hidden_states=embeds).sample.chunk(2)  # (B, C, h, w)
            # 3. d_t per sample (Wen Eq. 3); it rose, so the previous step was its first local minimum
            d = (eps_text - eps_uncond).float().flatten(1).norm(dim=1).cpu()  # (B,)
            rose = d > previous if previous is not None else torch.zeros(batch, dtype=torch.bool)
            due = (rose & at_minimum) | torch.tensor(i >= latest)
            switched[(switched < 0) & due & torch.tensor(i >= earliest)] = i
            # 4. guidance per sample: delayed until switched, then the generator's own scale
            scale = torch.where(switched >= 0, generator.guidance_scale, delayed_scale)
            scale = scale.to(eps_text.device, eps_text.dtype).view(-1, 1, 1, 1)
            latents = scheduler.step(eps_uncond + scale * (eps_text - eps_uncond), t, latents, **step_kwargs).prev_sample
            previous = d
            history.append([round(float(v), 4) for v in d])
        return generator.decode(latents), switched.tolist(), [list(col) for col in zip(*history)]


class DelayedGuidanceCorrector:
    """Regenerate the same prompt and seed with guidance delayed past the attraction basin.

    Args:
        name (`str`): the corrector's name in the policy.
        model_dir (`str`, optional) / generator (`DiffusersGenerator`, optional): exactly one; the model.
        **generation: ``GenerationSettings`` when loading ``model_dir`` (steps, guidance_scale, scheduler, size, dtype, device, ...).
        delayed_scale (`float`, defaults to 0.0): guidance before the switch (0: unconditional).
        at_minimum (`bool`, defaults to True): switch after d_t's first local minimum; else at ``latest``.
        earliest (`int`, defaults to 1), latest (`int`, defaults to 10): bounds on the switch step at attempt 1.
        escalation_steps (`int`, defaults to 2): both bounds move this many steps later per further attempt.
    """

    version = "1"

    def __init__(self, name: str = "delayed_guidance", *, model_dir: str | None = None,
                 generator: DiffusersGenerator | None = None, delayed_scale: float = 0.0,
                 at_minimum: bool = True, earliest: int = 1, latest: int = 10, escalation_steps: int = 2, **generation: Any):
        if not 0 <= earliest <= latest or escalation_steps < 0:
            raise ConfigurationError(f"delayed guidance needs 0 <= earliest <= latest and escalation_steps >= 0, "
                                     f"got {earliest}, {latest}, {escalation_steps}")
        self.name, self.delayed_scale, self.at_minimum = name, delayed_scale, at_minimum
        self.earliest, self.latest, self.escalation_steps = earliest, latest, escalation_steps
        self.generator = build_generator(model_dir, generator, **generation)

    def propose(self, request: CorrectionRequest, attempt: int) -> Candidate:
        if attempt < 1:
            raise CorrectionError(f"attempt counts from 1, got {attempt}", event_id=request.request_id, stage="correct")
        seed, shift = request_seed(request.request_id, request.seed), self.escalation_steps * (attempt - 1)
        generator = self.generator.sized_for(request.image)
        images, switched, signal = delayed_guidance_sample(
            generator, [request.prompt], [seed], delayed_scale=self.delayed_scale, earliest=self.earliest + shift,
            latest=self.latest + shift, at_minimum=self.at_minimum, negative_prompt=request.negative_prompt)
        parameters: dict[str, Any] = {
            **generator.record(), "seed": seed, "attempt": attempt, "delayed_scale": self.delayed_scale,
            "earliest": self.earliest + shift, "latest": self.latest + shift, "at_minimum": self.at_minimum,
            "switch_step": switched[0], "signal": signal[0],
        }
        return Candidate(image=images[0], method="delayed_guidance", parameters=parameters)
