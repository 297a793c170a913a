"""A tiny random-weight StableDiffusionPipeline, saved to disk and loaded back the way a user's
local SD directory is loaded: for detector tests that need a generator but not a trained one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers import StableDiffusionPipeline

from swerve.toyworld.architecture import SMOKE, build_text_encoder, build_unet, build_vae, inference_scheduler
from swerve.toyworld.tokenizer import write_tokenizer


@pytest.fixture(scope="session")
def tiny_pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("tiny-sd")
    tokenizer = write_tokenizer(directory / "tokenizer-src")
    text_encoder = build_text_encoder(SMOKE, len(tokenizer), tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id)
    pipeline = StableDiffusionPipeline(
        vae=build_vae(SMOKE), text_encoder=text_encoder, tokenizer=tokenizer, unet=build_unet(SMOKE),
        scheduler=inference_scheduler(), safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipeline.save_pretrained(directory / "pipeline")
    return directory / "pipeline"
