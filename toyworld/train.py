"""Train the toy world's generator (VAE, decoder polish, UNet + text encoder) and its tiny CLIP, reproducibly.

    python -m swerve.toyworld.train --out toyworld/weights        # the committed plan, see TrainingPlan

Phases, in order (each can be run alone with --phases; later ones read earlier ones from --out):
  1. vae:     AutoencoderKL on random 32x32 crops (it is fully convolutional); then
              `scaling_factor` is set to 1 / std of the latents and the reconstruction's tiled L2 measured.
  2. decoder: the decoder alone fine-tuned on whole images, encoder frozen (decoder_polish.py). It
              leaves every latent unchanged, so it may also run beside phase 3.
  3. unet:    UNet2DConditionModel and CLIPTextModel trained jointly on cached VAE latents with the DDPM
              loss, 10% caption dropout (for classifier-free guidance) and an EMA of the weights. The text
              encoder is trained from scratch with the UNet: a toy, unlike SD's frozen CLIP.
     unet-resume: the same loss continued from the saved UNet and text encoder with a fresh schedule;
              here some ordinary rows are shown under short concept captions (concept_captions.py).
              With --unet-resume-init grow, the UNet of --arch is built and every saved weight whose
              name and shape still fit is loaded into it (layers the architecture adds start fresh).
  4. clip:    the tiny open_clip model, contrastively on the same pairs (tiny_clip_training.py).
The pipeline is saved with `StableDiffusionPipeline.save_pretrained` under <out>/pipeline at every
UNet checkpoint, so a partial run is usable. This module must never download anything.
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
from swerve.toyworld import dataset
from swerve.toyworld.concept_captions import concept_captions
from swerve.toyworld.decoder_polish import polish_decoder
from swerve.toyworld.dataset import DEFAULT_DUPLICATES, DEFAULT_ORDINARY_COUNT, TRAINING_SEED, build_training_set
from swerve.toyworld.tiny_clip_training import train_tiny_clip
from swerve.toyworld.tokenizer import MODEL_MAX_LENGTH, write_tokenizer

PHASES = ("vae", "decoder", "unet", "unet-resume", "clip")
DENOISER_INITS = ("fresh", "resume", "grow")
CAPTION_DROPOUT = 0.1
SHORT_CAPTION_RATE = 0.15  # ordinary rows shown under one of their concept_captions instead
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
    ids: torch.Tensor = tokenizer(captions, padding="max_length", max_length=MODEL_MAX_LENGTH, truncation=True,
                                  return_tensors="pt").input_ids
    return ids


def short_caption_ids(tokenizer: CLIPTokenizer, captions: list[str]) -> torch.Tensor:
    """(n, 3, 77) token ids of each caption's concept captions; a caption with none repeats itself."""
    variants = []
    for caption in captions:
        short = concept_captions(caption)
        variants.append((short * 3)[:3])
    return tokenize(tokenizer, [text for row in variants for text in row]).view(len(captions), 3, -1)


def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - decay)


def grown_unet(arch: ToyArchitecture, saved: Path) -> UNet2DConditionModel:
    """The UNet of `arch`, holding every weight of the saved UNet whose name and shape fit it.

    Layers that `arch` adds (say, cross-attention at a new resolution) keep their fresh initialization.
    """
    unet = build_unet(arch)
    previous = UNet2DConditionModel.from_pretrained(str(saved)).state_dict()
    own = unet.state_dict()
    fitting = {name: weight for name, weight in previous.items() if name in own and own[name].shape == weight.shape}
    unet.load_state_dict(fitting, strict=False)
    log(f"grown unet: {len(fitting)} of {len(own)} tensors from {saved}, {len(previous) - len(fitting)} saved ones unused")
    return unet


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
                   ema_decay: float = 0.999, checkpoint_every: int = 1000,
                   init: str = "fresh", short_caption_rate: float = SHORT_CAPTION_RATE,
                   device: str = "cpu") -> tuple[UNet2DConditionModel, CLIPTextModel]:
    """Train UNet + text encoder jointly on cached latents; saves the EMA weights as a pipeline.

    A share ``short_caption_rate`` of the rows is shown under a short concept caption (only ordinary
    images have them; see concept_captions.py).

    init: "fresh" weights; "resume" the UNet and text encoder saved in out/pipeline (a continuation
    run with its own schedule and batch order); or "grow" the saved UNet into `arch` (grown_unet) and
    resume the text encoder. Batches are drawn on the CPU, so a seed gives the same rows on any device.
    """
    if init not in DENOISER_INITS:
        raise ValueError(f"unknown denoiser init {init!r}; choose from {DENOISER_INITS}")
    continued = init != "fresh"
    torch.manual_seed(seed + (7 if continued else 0))
    rng = np.random.default_rng(seed + (101 if continued else 1))
    # 1. cache latents (posterior means, scaled) and token ids of each distinct image
    latents = (encode_latents(vae, data.images) * vae.config.scaling_factor).to(device)  # (unique, C, h, w)
    token_ids = tokenize(tokenizer, data.captions)  # (unique, 77)
    short_ids = short_caption_ids(tokenizer, data.captions)  # (unique, 3, 77)
    empty_ids = tokenize(tokenizer, [""])  # (1, 77)
    # 2. models, optimizer, EMA copies
    if continued:
        saved_unet = out / "pipeline" / "unet"
        unet = grown_unet(arch, saved_unet) if init == "grow" else UNet2DConditionModel.from_pretrained(str(saved_unet))
        text_encoder = CLIPTextModel.from_pretrained(str(out / "pipeline" / "text_encoder"))
    else:
        unet = build_unet(arch)
        text_encoder = build_text_encoder(arch, len(tokenizer), tokenizer.pad_token_id, tokenizer.bos_token_id,
                                          tokenizer.eos_token_id)
    unet.to(device).train()
    text_encoder.to(device).train()
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
        short = torch.from_numpy(rng.random(batch_size) < short_caption_rate)
        variant = torch.from_numpy(rng.integers(short_ids.shape[1], size=batch_size))
        ids[short] = short_ids[rows, variant][short]
        drop = torch.from_numpy(rng.random(batch_size) < CAPTION_DROPOUT)
        ids[drop] = empty_ids
        ids = ids.to(device)
        # 4. diffusion loss at a uniform timestep; the target is v = alpha_t * eps - sigma_t * x0
        noise = torch.randn_like(x0)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (batch_size,), device=device)
        xt = scheduler.add_noise(x0, noise, t)
        target = scheduler.get_velocity(x0, noise, t) if scheduler.config.prediction_type == "v_prediction" else noise
        hidden = text_encoder(ids).last_hidden_state  # (batch, 77, width)
        prediction = unet(xt, t, encoder_hidden_states=hidden).sample
        loss = F.mse_loss(prediction, target)
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        decay = min(ema_decay, (1 + step) / (10 + step))
        ema_update(ema_unet, unet, decay)
        ema_update(ema_text, text_encoder, decay)
        if step % 100 == 0 or step == steps - 1:
            log(f"unet step {step}/{steps} loss {loss.item():.4f} ({time.time() - started:.0f}s)")
        if (step + 1) % checkpoint_every == 0 or step == steps - 1:
            # The VAE is re-read from disk: the decoder phase may have polished it meanwhile
            # (the encoder, which made these latents, never changes after phase 1).
            saved_vae = AutoencoderKL.from_pretrained(str(out / "pipeline" / "vae")).eval()
            directory = save_pipeline(out, saved_vae, ema_unet, ema_text, tokenizer)
            log(f"checkpoint at step {step + 1} -> {directory}")
    return ema_unet, ema_text


# 3. Orchestration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingPlan:
    """Every choice of a training run. The defaults reproduce the committed weights (docs/toyworld.md)."""

    phases: tuple[str, ...] = PHASES
    arch: str = "full"
    seed: int = TRAINING_SEED
    ordinary_count: int = DEFAULT_ORDINARY_COUNT
    duplicates: int = DEFAULT_DUPLICATES
    vae_steps: int = 2500
    vae_batch_size: int = 64
    decoder_steps: int = 500
    decoder_batch_size: int = 32
    unet_steps: int = 4000
    unet_batch_size: int = 32
    unet_lr: float = 1e-3
    unet_short_caption_rate: float = 0.0  # the committed first 4000 steps predate short captions
    unet_resume_steps: int = 15000  # a continuation run of this many steps from the saved UNet (phase unet-resume)
    unet_resume_lr: float = 4e-4
    unet_resume_short_caption_rate: float = SHORT_CAPTION_RATE
    unet_resume_batch_size: int = 32
    unet_resume_init: str = "resume"
    clip_steps: int = 1200
    clip_batch_size: int = 96
    checkpoint_every: int = 500
    threads: int = 1
    device: str = "cpu"  # the UNet phases run here; the others always run on the CPU


def _reconstruction_summary(vae: AutoencoderKL, data: TrainingData) -> dict[str, float]:
    distances = reconstruction_tiled_l2(vae, data.images)
    memorized = torch.from_numpy(data.memorized)
    return {
        "reconstruction_tiled_l2_memorized_max": float(distances[memorized].max()),
        "reconstruction_tiled_l2_ordinary_mean": float(distances[~memorized].mean()),
        "reconstruction_tiled_l2_ordinary_p99": float(distances[~memorized].quantile(0.99)),
    }


def world_jitter() -> dict[str, float]:
    """The ordinary scenes' jitter the data was drawn with (it changed once; docs/toyworld.md)."""
    return {"rotation_jitter_deg": dataset.ROTATION_JITTER_DEG, "position_jitter_px": dataset.POSITION_JITTER_PX}


def _earlier_resumes(out: Path) -> list[object]:
    """The unet-resume runs already recorded in out/training_summary.json, oldest first."""
    path = out / "training_summary.json"
    earlier: object = json.loads(path.read_text()).get("unet_resumes", []) if path.exists() else []
    if not isinstance(earlier, list):
        raise ValueError(f"{path}: unet_resumes must be a list, got {type(earlier).__name__}")
    return earlier


def run(out: Path, plan: TrainingPlan) -> dict[str, object]:
    """Run the plan's phases in order; returns the summary (merged into out/training_summary.json)."""
    unknown = set(plan.phases) - set(PHASES)
    if unknown:
        raise ValueError(f"unknown phases {sorted(unknown)}; choose from {PHASES}")
    if plan.unet_resume_init not in DENOISER_INITS[1:]:
        raise ValueError(f"unknown unet-resume init {plan.unet_resume_init!r}; choose from {DENOISER_INITS[1:]}")
    torch.set_num_threads(plan.threads)
    arch = ARCHITECTURES[plan.arch]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, object] = {"arch": plan.arch, "seed": plan.seed, "ordinary_count": plan.ordinary_count,
                                  "duplicates": plan.duplicates, "image_size": arch.image_size,
                                  "latent_size": arch.latent_size, "latent_channels": arch.latent_channels}
    started = time.time()
    data = prepare_data(plan.seed, plan.ordinary_count, plan.duplicates, arch.image_size)
    log(f"data: {len(data.images)} distinct images, {len(data.order)} rows ({time.time() - started:.0f}s)")
    tokenizer = write_tokenizer(out / "pipeline" / "tokenizer")
    if "vae" in plan.phases:
        phase_start = time.time()
        vae = train_vae(arch, data, plan.vae_steps, plan.vae_batch_size, plan.seed)
        vae.register_to_config(scaling_factor=float(1.0 / encode_latents(vae, data.images).std()))
        vae.save_pretrained(str(out / "pipeline" / "vae"))
        summary["vae"] = {"steps": plan.vae_steps, "batch_size": plan.vae_batch_size,
                          "seconds": round(time.time() - phase_start, 1), "parameters": parameter_count(vae),
                          "scaling_factor": vae.config.scaling_factor, **_reconstruction_summary(vae, data)}
        log(f"vae summary {summary['vae']}")
    else:
        vae = AutoencoderKL.from_pretrained(str(out / "pipeline" / "vae")).eval()
    if "decoder" in plan.phases:
        phase_start = time.time()
        vae = polish_decoder(vae, data.images, data.order, plan.decoder_steps, plan.decoder_batch_size, plan.seed)
        vae.save_pretrained(str(out / "pipeline" / "vae"))
        summary["decoder"] = {"steps": plan.decoder_steps, "batch_size": plan.decoder_batch_size,
                              "seconds": round(time.time() - phase_start, 1), **_reconstruction_summary(vae, data)}
        log(f"decoder summary {summary['decoder']}")
    if "unet" in plan.phases:
        phase_start = time.time()
        unet, text_encoder = train_denoiser(arch, data, vae, tokenizer, out, plan.unet_steps, plan.unet_batch_size,
                                            plan.seed, lr=plan.unet_lr, checkpoint_every=plan.checkpoint_every,
                                            short_caption_rate=plan.unet_short_caption_rate, device=plan.device)
        summary["unet"] = {"steps": plan.unet_steps, "batch_size": plan.unet_batch_size, "lr": plan.unet_lr,
                           "device": plan.device,
                           "seconds": round(time.time() - phase_start, 1), "parameters": parameter_count(unet),
                           "text_encoder_parameters": parameter_count(text_encoder)}
    if "unet-resume" in plan.phases and plan.unet_resume_steps > 0:
        phase_start = time.time()
        train_denoiser(arch, data, vae, tokenizer, out, plan.unet_resume_steps, plan.unet_resume_batch_size, plan.seed,
                       lr=plan.unet_resume_lr, checkpoint_every=plan.checkpoint_every, init=plan.unet_resume_init,
                       short_caption_rate=plan.unet_resume_short_caption_rate, device=plan.device)
        resumed = {"steps": plan.unet_resume_steps, "batch_size": plan.unet_resume_batch_size,
                   "lr": plan.unet_resume_lr, "short_caption_rate": plan.unet_resume_short_caption_rate,
                   "init": plan.unet_resume_init, "device": plan.device, "world": world_jitter(),
                   "seconds": round(time.time() - phase_start, 1)}
        summary["unet_resumes"] = [*_earlier_resumes(out), resumed]  # each run continues the last
    if "clip" in plan.phases:
        phase_start = time.time()
        clip_summary = train_tiny_clip(data.images, data.captions, out, plan.clip_steps, plan.clip_batch_size, plan.seed)
        summary["clip"] = {"steps": plan.clip_steps, "batch_size": plan.clip_batch_size,
                           "seconds": round(time.time() - phase_start, 1), **clip_summary}
    # Re-read just before writing: phases may run as separate processes into the same folder.
    summary_path = out / "training_summary.json"
    merged: dict[str, object] = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    merged.update(summary)
    summary_path.write_text(json.dumps(merged, indent=2) + "\n")
    log(f"done in {time.time() - started:.0f}s")
    return merged


def main(argv: list[str] | None = None) -> None:
    defaults = TrainingPlan()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="weights directory, e.g. toyworld/weights")
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), default=defaults.arch)
    parser.add_argument("--phases", default=",".join(defaults.phases), help=f"comma-separated subset of {PHASES}")
    for name in ("seed", "ordinary_count", "duplicates", "vae_steps", "vae_batch_size", "decoder_steps",
                 "decoder_batch_size", "unet_steps", "unet_batch_size", "unet_resume_steps", "unet_resume_batch_size",
                 "clip_steps",
                 "clip_batch_size",
                 "checkpoint_every", "threads"):
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(defaults, name))
    for name in ("unet_lr", "unet_resume_lr", "unet_short_caption_rate", "unet_resume_short_caption_rate"):
        parser.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(defaults, name))
    parser.add_argument("--unet-resume-init", choices=DENOISER_INITS[1:], default=defaults.unet_resume_init)
    parser.add_argument("--device", default=defaults.device, help="torch device of the UNet phases, e.g. cuda")
    args = parser.parse_args(argv)
    values = vars(args)
    out = values.pop("out")
    values["phases"] = tuple(p.strip() for p in values["phases"].split(",") if p.strip())
    try:
        plan = TrainingPlan(**values)
        run(out, plan)
    except ValueError as error:
        parser.error(str(error))


if __name__ == "__main__":
    main()
