"""Model configurations of the toy world's generator: the classes Stable Diffusion uses, scaled down.

`full` is the committed model; `smoke` is a tiny variant the tests train for a few
steps. Both use standard diffusers blocks (CrossAttnDownBlock2D, ...), so
`unet.set_attn_processor` reaches every cross-attention layer as it does in SD 1.x.
This module only describes and builds untrained models; it must never train or load weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from swerve.toyworld.tokenizer import MODEL_MAX_LENGTH


@dataclass(frozen=True)
class ToyArchitecture:
    """Sizes of the VAE, UNet and text encoder. Latents are image_size / 4 per side (three VAE blocks)."""

    image_size: int = 64
    latent_channels: int = 8  # 4 (as SD) left edges too soft: reconstruction tiled L2 up to 0.14
    vae_channels: tuple[int, ...] = (32, 32, 64)
    unet_channels: tuple[int, ...] = (32, 64, 64)
    # Attention at 8x8 and 4x4 only: self-attention over the 16x16 latent tripled the CPU step time.
    unet_down_blocks: tuple[str, ...] = ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D")
    unet_up_blocks: tuple[str, ...] = ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D")
    unet_layers_per_block: int = 1
    attention_head_dim: int = 8
    text_width: int = 64
    text_layers: int = 2
    text_heads: int = 4

    @property
    def latent_size(self) -> int:
        return int(self.image_size // 2 ** (len(self.vae_channels) - 1))


FULL = ToyArchitecture()
# Cross-attention at every resolution, 16x16 included: a small shape is one or two cells at 8x8, too
# coarse for the caption to say where its corners go. Costs about 3x the CPU training step.
FULL_ATTN16 = ToyArchitecture(unet_down_blocks=("CrossAttnDownBlock2D",) * 3, unet_up_blocks=("CrossAttnUpBlock2D",) * 3)
SMOKE = ToyArchitecture(vae_channels=(8, 8, 8), unet_channels=(16, 16, 16), attention_head_dim=8,
                        text_width=32, text_layers=1, text_heads=2)
# 1.5x the UNet width (2.25x the convolution FLOPs), attention at every resolution.
MEDIUM_ATTN16 = ToyArchitecture(unet_channels=(48, 96, 96), unet_down_blocks=FULL_ATTN16.unet_down_blocks,
                                unet_up_blocks=FULL_ATTN16.unet_up_blocks)
# full-attn16 and medium-attn16 were trained on an H100 and measured (docs/toyworld.md, "Bigger UNets");
# neither beat `full` on zero-shot accuracy, so `full` stays the committed model.
ARCHITECTURES = {"full": FULL, "full-attn16": FULL_ATTN16, "medium-attn16": MEDIUM_ATTN16, "smoke": SMOKE}


def build_vae(arch: ToyArchitecture) -> AutoencoderKL:
    """An untrained AutoencoderKL with a downsampling factor of 2 ** (len(vae_channels) - 1)."""
    blocks = len(arch.vae_channels)
    return AutoencoderKL(
        in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * blocks, up_block_types=("UpDecoderBlock2D",) * blocks,
        block_out_channels=arch.vae_channels, layers_per_block=1, latent_channels=arch.latent_channels,
        norm_num_groups=min(8, arch.vae_channels[0]), sample_size=arch.image_size, scaling_factor=1.0,
        # Fully convolutional, so training on crops matches inference on whole images.
        mid_block_add_attention=False,
    )


def build_unet(arch: ToyArchitecture) -> UNet2DConditionModel:
    """An untrained UNet2DConditionModel with cross-attention to the text encoder's hidden states."""
    return UNet2DConditionModel(
        sample_size=arch.latent_size, in_channels=arch.latent_channels, out_channels=arch.latent_channels,
        down_block_types=arch.unet_down_blocks, up_block_types=arch.unet_up_blocks,
        mid_block_type="UNetMidBlock2DCrossAttn", block_out_channels=arch.unet_channels,
        layers_per_block=arch.unet_layers_per_block, cross_attention_dim=arch.text_width,
        attention_head_dim=arch.attention_head_dim, norm_num_groups=min(16, arch.unet_channels[0]),
    )


def build_text_encoder(arch: ToyArchitecture, vocab_size: int, pad_token_id: int, bos_token_id: int,
                       eos_token_id: int) -> CLIPTextModel:
    """An untrained CLIPTextModel sized for the toy vocabulary."""
    config = CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=arch.text_width, intermediate_size=arch.text_width * 4,
        num_hidden_layers=arch.text_layers, num_attention_heads=arch.text_heads,
        max_position_embeddings=MODEL_MAX_LENGTH, projection_dim=arch.text_width,
        pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id,
    )
    return CLIPTextModel(config)


# Zero terminal SNR with v-prediction (Lin et al. 2024, "Common Diffusion Noise Schedules and Sample Steps
# are Flawed"), as in SD 2.x-v. With SD 1.x's schedule, x_T still carries sqrt(0.0047) of the signal, and
# on a 16x16 latent the spatial mean of the noise (std 1/16) is as large as that leak: the model learned to
# read each image's global colour from the noise, and every generation came out with a seed-dependent cast.
_SCHEDULE = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                 prediction_type="v_prediction", rescale_betas_zero_snr=True, timestep_spacing="trailing",
                 clip_sample=False)


def training_scheduler() -> DDPMScheduler:
    """DDPM on SD's scaled-linear betas, rescaled to zero terminal SNR, predicting v."""
    return DDPMScheduler(**_SCHEDULE)


def inference_scheduler() -> DDIMScheduler:
    """The 25-step sampler saved in the pipeline: DDIM on the training schedule, trailing timesteps (starts at T)."""
    return DDIMScheduler(**_SCHEDULE, set_alpha_to_one=False, steps_offset=1)  # offset unused by "trailing"


def parameter_count(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())
