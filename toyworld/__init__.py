"""swerve.toyworld: a small latent diffusion model that memorizes a few images, and its world.

It stands in for Stable Diffusion wherever weights cannot be downloaded: same classes
(AutoencoderKL, UNet2DConditionModel, CLIPTextModel + CLIPTokenizer, a diffusers
scheduler, an open_clip model), loaded from local directories. It depends only on
libraries (torch, diffusers, transformers, open_clip, PIL, numpy), never on other
swerve packages. See docs/toyworld.md.
"""

from swerve.toyworld.dataset import (
    EVALUATION_SEED,
    TRAINING_SEED,
    build_training_set,
    sample_ordinary_captions,
)
from swerve.toyworld.generation import (
    DEFAULT_GUIDANCE_SCALE,
    DEFAULT_STEPS,
    generate,
    generate_batch,
    load_pipeline,
)
from swerve.toyworld.memorized import memorized_captions, memorized_images, memorized_training_image
from swerve.toyworld.tiny_clip import TinyClip, ZeroShotReading, load_tiny_clip
from swerve.toyworld.weights_paths import (
    PIPELINE_DIR,
    TINY_CLIP_CHECKPOINT,
    WEIGHTS_DIR,
    ToyWeightsMissing,
)

__all__ = [
    "DEFAULT_GUIDANCE_SCALE",
    "DEFAULT_STEPS",
    "EVALUATION_SEED",
    "PIPELINE_DIR",
    "TINY_CLIP_CHECKPOINT",
    "TRAINING_SEED",
    "TinyClip",
    "ToyWeightsMissing",
    "WEIGHTS_DIR",
    "ZeroShotReading",
    "build_training_set",
    "generate",
    "generate_batch",
    "load_pipeline",
    "load_tiny_clip",
    "memorized_captions",
    "memorized_images",
    "memorized_training_image",
    "sample_ordinary_captions",
]
