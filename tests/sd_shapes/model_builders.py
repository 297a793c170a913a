"""Tiny random-weight models shaped like the ones a deployment brings, saved the way it brings them.

- ``save_sd1_shaped_pipeline``: a ``StableDiffusionPipeline`` directory with SD 1.x's layout (four
  UNet resolutions, cross-attention in the first three down blocks and the last three up blocks,
  4 latent channels, an 8x VAE, a CLIP text encoder and tokenizer, SD 1.x's PNDM schedule), at
  widths small enough that a 2-step generation takes well under a second on one CPU core.
- ``save_open_clip_checkpoint``: a tiny open_clip model config (JSON) and a random-weight checkpoint,
  loaded by ``swerve.index.open_clip_embedder.OpenClipEmbedder`` exactly as a ViT-L/14 file would be.

Both are deterministic (fixed ``torch.manual_seed``) and never touch the network: the tokenizer's
vocabulary is built here with the toy world's BPE writer, and open_clip's own tokenizer ships with
the package. The weights are random, so images are noise and CLIP readings arbitrary (but fixed).
"""

from __future__ import annotations

import json
from pathlib import Path

import open_clip
import torch
from diffusers import (
    AutoencoderKL,
    PNDMScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from swerve.toyworld.tokenizer import MODEL_MAX_LENGTH, build_vocab_and_merges
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

__all__ = ["OPEN_CLIP_MODEL_NAME", "SD1_TEXT_WIDTH", "TOKENIZER_WORDS", "save_open_clip_checkpoint",
           "save_sd1_shaped_pipeline"]

SD1_TEXT_WIDTH = 32  # SD 1.x: 768 (CLIP ViT-L/14's text width); the UNet's cross_attention_dim follows it
# Words that become single tokens; any other text still tokenizes, byte by byte.
TOKENIZER_WORDS = ("a", "an", "the", "of", "in", "on", "at", "with", "photo", "painting", "picture", "person",
                   "umbrella", "rain", "street", "city", "dog", "cat", "red", "blue", "nudity", "nude", "woman", "man")
OPEN_CLIP_MODEL_NAME = "swerve-sd-shapes-test-clip"
_OPEN_CLIP_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def _write_tokenizer(directory: Path) -> CLIPTokenizer:
    """A CLIP BPE tokenizer (vocab.json + merges.txt) over ``TOKENIZER_WORDS``, 77 tokens like SD's."""
    directory.mkdir(parents=True, exist_ok=True)
    vocab, merges = build_vocab_and_merges(list(TOKENIZER_WORDS))
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merge_lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
    (directory / "merges.txt").write_text("\n".join(merge_lines) + "\n", encoding="utf-8")
    return CLIPTokenizer(vocab=str(directory / "vocab.json"), merges=str(directory / "merges.txt"),
                         model_max_length=MODEL_MAX_LENGTH)


def save_sd1_shaped_pipeline(directory: Path, sample_size: int = 8) -> Path:
    """Save a random-weight ``StableDiffusionPipeline`` with SD 1.x's architecture, scaled down.

    SD 1.x's shape, kept: UNet blocks ``CrossAttnDownBlock2D x3 + DownBlock2D`` and
    ``UpBlock2D + CrossAttnUpBlock2D x3`` with a cross-attention mid block, 4 latent channels,
    ``cross_attention_dim`` = the text encoder's width, a 4-block ``AutoencoderKL`` (vae_scale_factor
    8, scaling factor 0.18215), a ``CLIPTextModel`` with 77 positions, and SD 1.x's
    ``PNDMScheduler`` config. Scaled down: block widths (8, 16, 16, 16), one layer per block (so 10
    cross-attention layers instead of SD's 16), a 1-layer text encoder of width ``SD1_TEXT_WIDTH``.
    No safety checker or feature extractor.

    Args:
        directory (`Path`): where to write; the pipeline goes to ``directory / "pipeline"``.
        sample_size (`int`, defaults to 8): latent side; images are ``8 * sample_size`` pixels (64).

    Returns:
        `Path`: the pipeline directory, loadable with ``DiffusersGenerator.from_directory``.
    """
    directory = Path(directory)
    torch.manual_seed(0)
    tokenizer = _write_tokenizer(directory / "tokenizer-src")
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=SD1_TEXT_WIDTH, intermediate_size=4 * SD1_TEXT_WIDTH,
        num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=MODEL_MAX_LENGTH,
        projection_dim=SD1_TEXT_WIDTH, hidden_act="quick_gelu", pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    ))
    unet = UNet2DConditionModel(
        sample_size=sample_size, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(8, 16, 16, 16), layers_per_block=1, cross_attention_dim=SD1_TEXT_WIDTH,
        attention_head_dim=2,  # diffusers' legacy name: SD 1.x's 8 is the number of heads
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16), layers_per_block=1, norm_num_groups=4,
        sample_size=8 * sample_size, scaling_factor=0.18215,
    )
    scheduler = PNDMScheduler(  # SD 1.x's scheduler_config.json
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1, prediction_type="epsilon",
    )
    pipeline = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                       scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    pipeline.save_pretrained(directory / "pipeline")
    return directory / "pipeline"


def save_open_clip_checkpoint(directory: Path) -> tuple[str, Path, Path]:
    """Save a tiny open_clip ViT config and random weights for it (torch.save of the state dict).

    The config is written as ``<model name>.json``, as ``OpenClipEmbedder(model_config=...)`` and
    ``swerve gie train-adapter --clip-model-config`` require; it is also registered with open_clip
    in this process. open_clip's bundled BPE tokenizer (vocab 49408) reads the text, no download.

    Args:
        directory (`Path`): where to write the config and ``open_clip.pt``.

    Returns:
        `tuple[str, Path, Path]`: (model name, checkpoint path, config path), in the order of the
        CLI's ``--clip-model``, ``--clip-checkpoint``, ``--clip-model-config``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / f"{OPEN_CLIP_MODEL_NAME}.json"
    config.write_text(json.dumps(_OPEN_CLIP_CONFIG))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    checkpoint = directory / "open_clip.pt"
    torch.save(open_clip.create_model(OPEN_CLIP_MODEL_NAME, pretrained=None).state_dict(), checkpoint)
    return OPEN_CLIP_MODEL_NAME, checkpoint, config
