"""Train the toy world's generator (VAE, then UNet + text encoder) and its tiny CLIP, reproducibly.

    python -m swerve.toyworld.train --out toyworld/weights

Phases (each can be run alone with --phases):
  1. vae:   AutoencoderKL on random 32x32 crops (it is fully convolutional), then the
            reconstruction's tiled L2 is measured and `scaling_factor` set to 1 / std of the latents.
  2. unet:  UNet2DConditionModel and CLIPTextModel trained jointly on cached VAE latents with the
            DDPM loss, 10% caption dropout (for classifier-free guidance) and an EMA of the weights.
            The text encoder is trained from scratch with the UNet: a toy, unlike SD's frozen CLIP.
  3. clip:  the tiny open_clip model, contrastively on the same pairs (see tiny_clip_training.py).
The pipeline is saved with `StableDiffusionPipeline.save_pretrained` under <out>/pipeline at every
checkpoint, so a partial run is usable. This module must never download anything.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from swerve.toyworld.architecture import (
    ARCHITECTURES,
    ToyArchitecture,
    build_text_encoder,
    build_unet,
    build_vae,
    inference_scheduler,
    parameter_count,
    training_scheduler,
)
from swerve.toyworld.dataset import DEFAULT_DUPLICATES, DEFAULT_ORDINARY_COUNT, TRAINING_SEED, build_training_set
from swerve.toyworld.tokenizer import MODEL_MAX_LENGTH, write_tokenizer

CAPTION_DROPOUT = 0.1
VAE_CROP = 32
KL_WEIGHT = 1e-6


@dataclass
class TrainingData:
    """The training set as tensors: distinct images once, plus the row order that duplicates them."""

    images: torch.Tensor  # (unique, 3, H, W) in [-1, 1]
    captions: list[str]  # one per unique image
    memorized: np.ndarray  # (unique,) bool
    order: np.ndarray  # (rows,) indices into images


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def prepare_data(seed: int, ordinary_count: int, duplicates: int, image_size: int) -> TrainingData:
    """Render the training set and stack it into tensors."""
    training_set = build_training_set(seed=seed, ordinary_count=ordinary_count, duplicates=duplicates, size_px=image_size)
    arrays = np.stack([np.asarray(example.image, dtype=np.float32) / 127.5 - 1.0 for example in training_set.unique])
    return TrainingData(
        images=torch.from_numpy(arrays).permute(0, 3, 1, 2).contiguous(),
        captions=[example.caption for example in training_set.unique],
        memorized=np.array([example.memorized for example in training_set.unique]),
        order=np.asarray(training_set.order),
    )


def max_tile_rms(a: torch.Tensor, b: torch.Tensor, grid: int = 4) -> torch.Tensor:
    """Carlini's tiled L2 for same-size batches with pixels in [0, 1]: (n, 3, H, W) x2 -> (n,).

    A copy of detectors/tiled_l2.py's arithmetic: toyworld may depend on libraries only.
    """
    n, c, h, w = a.shape
    diff = (a - b).reshape(n, c, grid, h // grid, grid, w // grid)
    return diff.pow(2).mean(dim=(1, 3, 5)).sqrt().amax(dim=(1, 2))


def cosine_lr(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


# 1. VAE ---------------------------------------------------------------------------------------


def train_vae(arch: ToyArchitecture, data: TrainingData, steps: int, batch_size: int, seed: int,
              lr: float = 1e-3) -> AutoencoderKL:
    """Train the AutoencoderKL on random crops with L1 + MSE + a tiny KL term (sharp reconstructions)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    vae = build_vae(arch)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    size = data.images.shape[-1]
    crop = min(VAE_CROP, size)
    started = time.time()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, steps, lr, warmup=50)
        rows = data.order[rng.integers(len(data.order), size=batch_size)]
        top, left = rng.integers(0, size - crop + 1, size=2)
        x = data.images[rows][:, :, top:top + crop, left:left + crop]  # (batch, 3, crop, crop)
        posterior = vae.encode(x).latent_dist
        reconstruction = vae.decode(posterior.sample()).sample
        loss = (reconstruction - x).abs().mean() + F.mse_loss(reconstruction, x) + KL_WEIGHT * posterior.kl().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"vae step {step}/{steps} loss {loss.item():.4f} ({time.time() - started:.0f}s)")
    return vae.eval()


@torch.no_grad()
def encode_latents(vae: AutoencoderKL, images: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """Posterior means of images (n, 3, H, W) -> (n, C, H/4, W/4), unscaled."""
    chunks = [vae.encode(images[i:i + batch_size]).latent_dist.mean for i in range(0, len(images), batch_size)]
    return torch.cat(chunks)


@torch.no_grad()
def reconstruction_tiled_l2(vae: AutoencoderKL, images: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """Tiled L2 between each image and its VAE reconstruction (through the posterior mean): (n,)."""
    distances = []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size]
        reconstruction = vae.decode(vae.encode(x).latent_dist.mean).sample
        distances.append(max_tile_rms((x + 1) / 2, ((reconstruction + 1) / 2).clamp(0, 1)))
    return torch.cat(distances)


# 2. UNet + text encoder -------------------------------------------------------------------------


def tokenize(tokenizer: CLIPTokenizer, captions: list[str]) -> torch.Tensor:
    """(n, 77) token ids, padded as StableDiffusionPipeline pads them."""
    return tokenizer(captions, padding="max_length", max_length=MODEL_MAX_LENGTH, truncation=True,
                     return_tensors="pt").input_ids


def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for ema_p, p in zip(ema.parameters(), model.parameters()):
            ema_p.lerp_(p, 1.0 - decay)


def save_pipeline(out: Path, vae: AutoencoderKL, unet: UNet2DConditionModel, text_encoder: CLIPTextModel,
                  tokenizer: CLIPTokenizer) -> Path:
    """Save a full StableDiffusionPipeline directory (no safety checker) to out/pipeline."""
    pipeline = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                       scheduler=inference_scheduler(), safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    directory = out / "pipeline"
    pipeline.save_pretrained(str(directory))
    return directory


def train_denoiser(arch: ToyArchitecture, data: TrainingData, vae: AutoencoderKL, tokenizer: CLIPTokenizer,
                   out: Path, steps: int, batch_size: int, seed: int, lr: float = 1e-3,
                   ema_decay: float = 0.999, checkpoint_every: int = 1000) -> tuple[UNet2DConditionModel, CLIPTextModel]:
    """Train UNet + text encoder jointly on cached latents; saves the EMA weights as a pipeline."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + 1)
    # 1. cache latents (posterior means, scaled) and token ids of each distinct image
    latents = encode_latents(vae, data.images) * vae.config.scaling_factor  # (unique, C, h, w)
    token_ids = tokenize(tokenizer, data.captions)  # (unique, 77)
    empty_ids = tokenize(tokenizer, [""])  # (1, 77)
    # 2. models, optimizer, EMA copies
    unet = build_unet(arch)
    text_encoder = build_text_encoder(arch, len(tokenizer), tokenizer.pad_token_id, tokenizer.bos_token_id,
                                      tokenizer.eos_token_id)
    log(f"unet {parameter_count(unet):,} params, text encoder {parameter_count(text_encoder):,} params")
    ema_unet, ema_text = copy.deepcopy(unet).eval(), copy.deepcopy(text_encoder).eval()
    parameters = list(unet.parameters()) + list(text_encoder.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.01)
    scheduler = training_scheduler()
    started = time.time()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, steps, lr, warmup=200)
        # 3. a batch of rows (memorized scenes come up `duplicates` times more often)
        rows = torch.from_numpy(data.order[rng.integers(len(data.order), size=batch_size)])
        x0 = latents[rows]  # (batch, C, h, w)
        ids = token_ids[rows].clone()  # (batch, 77)
        drop = torch.from_numpy(rng.random(batch_size) < CAPTION_DROPOUT)
        ids[drop] = empty_ids
        # 4. DDPM loss: predict the noise added at a uniform timestep
        noise = torch.randn_like(x0)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (batch_size,))
        xt = scheduler.add_noise(x0, noise, t)
        hidden = text_encoder(ids).last_hidden_state  # (batch, 77, width)
        prediction = unet(xt, t, encoder_hidden_states=hidden).sample
        loss = F.mse_loss(prediction, noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        decay = min(ema_decay, (1 + step) / (10 + step))
        ema_update(ema_unet, unet, decay)
        ema_update(ema_text, text_encoder, decay)
        if step % 100 == 0 or step == steps - 1:
            log(f"unet step {step}/{steps} loss {loss.item():.4f} ({time.time() - started:.0f}s)")
        if (step + 1) % checkpoint_every == 0 or step == steps - 1:
            directory = save_pipeline(out, vae, ema_unet, ema_text, tokenizer)
            log(f"checkpoint at step {step + 1} -> {directory}")
    return ema_unet, ema_text


# 3. Orchestration -----------------------------------------------------------------------------


def run(out: Path, arch_name: str, phases: list[str], vae_steps: int, unet_steps: int, clip_steps: int,
        batch_size: int, seed: int, ordinary_count: int, duplicates: int, checkpoint_every: int) -> dict[str, object]:
    """Run the chosen phases; returns a summary (also written to out/training_summary.json)."""
    torch.set_num_threads(min(2, torch.get_num_threads()))
    arch = ARCHITECTURES[arch_name]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / "training_summary.json"
    summary: dict[str, object] = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    summary.update({"arch": arch_name, "seed": seed, "ordinary_count": ordinary_count, "duplicates": duplicates,
                    "batch_size": batch_size, "image_size": arch.image_size, "latent_size": arch.latent_size})
    started = time.time()
    data = prepare_data(seed, ordinary_count, duplicates, arch.image_size)
    log(f"data: {len(data.images)} distinct images, {len(data.order)} rows ({time.time() - started:.0f}s)")
    tokenizer = write_tokenizer(out / "pipeline" / "tokenizer")
    if "vae" in phases:
        phase_start = time.time()
        vae = train_vae(arch, data, vae_steps, batch_size, seed)
        latents = encode_latents(vae, data.images)
        vae.register_to_config(scaling_factor=float(1.0 / latents.std()))
        distances = reconstruction_tiled_l2(vae, data.images)
        summary["vae"] = {
            "steps": vae_steps, "seconds": round(time.time() - phase_start, 1), "parameters": parameter_count(vae),
            "scaling_factor": vae.config.scaling_factor,
            "reconstruction_tiled_l2_memorized_max": float(distances[torch.from_numpy(data.memorized)].max()),
            "reconstruction_tiled_l2_ordinary_mean": float(distances[torch.from_numpy(~data.memorized)].mean()),
            "reconstruction_tiled_l2_ordinary_p99": float(distances[torch.from_numpy(~data.memorized)].quantile(0.99)),
        }
        vae.save_pretrained(str(out / "pipeline" / "vae"))
        log(f"vae summary {summary['vae']}")
    else:
        vae = AutoencoderKL.from_pretrained(str(out / "pipeline" / "vae")).eval()
    if "unet" in phases:
        phase_start = time.time()
        unet, text_encoder = train_denoiser(arch, data, vae, tokenizer, out, unet_steps, batch_size, seed,
                                            checkpoint_every=checkpoint_every)
        summary["unet"] = {"steps": unet_steps, "seconds": round(time.time() - phase_start, 1),
                           "parameters": parameter_count(unet), "text_encoder_parameters": parameter_count(text_encoder)}
    if "clip" in phases:
        from swerve.toyworld.tiny_clip_training import train_tiny_clip

        phase_start = time.time()
        clip_summary = train_tiny_clip(data.images, data.captions, data.order, out, clip_steps,
                                       batch_size=max(2 * batch_size, 32), seed=seed, smoke=arch_name == "smoke")
        summary["clip"] = {"steps": clip_steps, "seconds": round(time.time() - phase_start, 1), **clip_summary}
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    log(f"done in {time.time() - started:.0f}s")
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="weights directory, e.g. toyworld/weights")
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), default="full")
    parser.add_argument("--phases", default="vae,unet,clip", help="comma-separated subset of vae,unet,clip")
    parser.add_argument("--vae-steps", type=int, default=2000)
    parser.add_argument("--unet-steps", type=int, default=8000)
    parser.add_argument("--clip-steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=TRAINING_SEED)
    parser.add_argument("--ordinary-count", type=int, default=DEFAULT_ORDINARY_COUNT)
    parser.add_argument("--duplicates", type=int, default=DEFAULT_DUPLICATES)
    parser.add_argument("--checkpoint-every", type=int, default=1000)
    args = parser.parse_args(argv)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(phases) - {"vae", "unet", "clip"}
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}")
    run(args.out, args.arch, phases, args.vae_steps, args.unet_steps, args.clip_steps, args.batch_size, args.seed,
        args.ordinary_count, args.duplicates, args.checkpoint_every)


if __name__ == "__main__":
    main()
