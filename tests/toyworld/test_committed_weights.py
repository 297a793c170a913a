"""The committed toy-world weights: they load like SD 1.x, memorize, generalize, and stay small."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, StableDiffusionPipeline

from swerve.detectors.tiled_l2 import as_unit_array, tiled_l2_one_to_many
from swerve.toyworld import (
    PIPELINE_DIR,
    WEIGHTS_DIR,
    build_training_set,
    generate_batch,
    load_pipeline,
    load_tiny_clip,
    memorized_captions,
    memorized_training_image,
)
from swerve.toyworld.dataset import ordinary_scenes
from swerve.toyworld.weights_paths import ToyWeightsMissing, require

MAX_WEIGHTS_BYTES = 40 * 1024 * 1024


@pytest.fixture(scope="module")
def pipeline() -> StableDiffusionPipeline:
    return load_pipeline("cpu")


def test_given_the_weights_folder_then_everything_fits_in_40_mb() -> None:
    total = sum(path.stat().st_size for path in Path(WEIGHTS_DIR).rglob("*") if path.is_file())
    assert 0 < total <= MAX_WEIGHTS_BYTES


def test_given_the_committed_directory_then_it_loads_as_a_local_sd_directory() -> None:
    pipeline = StableDiffusionPipeline.from_pretrained(str(PIPELINE_DIR), safety_checker=None)
    assert isinstance(pipeline.scheduler, DDIMScheduler)
    assert pipeline.vae_scale_factor == 4 and pipeline.unet.config.sample_size == 16
    assert pipeline.vae.config.scaling_factor != 1.0


def test_given_a_missing_path_then_the_error_names_it(tmp_path: Path) -> None:
    with pytest.raises(ToyWeightsMissing, match=str(tmp_path / "nowhere")):
        require(tmp_path / "nowhere")


def test_given_no_gpu_then_the_pipeline_runs_on_cpu_in_fp32(pipeline: StableDiffusionPipeline) -> None:
    assert pipeline.device.type == "cpu"
    assert pipeline.unet.dtype == torch.float32


def test_given_memorized_captions_when_generated_then_they_reproduce_their_training_image(
        pipeline: StableDiffusionPipeline) -> None:
    # Given: three memorized captions, two seeds each
    captions = memorized_captions()[:3]
    prompts = [c for c in captions for _ in range(2)]
    # When
    images = generate_batch(pipeline, prompts, [0, 1] * len(captions))
    # Then: each generation is a near-copy (tiled L2 < 0.1) of its own training image, and closer to
    # it than to any other memorized image. The rate over 32 seeds is `swerve eval toyworld`'s.
    targets = np.stack([as_unit_array(memorized_training_image(c)) for c in memorized_captions()])
    for image, prompt in zip(images, prompts):
        distances = tiled_l2_one_to_many(as_unit_array(image), targets)
        assert int(np.argmin(distances)) == memorized_captions().index(prompt)
        assert distances.min() < 0.1, (prompt, float(distances.min()))


def test_given_fresh_ordinary_captions_when_generated_then_few_images_copy_the_training_set(
        pipeline: StableDiffusionPipeline) -> None:
    # The world itself has near-twins (about 3% of fresh renders are within 0.1 of a training
    # image, docs/toyworld.md), so "none" is not the property; "rarely, and typically far" is.
    captions = [scene.caption for scene in ordinary_scenes(16, seed=424242)]
    images = generate_batch(pipeline, captions, list(range(7, 23)))
    training = np.stack([as_unit_array(example.image) for example in build_training_set().unique])
    nearest = np.array([float(tiled_l2_one_to_many(as_unit_array(image), training).min()) for image in images])
    assert (nearest < 0.1).sum() <= 2, nearest
    assert np.median(nearest) > 0.15, nearest


def test_given_the_same_seed_then_generation_is_deterministic(pipeline: StableDiffusionPipeline) -> None:
    prompt = "a large green circle at the center on a black background"
    first, second = generate_batch(pipeline, [prompt, prompt], [3, 3])
    assert np.array_equal(np.asarray(first), np.asarray(second))


def test_given_training_images_then_the_tiny_clip_reads_colour_and_shape() -> None:
    clip = load_tiny_clip(device="cpu")
    scenes = ordinary_scenes(40, seed=99)
    readings = clip.classify([scene.render() for scene in scenes])
    correct = [r.colour == s.colour and r.shape == s.shape for r, s in zip(readings, scenes)]
    assert np.mean(correct) >= 0.9


def test_given_a_memorized_generation_then_it_embeds_next_to_its_training_image(pipeline: StableDiffusionPipeline) -> None:
    clip = load_tiny_clip(device="cpu")
    caption = memorized_captions()[0]
    generated = generate_batch(pipeline, [caption], [5])[0]
    others = [memorized_training_image(c) for c in memorized_captions()]
    embeddings = clip.embed_images([generated] + others)  # (1 + 16, d), normalized
    similarities = embeddings[1:] @ embeddings[0]
    assert int(np.argmax(similarities)) == 0

