"""Given an SD-1.x-shaped model (random weights, saved as a local diffusers directory), an
open_clip checkpoint and an index built by `swerve index build` from portrait and landscape
training images, when a real worker runs under a policy that uses every corrector kind on it
(memorization to prompt mitigation; a takedown list per other kind), then a flagged 512x768
original comes back as a 512x768 replacement that records the model it came from, every other
kind replaces its original at that original's size (one off the 8 px grid: generated near it,
resized), and an unflagged original of another shape is delivered as it was."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from swerve.media import ImageRef, MediaLimits, decode_image
from swerve.cli.main import app
from swerve.streams.topic_io import collect, publish_events
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


# Each other corrector kind, with its own params, the original it corrects and that original's (width, height).
OTHER_KINDS = {
    "nudging": ({"iterations": 1}, (768, 512)),
    "gie": ({"concepts": ["red"]}, (384, 384)),
    "baseline.reseed": ({}, (640, 384)),
    "baseline.negative_prompt": ({"copy_terms": ["copy"]}, (256, 512)),
    "baseline.delayed_guidance": ({}, (300, 202)),
}
GENERATION = 'model_dir: "{model_dir}", steps: 2, guidance_scale: 7.5, dtype: float32, device: cpu, scheduler: DDIMScheduler'


def takedown(kind: str) -> Image.Image:
    width, height = OTHER_KINDS[kind][1]
    return training_image(100 + sorted(OTHER_KINDS).index(kind), (width, height))


def policy(path: Path, index_dir: Path, clip: tuple[str, Path, Path], model_dir: Path) -> Path:
    name, checkpoint, config = clip
    generation_params = GENERATION.format(model_dir=model_dir)
    takedowns = "".join(f"""
  - name: takedowns-{kind}
    kind: hash_blocklist
    on_flag: correct
    corrector: {kind}
    params: {{digests: ["{hashlib.sha256(_png(takedown(kind))).hexdigest()}"]}}""" for kind in OTHER_KINDS)
    correctors = "".join(f"""
  - name: {kind}
    kind: {kind}
    params: {{{generation_params}{"".join(f", {k}: {json.dumps(v)}" for k, v in params.items())}}}""" for kind, (params, _) in OTHER_KINDS.items())
    path.write_text(f"""version: "sd-shaped-1"
detectors:{takedowns}
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
    params: {{{generation_params}, max_iterations: 2}}{correctors}
max_attempts: 3
""")
    return path


def test_given_an_sd_shaped_model_when_a_portrait_original_is_flagged_then_the_replacement_has_its_size(
        settings, start_worker, tmp_path: Path, sd1_model_dir: Path, open_clip_model: tuple[str, Path, Path]) -> None:
    # Given an index of portrait, landscape and square training images, and a policy on the SD-shaped model
    build_index(tmp_path / "training", tmp_path / "index", open_clip_model)
    path = policy(tmp_path / "policy.yaml", tmp_path / "index", open_clip_model, sd1_model_dir)
    worker = start_worker("all", SWERVE_POLICY_PATH=str(path))

    # When a copy of the 512x768 training image, a novel 640x384 image and one taken-down image per
    # other corrector kind are generated
    copy = generation("sd", 0, training_image(0, (512, 768)), "a photo of a city street number 0")
    novel = generation("sd", 1, Image.new("RGB", (640, 384), (30, 120, 200)), "a blue photo")
    others = {kind: generation("sd", 10 + i, takedown(kind), "a photo of a red umbrella") for i, kind in enumerate(OTHER_KINDS)}
    asyncio.run(publish_events(settings, "generations", [copy, novel, *others.values()]))

    # Then the copy is replaced at 512x768, by the model the policy names, and the novel one passes as it was
    prefix = settings.topic_prefix

    def outcomes() -> dict[str, object]:
        records = asyncio.run(collect(settings, TopicNames(prefix).delivery, idle_timeout_s=0.5))
        return {event.request_id: event for event in (r.decoded(prefix) for r in records) if event is not None}

    expected = {"sd-0", "sd-1", *(event.request_id for event in others.values())}
    assert wait_until(lambda: expected <= set(outcomes()), timeout_s=240), worker.log_tail()
    delivered = outcomes()
    replaced, passed = delivered["sd-0"], delivered["sd-1"]
    assert replaced.outcome == "replacement", (replaced.reason, worker.log_tail())  # type: ignore[attr-defined]
    assert decode_image(replaced.image, MediaLimits()).size == (512, 768)  # type: ignore[attr-defined]
    assert passed.outcome == "original" and decode_image(passed.image, MediaLimits()).size == (640, 384)  # type: ignore[attr-defined]

    replacements = {event.request_id: event for event in (r.decoded(prefix) for r in asyncio.run(
        collect(settings, TopicNames(prefix).replacements, idle_timeout_s=0.5))) if event is not None}
    replacement = replacements["sd-0"]
    assert replacement.model_id == str(sd1_model_dir) and replacement.method == "prompt_mitigation"  # type: ignore[attr-defined]
    parameters = replacement.parameters  # type: ignore[attr-defined]
    assert (parameters["width"], parameters["height"], parameters["scheduler"]) == (512, 768, "DDIMScheduler")
    assert parameters["revision"].startswith("files-") and "delivered" not in parameters

    # ... and every other corrector kind replaced its original at that original's size
    for kind, event in others.items():
        size = OTHER_KINDS[kind][1]
        outcome = delivered[event.request_id]
        assert outcome.outcome == "replacement", (kind, outcome.reason)  # type: ignore[attr-defined]
        assert decode_image(outcome.image, MediaLimits()).size == size, kind  # type: ignore[attr-defined]
        made = replacements[event.request_id]
        assert made.model_id == str(sd1_model_dir) and made.parameters["scheduler"] == "DDIMScheduler", kind  # type: ignore[attr-defined]
        assert (made.parameters.get("delivered") == list(size)) == bool(size[0] % 8 or size[1] % 8), kind  # type: ignore[attr-defined]
