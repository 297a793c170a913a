"""Wen et al. (ICLR 2024) as a detector: is this prompt memorized by the generator?

The score is the text-conditional noise magnitude d = ||eps(x_t, c) - eps(x_t, empty)||_2
(``detectors/text_noise_magnitude.py``), averaged over the first ``num_steps`` steps and the
given seeds. It needs only the prompt, so it runs before generation on ``swerve.prompts``
(prompt screening), or beside the image detectors on ``swerve.generations``.

``explain`` attributes the score to tokens: the L2 norm of d/d(token embedding) for each token
of the prompt (Wen et al., Sec. 4.3), so an operator can see which words drive memorization.

The generator is loaded from a local diffusers directory only. This module never decides
what a flag means (the policy does) and never modifies the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import Any, Sequence

import torch

from swerve.detectors.protocol import Sample, Score
from swerve.detectors.text_noise_magnitude import initial_latents, text_noise_magnitude
from swerve.errors import ModelNotFoundError


@dataclass(frozen=True)
class TokenAttribution:
    """How much one token drives the memorization score."""

    token: str
    position: int
    gradient_norm: float


def load_local_pipeline(model_dir: str | Path, device: str | None = None) -> Any:
    """A StableDiffusionPipeline from a local directory (never a hub), CUDA fp16 when available."""
    from diffusers import StableDiffusionPipeline

    path = Path(model_dir)
    if not (path / "model_index.json").exists():
        raise ModelNotFoundError(f"no diffusers pipeline at {path} (model_index.json missing)")
    resolved = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = torch.float16 if resolved.type == "cuda" else torch.float32
    pipeline = StableDiffusionPipeline.from_pretrained(
        str(path), safety_checker=None, requires_safety_checker=False, torch_dtype=dtype, local_files_only=True
    )
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(resolved)


class PromptMemorizationDetector:
    """Flags prompts whose text-conditional noise magnitude reaches ``threshold``.

    Args:
        name: the detector's name in the policy.
        model_dir: local diffusers directory of the generator being moderated.
        threshold: calibrated per deployment (``swerve calibrate``); the score is unnormalized.
        seeds: seeds averaged over; a sample's own seed is used when it has one.
        num_steps: first denoising steps averaged over (1 = the cheap first-step signal).
        num_inference_steps: the sampler's step count (fixes the timesteps visited).
        device: torch device; CUDA when available by default.
        pipeline: an already loaded pipeline (tests, or sharing with a corrector).
    """

    def __init__(
        self,
        name: str = "prompt_memorization",
        model_dir: str | None = None,
        threshold: float = 1.0,
        seeds: Sequence[int] = (0,),
        num_steps: int = 1,
        num_inference_steps: int = 25,
        device: str | None = None,
        pipeline: Any = None,
    ):
        if pipeline is None and model_dir is None:
            raise ModelNotFoundError(f"{name}: set model_dir to the generator's local diffusers directory")
        self.name = name
        self.threshold = float(threshold)
        self.seeds = tuple(int(s) for s in seeds)
        self.num_steps = num_steps
        self.num_inference_steps = num_inference_steps
        self.pipeline = pipeline if pipeline is not None else load_local_pipeline(model_dir, device)  # type: ignore[arg-type]
        self.version = f"wen-1+steps{num_steps}+{Path(model_dir).name if model_dir else 'in-memory'}"
        self._lock = Lock()

    def magnitudes(self, prompts: Sequence[str], seeds: Sequence[int] | None = None) -> list[float]:
        """The raw score of each prompt."""
        with self._lock:
            values = text_noise_magnitude(
                self.pipeline, list(prompts), list(seeds or self.seeds), self.num_steps, self.num_inference_steps
            )
        return [float(v) for v in values]

    def score(self, batch: Sequence[Sample]) -> list[Score]:
        scores = []
        for sample in batch:
            seeds = [sample.seed] if sample.seed is not None else list(self.seeds)
            [value] = self.magnitudes([sample.prompt], seeds)
            scores.append(
                Score(
                    value=value,
                    flagged=value >= self.threshold,
                    threshold=self.threshold,
                    evidence={"signal": "text_conditional_noise_magnitude", "seeds": seeds, "num_steps": self.num_steps},
                )
            )
        return scores

    def explain(self, prompt: str, seed: int | None = None) -> list[TokenAttribution]:
        """Per-token attribution of the first-step score: ||d score / d e_token||_2 for each prompt token."""
        pipeline = self.pipeline
        device = pipeline.device
        with self._lock, torch.enable_grad():
            # 1. embeddings: the conditional one is the variable, the empty one is fixed
            cond, uncond = pipeline.encode_prompt(prompt, device, 1, True, negative_prompt=None)
            cond = cond.detach().clone().requires_grad_(True)  # (1, tokens, width)
            # 2. x_T at the first timestep, as the pipeline draws it
            scheduler = pipeline.scheduler.__class__.from_config(pipeline.scheduler.config)
            scheduler.set_timesteps(self.num_inference_steps, device=device)
            t = scheduler.timesteps[0]
            latents = initial_latents(pipeline, self.seeds[0] if seed is None else seed) * scheduler.init_noise_sigma
            model_input = scheduler.scale_model_input(torch.cat([latents, latents]), t)
            # 3. d = ||eps(x_T, c) - eps(x_T, empty)|| and its gradient with respect to each token
            eps = pipeline.unet(model_input, t, encoder_hidden_states=torch.cat([uncond.detach(), cond])).sample
            eps_uncond, eps_text = eps.chunk(2)
            (eps_text - eps_uncond).float().flatten(1).norm(dim=1).sum().backward()
        assert cond.grad is not None
        norms = cond.grad[0].float().norm(dim=-1)  # (tokens,)
        ids = pipeline.tokenizer(prompt, truncation=True, max_length=pipeline.tokenizer.model_max_length)["input_ids"]
        tokens = pipeline.tokenizer.convert_ids_to_tokens(ids)
        # SOT (position 0) carries no prompt content and Wen et al. exclude it; EOT is the last id.
        return [TokenAttribution(token, position, float(norms[position])) for position, token in enumerate(tokens) if 0 < position < len(ids) - 1]
