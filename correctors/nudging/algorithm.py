"""Embedding nudging (Zand & Nasr, the seed paper): push a latent away from undesired images and
pull it toward desired ones, staying near where it started (their Eq. 2):

    L* = argmin_L  - alpha * mean_{D in I_D} cos(D, L)  +  beta * mean_{U in I_U} cos(U, L)  +  |L - L0|

L0 is the original latent, I_U the latents of undesired images (push points), I_D those of desired
ones (pull points); the method is gradient descent on L. The paper leaves open which latent, which
optimizer and how many steps: here they are settings (``NudgingSettings``):

- ``target="initial"``: L is the initial noise x_T (no extra model call).
- ``target="steps"``: L is the pipeline's own latent x_t after the chosen denoising steps.
- ``target="x0"``: L is the predicted clean latent x0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t) after
  the chosen steps (sqrt(a_t) x_t - sqrt(1 - a_t) v for v-prediction; one extra guided UNet call per
  chosen step); x_t moves by sqrt(a_t) (x0* - x0), the noise part held fixed.
- ``target="prompt"``: L is the conditional prompt embedding e_c (the text encoder's hidden states,
  (1, tokens, width)); I_U are the same encoder's embeddings of the matched images' captions, I_D
  those of desired prompts (``PromptNudge``).

``steps`` and ``x0`` run in diffusers' ``callback_on_step_end``. Our reading of |L - L0|: the L2 distance
relative to ||L0||, so alpha, beta and the distance are unitless. Gradient descent is projected
onto the sphere ||L|| = ||L0||: cosine ignores scale, so unprojected descent shrinks L toward 0 and
lets U's direction take over, replacing L0 instead of nudging it (we saw cos(U, L) reach -0.996).
On the sphere, L0 moves (from cos(U, L0) = c) only when beta * sqrt(1 - c^2) > 1; but once it moves,
the linear distance term cannot stop it short of nearly -U (an x0 flipped to the negative image:
tiny-CLIP score 0.86 -> 0.72-0.78 on a mid-training toy checkpoint at beta 4). So the projection also keeps L within a
trust radius ``max_distance`` * ||L0|| of L0 (0.5, i.e. 29 degrees; escalation grows it up to
sqrt(2), i.e. 90 degrees).

The prompt target holds the start-of-text row of e_c fixed (``SOT_ROWS``) and takes Eq. 2, the
sphere and the trust radius over the other rows (padding rows included: they attend to the whole
prompt). Under causal attention the SOT row is the same for every prompt and carries no content
(why Wen et al. zero its gradient), yet every image attends to it: moving it would shift every
image, and, shared by L and U, it would only inflate their cosine. Two limits follow from the
sphere: a push cannot move e_c off a caption it equals (cos(U, L0) = 1 is stationary; only pull
prompts move it then), and different prompts' embeddings are close (cos 0.95-0.98 in the tiny test
encoder), so the push needs a larger beta than for latents (beta > 3.2 at cos 0.95).

This module holds the mathematics only: it must never load models, decide success, or
change the pipeline's weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import torch
from swerve.errors import ConfigurationError

__all__ = ["MAX_DISTANCE", "NUDGE_TARGETS", "SOT_ROWS", "LatentNudge", "NudgingSettings", "PromptNudge", "nudge",
           "nudging_objective", "predicted_x0"]

NUDGE_TARGETS = ("initial", "steps", "x0", "prompt")
MAX_DISTANCE = 2**0.5  # chord sqrt(2) ||L0||: 90 degrees from L0 on the sphere, the most any attempt moves
SOT_ROWS = 1  # leading rows of e_c the prompt target holds fixed: the start-of-text token


@dataclass(frozen=True)
class NudgingSettings:
    """Where and how hard to nudge (see the module docstring for the targets)."""

    target: str = "initial"  # preliminary toy-world comparison: docs/correctors.md
    alpha: float = 1.0  # pull weight on I_D
    beta: float = 2.0  # push weight on I_U (moves L only when beta * sqrt(1 - cos(U, L0)^2) > 1)
    iterations: int = 20  # gradient-descent steps on L
    learning_rate: float = 0.1  # in units of ||L0||
    at_steps: tuple[int, ...] = (0,)  # denoising step indices after which to nudge (targets steps, x0)
    max_distance: float = 0.5  # trust radius: ||L - L0|| <= max_distance * ||L0|| (chord on the sphere)

    def check(self) -> None:
        if self.target not in NUDGE_TARGETS:
            raise ConfigurationError(f"nudging target must be one of {NUDGE_TARGETS}, got {self.target!r}")
        if self.alpha < 0 or self.beta < 0 or self.iterations < 1 or self.learning_rate <= 0 \
                or not 0 < self.max_distance <= MAX_DISTANCE:
            raise ConfigurationError("nudging needs alpha, beta >= 0, iterations >= 1, learning_rate > 0, "
                                     f"0 < max_distance <= {MAX_DISTANCE}; got {self}")
        if self.target in ("steps", "x0") and (not self.at_steps or min(self.at_steps) < 0):
            raise ConfigurationError(f"nudging at_steps must be non-empty step indices >= 0, got {self.at_steps}")

    def stronger(self, factor: float) -> NudgingSettings:
        """Escalation: beta and the trust radius grow by ``factor`` (the radius up to MAX_DISTANCE)."""
        return replace(self, beta=self.beta * factor, max_distance=min(self.max_distance * factor, MAX_DISTANCE))


def _mean_cos(points: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
    """mean_{P in points} cos(P, L) per sample: points (n, ...), latent (B, ...) of the same shape -> (B,)."""
    if points.shape[0] == 0:
        return latent.new_zeros(latent.shape[0])
    p = torch.nn.functional.normalize(points.flatten(1), dim=1)  # (n, C*h*w) or (n, tokens*width)
    q = torch.nn.functional.normalize(latent.flatten(1), dim=1)  # (B, C*h*w) or (B, tokens*width)
    mean: torch.Tensor = (q @ p.T).mean(dim=1)
    return mean


def nudging_objective(latent: torch.Tensor, origin: torch.Tensor, push: torch.Tensor, pull: torch.Tensor,
                      alpha: float, beta: float) -> torch.Tensor:
    """Eq. 2 per sample: (B,). The distance |L - L0| is relative to ||L0||."""
    distance = (latent - origin).flatten(1).pow(2).sum(1).add(1e-12).sqrt() / origin.flatten(1).norm(dim=1)
    objective: torch.Tensor = -alpha * _mean_cos(pull, latent) + beta * _mean_cos(push, latent) + distance
    return objective


def _project(latent: torch.Tensor, origin: torch.Tensor, max_distance: float) -> torch.Tensor:
    """Onto the sphere ||L|| = ||L0||, then along the great circle to within ``max_distance`` (chord) of L0."""
    radius = origin.flatten(1).norm(dim=1, keepdim=True)  # (B, 1)
    u0 = origin.flatten(1) / radius  # (B, n) unit
    u = torch.nn.functional.normalize(latent.flatten(1), dim=1)  # (B, n) unit
    cos = (u * u0).sum(1, keepdim=True)  # (B, 1)
    normal = u - cos * u0  # (B, n), orthogonal to u0
    sin = normal.norm(dim=1, keepdim=True)  # (B, 1)
    angle = torch.atan2(sin, cos)  # (B, 1); atan2, not acos, stays exact near 0
    limit = 2 * math.asin(max_distance / 2)  # the angle whose chord is max_distance
    clamped = math.cos(limit) * u0 + math.sin(limit) * normal / sin.clamp_min(1e-12)  # (B, n)
    projected: torch.Tensor = (radius * torch.where(angle > limit, clamped, u)).view_as(origin)
    return projected


def nudge(origin: torch.Tensor, push: torch.Tensor, pull: torch.Tensor, alpha: float, beta: float,
          iterations: int, learning_rate: float, max_distance: float = MAX_DISTANCE) -> torch.Tensor:
    """Minimize Eq. 2 over L by projected proximal gradient descent, from L = L0; samples are independent.

    Args:
        origin: L0, (B, C, h, w) for a latent, (B, tokens, width) for a prompt embedding.
        push: undesired points I_U, (nU, ...) shaped as one sample of ``origin``.
        pull: desired points I_D, (nD, ...) likewise; may be empty.
        max_distance: trust radius, relative to ||L0|| (at most 2, the sphere's diameter).
    Returns:
        L*, shaped as ``origin``, in its dtype.
    """
    l0 = origin.detach().float()  # (B, ...)
    per_sample = (-1,) + (1,) * (l0.dim() - 1)  # broadcasts a (B,) quantity over one sample
    scale = l0.flatten(1).norm(dim=1).view(per_sample)  # ||L0||, (B, 1, ...)
    delta = torch.zeros_like(l0, requires_grad=True)  # (L - L0) / ||L0||
    for _ in range(iterations):
        # 1. gradient step on the smooth part: -alpha mean cos(D, L) + beta mean cos(U, L)
        with torch.enable_grad():
            latent = l0 + scale * delta
            smooth = -alpha * _mean_cos(pull.float(), latent) + beta * _mean_cos(push.float(), latent)
            (grad,) = torch.autograd.grad(smooth.sum(), [delta])
        with torch.no_grad():
            step = delta - learning_rate * grad  # (B, ...)
            # 2. proximal step on |L - L0| (block soft-threshold): exactly 0 while the push is too weak,
            #    where a plain subgradient on the norm would chatter around L0 by ~learning_rate
            norm = step.flatten(1).norm(dim=1).view(per_sample)
            step = step * (1 - learning_rate / norm.clamp_min(1e-12)).clamp_min(0.0)
            # 3. back onto the sphere ||L|| = ||L0||, within the trust radius
            delta.copy_((_project(l0 + scale * step, l0, max_distance) - l0) / scale)
    moved: torch.Tensor = (l0 + scale * delta.detach()).to(origin.dtype)
    return moved


def check_x0_scheduler(scheduler: Any) -> None:
    """Nudging at x0 reads x0 from x_t with alpha-bar: the scheduler must be variance preserving
    (DDIM, PNDM, DDPM, DPM-Solver), not sigma-scaled like Euler's."""
    if not hasattr(scheduler, "alphas_cumprod") or float(scheduler.init_noise_sigma) != 1.0:
        raise ConfigurationError(f"nudging target x0 needs a variance-preserving scheduler (DDIM, PNDM, DPM-Solver), "
                                 f"got {type(scheduler).__name__}")


def predicted_x0(prediction_type: str, output: torch.Tensor, x_t: torch.Tensor, a_t: torch.Tensor) -> torch.Tensor:
    """x0 from the model output at x_t (B, C, h, w), for the scheduler's parametrization."""
    if prediction_type == "epsilon":
        x0: torch.Tensor = (x_t - (1 - a_t).sqrt() * output) / a_t.sqrt()
    elif prediction_type == "v_prediction":
        x0 = a_t.sqrt() * x_t - (1 - a_t).sqrt() * output
    elif prediction_type == "sample":
        x0 = output
    else:
        raise ConfigurationError(f"nudging target x0 cannot read prediction_type {prediction_type!r}")
    return x0


class LatentNudge:
    """``callback_on_step_end`` that nudges x_t (target ``steps``) or the predicted x0 (target ``x0``).

    Needs ``callback_inputs=("latents", "prompt_embeds")`` for the x0 target. ``applied`` records,
    per nudge, the step and the mean cos(U, L) before and after.
    """

    def __init__(self, settings: NudgingSettings, push: torch.Tensor, pull: torch.Tensor):
        settings.check()
        self.settings, self.push, self.pull = settings, push, pull
        self.applied: list[dict[str, float]] = []

    def apply(self, latent: torch.Tensor, step: int) -> torch.Tensor:
        """Nudge one latent (B, C, h, w) by Eq. 2 and record the effect; ``step`` labels the record."""
        s = self.settings
        moved = nudge(latent, self.push, self.pull, s.alpha, s.beta, s.iterations, s.learning_rate, s.max_distance)
        before, after = (_mean_cos(self.push.float(), x.float()).mean().item() for x in (latent, moved))
        self.applied.append({"step": step, "cos_push_before": round(before, 4), "cos_push_after": round(after, 4)})
        return moved

    @torch.no_grad()
    def __call__(self, pipeline: Any, step: int, timestep: Any, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if step not in self.settings.at_steps:
            return tensors
        x_t = tensors["latents"]  # (B, C, h, w): the latent the next step starts from
        if self.settings.target == "steps":
            tensors["latents"] = self.apply(x_t, step)
            return tensors
        scheduler = pipeline.scheduler
        check_x0_scheduler(scheduler)
        timesteps = scheduler.timesteps
        if step + 1 >= len(timesteps):  # after the last step x_t is already the clean latent
            tensors["latents"] = self.apply(x_t, step)
            return tensors
        t = timesteps[step + 1]
        # 1. the model's output at x_t with the pipeline's own guidance, at the timestep x_t belongs to
        cfg = pipeline.do_classifier_free_guidance
        model_input = scheduler.scale_model_input(torch.cat([x_t] * 2) if cfg else x_t, t)
        output = pipeline.unet(model_input, t, encoder_hidden_states=tensors["prompt_embeds"]).sample
        if cfg:
            out_uncond, out_text = output.chunk(2)  # (B, C, h, w) each
            output = out_uncond + pipeline.guidance_scale * (out_text - out_uncond)
        # 2. predicted x0, nudged, and x_t moved by the same change: x_t = sqrt(a) x0 + sqrt(1 - a) eps
        a_t = scheduler.alphas_cumprod[int(t)].to(x_t.device, torch.float32)
        x0 = predicted_x0(scheduler.config.prediction_type, output.float(), x_t.float(), a_t)  # (B, C, h, w)
        moved = self.apply(x0, step).float()
        tensors["latents"] = (x_t.float() + a_t.sqrt() * (moved - x0)).to(x_t.dtype)
        return tensors


class PromptNudge:
    """Eq. 2 on the conditional prompt embedding e_c (target ``prompt``), the start-of-text row held fixed.

    ``push`` holds the text embeddings of the matched captions I_U (nU, tokens, width), ``pull`` those of
    the desired prompts I_D (nD, tokens, width), possibly none. ``applied`` records, per nudge, the mean
    cos(U, L) before and after and the distance |L - L0| / ||L0||, all over the rows that move.
    """

    def __init__(self, settings: NudgingSettings, push: torch.Tensor, pull: torch.Tensor):
        settings.check()
        if settings.target != "prompt":
            raise ConfigurationError(f"PromptNudge nudges the prompt embedding, not target {settings.target!r}")
        self.settings = settings
        self.push, self.pull = push[:, SOT_ROWS:], pull[:, SOT_ROWS:]  # (nU, tokens - 1, width), (nD, ...)
        self.applied: list[dict[str, float]] = []

    @torch.no_grad()
    def cos_push(self, e_c: torch.Tensor) -> float:
        """mean cos(U, L) over the moving rows of e_c (B, tokens, width), averaged over the batch."""
        return float(_mean_cos(self.push.float(), e_c[:, SOT_ROWS:].float()).mean())

    @torch.no_grad()
    def apply(self, e_c: torch.Tensor) -> torch.Tensor:
        """Nudge e_c (B, tokens, width) by Eq. 2, leaving its SOT row as it is, and record the effect."""
        s = self.settings
        fixed, content = e_c[:, :SOT_ROWS], e_c[:, SOT_ROWS:]  # (B, 1, width), (B, tokens - 1, width)
        moved = nudge(content, self.push, self.pull, s.alpha, s.beta, s.iterations, s.learning_rate, s.max_distance)
        before, after = (float(_mean_cos(self.push.float(), x.float()).mean()) for x in (content, moved))
        distance = (moved.float() - content.float()).flatten(1).norm(dim=1) / content.float().flatten(1).norm(dim=1)
        self.applied.append({"cos_push_before": round(before, 4), "cos_push_after": round(after, 4),
                             "distance": round(float(distance.mean()), 4)})
        return torch.cat([fixed, moved], dim=1)
