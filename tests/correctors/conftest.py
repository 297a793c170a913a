"""Tiny random-weight Stable Diffusion pipelines for the corrector tests.

Real diffusers and transformers classes (UNet2DConditionModel, AutoencoderKL, CLIPTextModel,
CLIPTokenizer, DDIMScheduler), built from the toy world's architecture at 32x32 pixels (8x8
latents), so every method runs through the same code path as on Stable Diffusion, in well under a
second per image on a CPU.
"""

from __future__ import annotations

import pytest
import torch
from diffusers import StableDiffusionPipeline
from swerve.correctors.generator import DiffusersGenerator
from swerve.toyworld.architecture import (
    ToyArchitecture,
    build_text_encoder,
    build_unet,
    build_vae,
    inference_scheduler,
)
from swerve.toyworld.tokenizer import write_tokenizer

# One thread: on a shared 2-core machine two torch threads wait on each other (8 s vs 0.02 s per image).
torch.set_num_threads(1)

TINY = ToyArchitecture(image_size=32, latent_channels=4, vae_channels=(8, 8, 8), unet_channels=(16, 16, 16),
                       attention_head_dim=8, text_width=32, text_layers=1, text_heads=2)


def build_tiny_pipeline(tokenizer_dir, seed: int = 0) -> StableDiffusionPipeline:
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(str(tokenizer_dir))
    torch.manual_seed(seed)
    text_encoder = build_text_encoder(TINY, len(tokenizer), tokenizer.pad_token_id, tokenizer.bos_token_id,
                                      tokenizer.eos_token_id)
    pipeline = StableDiffusionPipeline(build_vae(TINY), text_encoder, tokenizer, build_unet(TINY), inference_scheduler(),
                                       safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to("cpu")


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tokenizer")
    write_tokenizer(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_pipeline(tokenizer_dir) -> StableDiffusionPipeline:
    return build_tiny_pipeline(tokenizer_dir)


@pytest.fixture
def generator(tiny_pipeline) -> DiffusersGenerator:
    return DiffusersGenerator(tiny_pipeline, "tiny-random", steps=3, guidance_scale=5.0)
