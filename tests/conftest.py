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


@pytest.fixture(scope="session")
def tiny_open_clip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Embedder params for a tiny random-weight open_clip model saved as a local checkpoint."""
    import json

    import open_clip

    directory = tmp_path_factory.mktemp("tiny-open-clip")
    name = "swerve-detector-test-clip"
    config = directory / f"{name}.json"
    config.write_text(json.dumps({
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
    }))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    checkpoint = directory / "tiny.pt"
    torch.save(open_clip.create_model(name, pretrained=None).state_dict(), checkpoint)
    return {"model": name, "checkpoint": str(checkpoint), "model_config_path": str(config)}
