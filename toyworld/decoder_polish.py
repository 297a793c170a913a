"""Phase 1b of toy-world training: sharpen the VAE decoder on whole images, encoder frozen.

Crop training (phase 1) leaves edges slightly soft, and the near-copy test is strict:
one blurry edge in one 16x16 tile can exceed tiled L2 0.1. This phase fine-tunes the
decoder alone on full 64x64 images from the encoder's posterior means (plus a little
latent noise, so it tolerates the UNet's imprecision), with the tiled-L2 itself in the
loss. The encoder, and therefore every latent the UNet trains on, is left untouched,
so this phase may run while the UNet trains. It must never change the encoder.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL

LATENT_NOISE = 0.05  # in units of the latents' std


def _max_tile_rms(a: torch.Tensor, b: torch.Tensor, grid: int = 4) -> torch.Tensor:
    """(n, 3, H, W) x2 in [0, 1] -> (n,) largest per-tile RMS difference (tiled L2)."""
    n, c, h, w = a.shape
    diff = (a - b).reshape(n, c, grid, h // grid, grid, w // grid)
    return (diff.pow(2).mean(dim=(1, 3, 5)) + 1e-8).sqrt().amax(dim=(1, 2))


def polish_decoder(vae: AutoencoderKL, images: torch.Tensor, order: np.ndarray, steps: int, batch_size: int,
                   seed: int, lr: float = 3e-4) -> AutoencoderKL:
    """Fine-tune vae.decoder (and post_quant_conv) in place; images: (unique, 3, H, W) in [-1, 1]."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + 3)
    # 1. the latents the UNet sees: posterior means of the frozen encoder
    with torch.no_grad():
        means = torch.cat([vae.encode(images[i:i + 128]).latent_dist.mean for i in range(0, len(images), 128)])
    noise_scale = LATENT_NOISE * float(means.std())
    # 2. only the decoder side trains
    vae.requires_grad_(False)
    trainable = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    for parameter in trainable:
        parameter.requires_grad_(True)
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    vae.train()
    started = time.time()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr * 0.5 * (1.0 + np.cos(np.pi * step / max(1, steps)))
        rows = torch.from_numpy(order[rng.integers(len(order), size=batch_size)])
        z = means[rows] + noise_scale * torch.randn_like(means[rows])  # (batch, C, h, w)
        target = images[rows]  # (batch, 3, H, W)
        reconstruction = vae.decode(z).sample
        tiled = _max_tile_rms((reconstruction + 1) / 2, (target + 1) / 2)  # (batch,)
        loss = (reconstruction - target).abs().mean() + F.mse_loss(reconstruction, target) + tiled.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 100 == 0 or step == steps - 1:
            print(f"[{time.strftime('%H:%M:%S')}] decoder step {step}/{steps} loss {loss.item():.4f} "
                  f"tiled {tiled.mean().item():.4f} ({time.time() - started:.0f}s)", flush=True)
    vae.requires_grad_(True)
    return vae.eval()
