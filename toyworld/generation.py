"""Load the toy world's StableDiffusionPipeline from its local directory and generate images.

The pipeline loads with `StableDiffusionPipeline.from_pretrained(dir, safety_checker=None)`,
the same call that loads a local SD 1.x directory. Initial noise always comes from a CPU
generator, so a (prompt, seed) pair gives the same image on CPU and GPU up to numerics.
This module must never fetch weights from a hub.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline
from diffusers.utils import logging as diffusers_logging
from PIL import Image

from swerve.toyworld.weights_paths import PIPELINE_DIR, require

DEFAULT_STEPS = 25
DEFAULT_GUIDANCE_SCALE = 3.0  # measured: shapes read right more often than at 2.0, copies kept (docs/toyworld.md)


def pick_device(device: str | torch.device | None = None) -> tuple[torch.device, torch.dtype]:
    """CUDA in fp16 when available, else CPU in fp32 (an explicit device overrides)."""
    resolved = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return resolved, (torch.float16 if resolved.type == "cuda" else torch.float32)


def load_pipeline(device: str | torch.device | None = None, directory: Path | str | None = None) -> StableDiffusionPipeline:
    """The toy world's pipeline (or the pipeline at `directory`), on `device`, without a safety checker."""
    path = require(Path(directory) if directory is not None else PIPELINE_DIR)
    resolved, dtype = pick_device(device)
    diffusers_logging.disable_progress_bar()
    pipeline = StableDiffusionPipeline.from_pretrained(str(path), safety_checker=None, requires_safety_checker=False,
                                                       torch_dtype=dtype, local_files_only=True)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(resolved)


def generate_batch(pipeline: StableDiffusionPipeline, prompts: list[str], seeds: list[int],
                   steps: int = DEFAULT_STEPS, guidance_scale: float = DEFAULT_GUIDANCE_SCALE) -> list[Image.Image]:
    """One image per (prompt, seed) pair, in one batched pipeline call."""
    if len(prompts) != len(seeds):
        raise ValueError(f"need one seed per prompt, got {len(prompts)} prompts and {len(seeds)} seeds")
    if not prompts:
        return []
    generators = [torch.Generator(device="cpu").manual_seed(int(seed)) for seed in seeds]
    result = pipeline(prompt=list(prompts), num_inference_steps=steps, guidance_scale=guidance_scale,
                      generator=generators)
    return list(result.images)


def generate(prompt: str, seed: int, steps: int = DEFAULT_STEPS, guidance_scale: float = DEFAULT_GUIDANCE_SCALE,
             pipeline: StableDiffusionPipeline | None = None) -> Image.Image:
    """One image for prompt and seed (loads the default pipeline when none is given)."""
    return generate_batch(pipeline or load_pipeline(), [prompt], [seed], steps, guidance_scale)[0]
