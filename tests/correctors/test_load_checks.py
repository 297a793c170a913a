"""What a corrector is built with is checked when it is built (the worker's start-up), not at
the first flagged request: an adapter for another UNet, a GIE with nothing to erase, nudging at
x0 on a scheduler it cannot read x0 from. Tiny random-weight pipelines (conftest.py)."""

from __future__ import annotations

import pytest
from swerve.correctors.generator import DiffusersGenerator
from swerve.correctors.gie.attention_processor import cross_attention_layers
from swerve.correctors.gie.corrector import GieCorrector
from swerve.correctors.gie.scale_predictor import SuppressionScaleAdapter, save_adapter
from swerve.correctors.nudging.corrector import NudgingCorrector
from swerve.errors import ConfigurationError


def test_given_an_adapter_for_another_unet_then_gie_refuses_it_naming_both_counts(generator, tmp_path) -> None:
    layers = len(cross_attention_layers(generator.pipeline.unet))
    path = save_adapter(SuppressionScaleAdapter(layers + 9), tmp_path / "adapter.safetensors")
    with pytest.raises(ConfigurationError, match=rf"takes {layers + 9} inputs.*this UNet has {layers}"):
        GieCorrector(generator=generator, concepts=["red"], adapter_path=str(path))
    assert GieCorrector(generator=generator, concepts=["red"], adapter=SuppressionScaleAdapter(layers)).adapter is not None


def test_given_gie_without_concepts_then_it_is_refused_for_detectors_that_name_none(generator) -> None:
    gie = GieCorrector(generator=generator)
    gie.check_sources([("nsfw", True)])  # a concept detector names what to erase
    with pytest.raises(ConfigurationError, match=r"GIE corrector 'gie' has no concepts to erase.*'takedowns'"):
        gie.check_sources([("nsfw", True), ("takedowns", False)])
    GieCorrector(generator=generator, concepts=["red"]).check_sources([("takedowns", False)])


def test_given_nudging_at_x0_then_a_scheduler_without_alpha_bar_is_refused_at_load(tiny_pipeline, tmp_path) -> None:
    tiny_pipeline.save_pretrained(tmp_path / "model")
    with pytest.raises(ConfigurationError, match="variance-preserving scheduler.*EulerDiscreteScheduler"):
        NudgingCorrector(model_dir=str(tmp_path / "model"), target="x0", scheduler="EulerDiscreteScheduler",
                         device="cpu")
    built = NudgingCorrector(model_dir=str(tmp_path / "model"), target="x0", scheduler="PNDMScheduler", device="cpu")
    assert isinstance(built.generator, DiffusersGenerator) and built.generator.scheduler_name == "PNDMScheduler"


def test_given_an_sdxl_shaped_directory_then_every_corrector_kind_refuses_it_at_load_with_the_reason(tiny_pipeline, tmp_path) -> None:
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
    from swerve.correctors.registry import build_corrector
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    text = tiny_pipeline.text_encoder.config
    second = CLIPTextModelWithProjection(CLIPTextConfig(**{**text.to_dict(), "projection_dim": 8}))
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(16, 16),
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=2 * text.hidden_size,
                                attention_head_dim=8, norm_num_groups=8, addition_embed_type="text_time",
                                addition_time_embed_dim=8, projection_class_embeddings_input_dim=8 + 6 * 8)
    sdxl = StableDiffusionXLPipeline(vae=tiny_pipeline.vae, text_encoder=tiny_pipeline.text_encoder, text_encoder_2=second,
                                     tokenizer=tiny_pipeline.tokenizer, tokenizer_2=tiny_pipeline.tokenizer, unet=unet,
                                     scheduler=tiny_pipeline.scheduler)
    sdxl.save_pretrained(tmp_path / "sdxl")
    for kind in ("prompt_mitigation", "nudging", "gie", "baseline.reseed", "baseline.negative_prompt", "baseline.delayed_guidance"):
        with pytest.raises(ConfigurationError, match="holds a StableDiffusionXLPipeline pipeline.*SD 1.x/2.x"):
            build_corrector(kind, kind, {"model_dir": str(tmp_path / "sdxl"), "device": "cpu", "concepts": ["red"]} if kind == "gie"
                            else {"model_dir": str(tmp_path / "sdxl"), "device": "cpu"})
