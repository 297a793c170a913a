"""Given an SD-1.x-shaped model (random weights, saved as a local diffusers directory), an
open_clip checkpoint and an index built by `swerve index build` from portrait and landscape
training images, when a real worker runs under a policy that corrects memorization with it,
then a flagged 512x768 original comes back as a 512x768 replacement that records the model it
came from, and an unflagged original of another shape is delivered as it was."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from swerve.media import ImageRef, MediaLimits, decode_image
from swerve.streams.cli import app
from swerve.streams.client import collect, publish_events
from swerve.streams.events import GenerationEvent
from swerve.streams.ids import derive_id
from swerve.streams.topics import TopicNames

from ..sd_shapes import conftest as sd_shapes
from .conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

sd1_model_dir = sd_shapes.sd1_shaped_pipeline_dir
open_clip_model = sd_shapes.sd_shapes_open_clip

# (width, height): portrait as the flagged one, landscape, square
TRAINING_SIZES = [(512, 768), (768, 512), (384, 384)]


def training_image(index: int, size: tuple[int, int]) -> Image.Image:
    """A smooth picture (small PNG) with a distinct layout per index."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(index)
    a, b, c = rng.uniform(0.2, 1.0, 3)
    pixels = np.stack([(x / width) * 255 * a, (y / height) * 255 * b, ((x + y) % 97) / 97 * 255 * c], axis=-1)
    return Image.fromarray(pixels.astype(np.uint8))


def generation(run: str, index: int, image: Image.Image, prompt: str) -> GenerationEvent:
    request_id = f"{run}-{index}"
    ref = ImageRef.from_bytes(_png(image), limits=MediaLimits())
    return GenerationEvent(id=derive_id(request_id, "generation"), request_id=request_id, prompt=prompt, seed=index, image=ref)


def _png(image: Image.Image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def build_index(folder: Path, out: Path, clip: tuple[str, Path, Path]) -> None:
    folder.mkdir()
    for index, size in enumerate(TRAINING_SIZES):
        training_image(index, size).save(folder / f"train-{index}.png")
        (folder / f"train-{index}.txt").write_text(f"a photo of a city street number {index}")
    name, checkpoint, config = clip
    result = CliRunner().invoke(app, ["index", "build", str(folder), "--out", str(out), "--embedder-model", name,
                                      "--checkpoint", str(checkpoint), "--model-config", str(config), "--device", "cpu"])
    assert result.exit_code == 0, result.output


def policy(path: Path, index_dir: Path, clip: tuple[str, Path, Path], model_dir: Path) -> Path:
    name, checkpoint, config = clip
    path.write_text(f"""version: "sd-shaped-1"
detectors:
  - name: memorization
    kind: memorization
    on_flag: correct
    corrector: mitigation
    params:
      index_dir: "{index_dir}"
      embedder: {{model: {name}, checkpoint: "{checkpoint}", model_config_path: "{config}", device: cpu}}
      k: 3
      candidate_similarity: 0.5
      tiled_l2_threshold: 0.1
      clearance: {{tiled_l2: 0.15}}
correctors:
  - name: mitigation
    kind: prompt_mitigation
    params: {{model_dir: "{model_dir}", steps: 2, guidance_scale: 7.5, dtype: float32, device: cpu,
              scheduler: DDIMScheduler, max_iterations: 2}}
max_attempts: 3
""")
    return path


def test_given_an_sd_shaped_model_when_a_portrait_original_is_flagged_then_the_replacement_has_its_size(
        settings, start_worker, tmp_path: Path, sd1_model_dir: Path, open_clip_model: tuple[str, Path, Path]) -> None:
    # Given an index of portrait, landscape and square training images, and a policy on the SD-shaped model
    build_index(tmp_path / "training", tmp_path / "index", open_clip_model)
    path = policy(tmp_path / "policy.yaml", tmp_path / "index", open_clip_model, sd1_model_dir)
    worker = start_worker("all", SWERVE_POLICY_PATH=str(path))

    # When a copy of the 512x768 training image and a novel 640x384 image are generated
    copy = generation("sd", 0, training_image(0, (512, 768)), "a photo of a city street number 0")
    novel = generation("sd", 1, Image.new("RGB", (640, 384), (30, 120, 200)), "a blue photo")
    asyncio.run(publish_events(settings, "generations", [copy, novel]))

    # Then the copy is replaced at 512x768, by the model the policy names, and the novel one passes as it was
    prefix = settings.topic_prefix

    def outcomes() -> dict[str, object]:
        records = asyncio.run(collect(settings, TopicNames(prefix).delivery, idle_timeout_s=0.5))
        return {event.request_id: event for event in (r.decoded(prefix) for r in records) if event is not None}

    assert wait_until(lambda: {"sd-0", "sd-1"} <= set(outcomes()), timeout_s=240), worker.log_tail()
    delivered = outcomes()
    replaced, passed = delivered["sd-0"], delivered["sd-1"]
    assert replaced.outcome == "replacement", (replaced.reason, worker.log_tail())  # type: ignore[attr-defined]
    assert decode_image(replaced.image, MediaLimits()).size == (512, 768)  # type: ignore[attr-defined]
    assert passed.outcome == "original" and decode_image(passed.image, MediaLimits()).size == (640, 384)  # type: ignore[attr-defined]

    replacements = asyncio.run(collect(settings, TopicNames(prefix).replacements, idle_timeout_s=0.5))
    [replacement] = [r.decoded(prefix) for r in replacements]
    assert replacement.model_id == str(sd1_model_dir)  # type: ignore[union-attr]
    parameters = replacement.parameters  # type: ignore[union-attr]
    assert (parameters["width"], parameters["height"], parameters["scheduler"]) == (512, 768, "DDIMScheduler")
    assert parameters["revision"].startswith("files-") and "delivered" not in parameters
