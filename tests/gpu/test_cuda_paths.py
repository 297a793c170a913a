"""The CUDA path: the committed toy world in fp16 on a GPU, generating and correcting as on the CPU.

Skipped where there is no CUDA device (CI has none); run on a GPU machine with
`python -m pytest tests/gpu -q`. docs/operations.md records the last run.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from swerve.correctors.generator import DiffusersGenerator
from swerve.correctors.gie.corrector import GieCorrector
from swerve.correctors.nudging.corrector import NudgingCorrector
from swerve.correctors.prompt_mitigation.corrector import PromptMitigationCorrector
from swerve.correctors.protocol import CorrectionRequest, Finding
from swerve.detectors.tiled_l2 import NEAR_COPY_THRESHOLD, tiled_l2
from swerve.toyworld import DEFAULT_GUIDANCE_SCALE, DEFAULT_STEPS, load_tiny_clip, memorized_captions
from swerve.toyworld.memorized import memorized_training_image
from swerve.toyworld.weights_paths import PIPELINE_DIR

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

RED_PROMPTS = ["a large red square at the center on a white background",
               "a medium red circle at the top left on a navy background",
               "a large red star at the bottom right on a black background",
               "a medium red triangle at the center on a gray background"]


def toy_generator(device: str, dtype: str | None = None) -> DiffusersGenerator:
    return DiffusersGenerator.from_directory(PIPELINE_DIR, device=device, dtype=dtype, steps=DEFAULT_STEPS,
                                             guidance_scale=DEFAULT_GUIDANCE_SCALE)


@pytest.fixture(scope="module")
def cuda_generator() -> DiffusersGenerator:
    return toy_generator("cuda")


def memorized_request(generator: DiffusersGenerator, seed: int = 3) -> CorrectionRequest:
    caption = memorized_captions()[0]
    [image] = generator.generate([caption], [seed])
    return CorrectionRequest("gpu-check", caption, image, [Finding("memorization", {})], seed=seed)


def test_given_cuda_then_the_toy_pipeline_runs_in_fp16_and_a_seed_repeats_exactly(cuda_generator) -> None:
    assert cuda_generator.pipeline.unet.dtype == torch.float16
    caption = memorized_captions()[0]
    first, second = cuda_generator.generate([caption, caption], [3, 3])
    assert np.array_equal(np.asarray(first), np.asarray(second))
    # the toy model memorizes on the GPU too
    assert tiled_l2(first, memorized_training_image(caption)) < NEAR_COPY_THRESHOLD


def test_given_the_same_prompts_and_seeds_then_fp32_cuda_reproduces_the_cpu() -> None:
    # fp16 is not held to this: on an H100 it gave another sample for RED_PROMPTS[0] (tiled L2 0.30)
    on_gpu = toy_generator("cuda", dtype="float32").generate(RED_PROMPTS, [11] * len(RED_PROMPTS))
    on_cpu = toy_generator("cpu").generate(RED_PROMPTS, [11] * len(RED_PROMPTS))
    assert max(tiled_l2(a, b) for a, b in zip(on_gpu, on_cpu)) < 0.01


def test_given_a_memorized_output_when_prompt_mitigation_runs_in_fp16_then_the_copy_is_gone(cuda_generator) -> None:
    request = memorized_request(cuda_generator)
    candidate = PromptMitigationCorrector(generator=cuda_generator).propose(request, 1)
    assert tiled_l2(candidate.image, memorized_training_image(request.prompt)) >= NEAR_COPY_THRESHOLD
    assert np.isfinite(np.asarray(candidate.image, dtype=np.float32)).all()


def test_given_a_memorized_output_when_nudged_in_fp16_then_the_replacement_moves_away(cuda_generator) -> None:
    request = memorized_request(cuda_generator)
    candidate = NudgingCorrector(generator=cuda_generator).propose(request, 3)
    training = memorized_training_image(request.prompt)
    assert tiled_l2(candidate.image, training) > tiled_l2(request.image, training)


def test_given_red_prompts_when_gie_erases_red_in_fp16_then_most_lose_it_and_processors_come_back(cuda_generator) -> None:
    unet = cuda_generator.pipeline.unet
    before = {name: type(p) for name, p in unet.attn_processors.items()}
    gie = GieCorrector(generator=cuda_generator, concepts=["red"])
    erased = [gie.propose(CorrectionRequest(f"gie-{i}", p, memorized_training_image(memorized_captions()[0]), [],
                                            seed=i), 1).image for i, p in enumerate(RED_PROMPTS)]
    colours = [reading.colour for reading in load_tiny_clip(device=cuda_generator.device.type).classify(erased)]
    assert sum(c != "red" for c in colours) >= 3, colours
    assert {name: type(p) for name, p in unet.attn_processors.items()} == before
