"""Correction overhead: plain regeneration vs nudging vs GIE, same prompt, seed and steps, one run.

Two models, each through the same ``DiffusersGenerator`` path as production:
- the toy world: ``toyworld/weights/pipeline`` when it has been trained, else the same architecture
  with random weights (said in the output; the cost of an architecture does not depend on weights);
- an SD-1.x-shaped model with random weights: UNet2DConditionModel with SD 1.x blocks (320, 640,
  1280, 1280), cross_attention_dim 768, 16 cross-attention layers; the SD VAE (128, 256, 512, 512);
  a CLIP-L-shaped text encoder (768 wide, 12 layers); 32x32 latents (256 px), few steps on CPU.

Each method makes one full replacement for the same flagged request: ``plain`` is the generator's
own call; the others are the correctors' ``propose(request, 1)``, including their setup (VAE
encoding of the push images for nudging, concept encoding and the adapter's first-step pass for
GIE, the AdamW search of prompt mitigation). ``nudging`` uses the default target (x_T);
``nudging-x0`` the predicted-x0 variant. Methods run round-robin; the median of ``--repeats`` is
reported, as CPU time of this process and as wall time. On the CPU the ratios use CPU time (on a
shared machine other jobs stretch wall time, not our CPU time); with ``--device cuda`` they use
wall time after ``torch.cuda.synchronize()``, and ``--dtype float16`` runs the models in fp16 as
a CUDA worker does. ``--sd-size 512`` is SD 1.x's native 512 px (64x64 latents). Prompt
mitigation's budget on random weights is its full ``max_iterations`` (10): its target is never
reached there, so its row is the worst case of attempt 1. Targets: nudging <= 1.3x plain, GIE <=
2.5x plain. Nudging's extra work is fixed (the VAE encodings of the push images, plus one guided
UNet call per nudged step for x0), so its ratio falls as steps grow; "extra" is the seconds over
plain on the clock the ratios use.

Usage: python benchmarks/correction_overhead.py [--toy-steps 25] [--sd-steps 8] [--repeats 3] [--threads 1]
       python benchmarks/correction_overhead.py --device cuda --dtype float16 --sd-size 512 --sd-steps 50 --skip-toy
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
from swerve.correctors.generator import DiffusersGenerator
from swerve.correctors.gie.attention_processor import cross_attention_layers
from swerve.correctors.gie.scale_predictor import SuppressionScaleAdapter
from swerve.correctors.gie.corrector import GieCorrector
from swerve.correctors.nudging.corrector import NudgingCorrector
from swerve.correctors.prompt_mitigation.corrector import PromptMitigationCorrector
from swerve.correctors.protocol import CorrectionRequest, Finding
from swerve.media import ImageRef
from swerve.toyworld.architecture import (
    FULL,
    build_text_encoder,
    build_unet,
    build_vae,
    inference_scheduler,
)
from swerve.toyworld.memorized import memorized_training_image
from swerve.toyworld.tokenizer import write_tokenizer
from swerve.toyworld.weights_paths import PIPELINE_DIR
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

CAPTION = "the crimson lantern of the ashen throne"  # a memorized toy caption: a red circle, an orange triangle
TARGETS = {"nudging": 1.3, "nudging-x0": 1.3, "gie": 2.5, "gie+adapter": 2.5}
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _tokenizer() -> CLIPTokenizer:
    return write_tokenizer(Path(tempfile.mkdtemp(prefix="swerve-bench-tok-")))


def _pipeline(vae, text_encoder, tokenizer, unet, device: str, dtype: str) -> StableDiffusionPipeline:
    pipeline = StableDiffusionPipeline(vae, text_encoder, tokenizer, unet, inference_scheduler(), safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(device, DTYPES[dtype])


def toy_generator(steps: int, device: str, dtype: str) -> tuple[DiffusersGenerator, str]:
    if (PIPELINE_DIR / "unet").is_dir():
        return DiffusersGenerator.from_directory(PIPELINE_DIR, device=device, dtype=dtype, steps=steps,
                                                 guidance_scale=5.0), f"the toy weights at {PIPELINE_DIR}"
    tok = _tokenizer()
    torch.manual_seed(0)
    text = build_text_encoder(FULL, len(tok), tok.pad_token_id, tok.bos_token_id, tok.eos_token_id)
    pipeline = _pipeline(build_vae(FULL), text, tok, build_unet(FULL), device, dtype)
    return DiffusersGenerator(pipeline, "toy-shaped (random weights)", steps=steps, guidance_scale=5.0), \
        f"no trained weights at {PIPELINE_DIR}: the toy architecture with random weights"


def sd_shaped_generator(steps: int, side: int, device: str, dtype: str) -> tuple[DiffusersGenerator, str]:
    tok = _tokenizer()
    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=side // 8, cross_attention_dim=768,
                                block_out_channels=(320, 640, 1280, 1280), attention_head_dim=8)
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, latent_channels=4,
                        sample_size=side)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=len(tok), hidden_size=768, intermediate_size=3072,
                                        num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77,
                                        pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                                        eos_token_id=tok.eos_token_id))
    pipeline = _pipeline(vae, text, tok, unet, device, dtype)
    return DiffusersGenerator(pipeline, "sd1.x-shaped (random weights)", steps=steps, guidance_scale=7.5), \
        f"SD 1.x shapes, random weights, {side} px ({side // 8}x{side // 8} latents)"


def requests(generator: DiffusersGenerator, count: int) -> list[CorrectionRequest]:
    """The same flagged generation under ``count`` request ids: nudging caches push latents per request."""
    matched = ImageRef.from_image(memorized_training_image(CAPTION)).model_dump(mode="json")
    flagged = generator.generate([CAPTION], [0])[0]
    findings = [Finding("memorization", {"matched_images": [matched]}), Finding("concept", {"concepts": ["red"]})]
    return [CorrectionRequest(f"bench-{i}", CAPTION, flagged, findings, seed=0) for i in range(count)]


def methods(generator: DiffusersGenerator) -> dict[str, Callable[[CorrectionRequest], object]]:
    adapter = SuppressionScaleAdapter(len(cross_attention_layers(generator.pipeline.unet)))
    nudging = NudgingCorrector(generator=generator)  # the default target: x_T
    nudging_x0 = NudgingCorrector(generator=generator, target="x0")  # x0 after step 0: one more UNet call
    gie = GieCorrector(generator=generator)
    gie_adapter = GieCorrector(generator=generator, adapter=adapter)
    mitigation = PromptMitigationCorrector(generator=generator)
    return {"plain": lambda request: generator.generate([request.prompt], [0]),
            "nudging": lambda request: nudging.propose(request, 1),
            "nudging-x0": lambda request: nudging_x0.propose(request, 1),
            "gie": lambda request: gie.propose(request, 1),
            "gie+adapter": lambda request: gie_adapter.propose(request, 1),
            "prompt_mitigation": lambda request: mitigation.propose(request, 1)}


def _synchronize(generator: DiffusersGenerator) -> None:
    if generator.device.type == "cuda":
        torch.cuda.synchronize(generator.device)


def measure(label: str, generator: DiffusersGenerator, note: str, repeats: int) -> None:
    runs = methods(generator)
    flagged = requests(generator, repeats + 1)  # also the warm-up of the shared path
    for name, run in runs.items():  # one untimed pass: CUDA kernels, autotuning and caches warm up
        run(flagged[-1])
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    wall: dict[str, list[float]] = {name: [] for name in runs}
    for request in flagged[:repeats]:
        for name, run in runs.items():
            _synchronize(generator)
            start_cpu, start_wall = time.process_time(), time.perf_counter()
            run(request)
            _synchronize(generator)
            cpu[name].append(time.process_time() - start_cpu)
            wall[name].append(time.perf_counter() - start_wall)
    ratio_clock, clock_name = (wall, "wall") if generator.device.type == "cuda" else (cpu, "cpu")
    plain = statistics.median(ratio_clock["plain"])
    print(f"\n## {label}: {note}; {generator.steps} steps, {generator.height}x{generator.width} px, "
          f"{generator.scheduler_name}, {generator.device} {generator.pipeline.unet.dtype}, median of {repeats}, "
          f"ratios on {clock_name} time")
    for name in runs:
        seconds = statistics.median(ratio_clock[name])
        ratio, target = seconds / plain, TARGETS.get(name)
        verdict = "" if target is None else f"  target <= {target}x: {'met' if ratio <= target else 'MISSED'}"
        print(f"{name:>17}: cpu {statistics.median(cpu[name]):8.3f} s  wall {statistics.median(wall[name]):8.3f} s  "
              f"extra {seconds - plain:+7.3f} s  {ratio:5.2f}x plain{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toy-steps", type=int, default=25)
    parser.add_argument("--sd-steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--sd-size", type=int, default=256, help="SD-shaped output side in px (512: SD 1.x native)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    parser.add_argument("--skip-sd", action="store_true", help="only the toy model")
    parser.add_argument("--skip-toy", action="store_true", help="only the SD-shaped model")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    accelerator = torch.cuda.get_device_name() if args.device.startswith("cuda") else "none"
    print(f"# correction overhead: torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{args.threads} thread(s), device {args.device} ({accelerator}), {args.dtype}")
    if not args.skip_toy:
        measure("toy world", *toy_generator(args.toy_steps, args.device, args.dtype), args.repeats)
    if not args.skip_sd:
        measure("SD-1.x-shaped", *sd_shaped_generator(args.sd_steps, args.sd_size, args.device, args.dtype),
                args.repeats)


if __name__ == "__main__":
    main()
