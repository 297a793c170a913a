"""A few training steps of every phase on a tiny config, then the saved pipeline loads and generates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from diffusers import DDIMScheduler, StableDiffusionPipeline
from diffusers.models.attention_processor import AttnProcessor

from swerve.toyworld import dataset
from swerve.toyworld.tiny_clip import MODEL_NAME, load_tiny_clip, register_config
from swerve.toyworld.train import TrainingPlan, run


@pytest.fixture(scope="module")
def smoke_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Given: three steps of each phase on the tiny architecture and a tiny data set
    out = tmp_path_factory.mktemp("toy_weights")
    plan = TrainingPlan(arch="smoke", ordinary_count=24, duplicates=2, vae_steps=3, vae_batch_size=8, decoder_steps=2,
                        decoder_batch_size=4, unet_steps=3, unet_batch_size=8, unet_resume_steps=2, clip_steps=2, clip_batch_size=16,
                        checkpoint_every=2)
    run(out, plan)
    return out


def test_given_a_smoke_run_when_loaded_with_from_pretrained_then_it_generates_a_64px_image(smoke_weights: Path) -> None:
    # When: the saved directory is loaded the way a local SD 1.x directory is
    pipeline = StableDiffusionPipeline.from_pretrained(str(smoke_weights / "pipeline"), safety_checker=None)
    image = pipeline("a red star", num_inference_steps=2, generator=torch.Generator().manual_seed(0)).images[0]
    # Then
    assert image.size == (64, 64)
    assert isinstance(pipeline.scheduler, DDIMScheduler)
    assert pipeline.vae.config.scaling_factor != 1.0  # set to 1 / std of the latents


def test_given_a_smoke_pipeline_then_cross_attention_accepts_attention_processors(smoke_weights: Path) -> None:
    pipeline = StableDiffusionPipeline.from_pretrained(str(smoke_weights / "pipeline"), safety_checker=None)
    processors = pipeline.unet.attn_processors
    assert any(name.endswith("attn2.processor") for name in processors)  # cross-attention layers exist
    pipeline.unet.set_attn_processor({name: AttnProcessor() for name in processors})
    assert all(isinstance(p, AttnProcessor) for p in pipeline.unet.attn_processors.values())


def test_given_a_smoke_run_then_the_tiny_clip_loads_through_open_clip_from_the_local_file(smoke_weights: Path) -> None:
    register_config()
    model, _, preprocess = open_clip.create_model_and_transforms(MODEL_NAME, pretrained=str(smoke_weights / "tiny_clip.pt"))
    assert model.visual.image_size == 64
    clip = load_tiny_clip(smoke_weights / "tiny_clip.pt", device="cpu")
    from PIL import Image

    embeddings = clip.embed_images([Image.new("RGB", (64, 64), (255, 0, 0))])
    assert embeddings.shape == (1, 64)
    assert np.linalg.norm(embeddings, axis=1) == pytest.approx(1.0, abs=1e-4)


def test_given_a_smoke_run_then_a_summary_records_every_phase(smoke_weights: Path) -> None:
    summary = json.loads((smoke_weights / "training_summary.json").read_text())
    assert {"vae", "decoder", "unet", "unet_resumes", "clip"} <= summary.keys()
    assert summary["unet_resumes"][-1]["short_caption_rate"] > 0
    assert summary["unet_resumes"][-1]["world"]["rotation_jitter_deg"] == dataset.ROTATION_JITTER_DEG
    assert summary["latent_size"] == 16


def test_given_a_second_resume_then_the_summary_keeps_both_runs_in_order(smoke_weights: Path, tmp_path: Path) -> None:
    import shutil

    # Given: a copy of the smoke weights, resumed once more at another learning rate
    out = tmp_path / "weights"
    shutil.copytree(smoke_weights, out)
    run(out, TrainingPlan(arch="smoke", phases=("unet-resume",), ordinary_count=24, duplicates=2, unet_resume_steps=1,
                          unet_resume_batch_size=4, unet_resume_lr=1e-5, checkpoint_every=1))
    # Then: the history holds the first resume, then the new one
    resumes = json.loads((out / "training_summary.json").read_text())["unet_resumes"]
    assert [r["steps"] for r in resumes] == [2, 1]
    assert resumes[-1]["lr"] == 1e-5


def test_given_a_saved_unet_when_grown_with_attention_at_every_level_then_fitting_weights_carry_over(
        smoke_weights: Path) -> None:
    from dataclasses import replace

    from diffusers import UNet2DConditionModel

    from swerve.toyworld.architecture import FULL_ATTN16, SMOKE
    from swerve.toyworld.train import grown_unet

    def cross_attention_count(unet: UNet2DConditionModel) -> int:
        return sum(name.endswith("attn2.processor") for name in unet.attn_processors)

    saved = UNet2DConditionModel.from_pretrained(str(smoke_weights / "pipeline" / "unet")).state_dict()
    bigger = replace(SMOKE, unet_down_blocks=FULL_ATTN16.unet_down_blocks, unet_up_blocks=FULL_ATTN16.unet_up_blocks)
    grown = grown_unet(bigger, smoke_weights / "pipeline" / "unet")
    own = grown.state_dict()
    assert all(torch.equal(own[name], weight) for name, weight in saved.items())  # every saved tensor fits
    assert cross_attention_count(grown) > cross_attention_count(
        UNet2DConditionModel.from_pretrained(str(smoke_weights / "pipeline" / "unet")))


def test_given_an_unknown_denoiser_init_then_training_refuses(smoke_weights: Path, tmp_path: Path) -> None:
    plan = TrainingPlan(arch="smoke", phases=("unet-resume",), ordinary_count=8, duplicates=1, unet_resume_steps=1,
                        unet_resume_init="transplant")
    with pytest.raises(ValueError, match="transplant"):
        run(smoke_weights, plan)
