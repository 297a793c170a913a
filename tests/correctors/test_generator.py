"""The generation backend: local loading, determinism per seed, and what every replacement records."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from swerve.correctors.generator import (
    DiffusersGenerator,
    build_generator,
    request_seed,
    resolve_dtype,
)
from swerve.errors import ConfigurationError, ModelNotFoundError


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_given_the_same_seed_when_generating_twice_then_the_images_are_identical(generator) -> None:
    first = generator.generate(["a red star"], [7])[0]
    again = generator.generate(["a red star"], [7])[0]
    other = generator.generate(["a red star"], [8])[0]
    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), pixels(other))


def test_given_a_batch_when_generating_then_each_sample_matches_its_own_single_generation(generator) -> None:
    batch = generator.generate(["a red star", "a blue circle"], [1, 2])
    single = generator.generate(["a blue circle"], [2])[0]
    assert len(batch) == 2 and np.abs(pixels(batch[1]) - pixels(single)).max() <= 1


def test_given_a_missing_directory_when_loading_then_model_not_found_names_the_path(tmp_path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelNotFoundError, match=str(missing)):
        DiffusersGenerator.from_directory(missing, device="cpu")


def test_given_a_saved_pipeline_when_loaded_from_its_directory_then_it_generates_the_same_image(
        tiny_pipeline, generator, tmp_path) -> None:
    tiny_pipeline.save_pretrained(tmp_path / "model")
    loaded = DiffusersGenerator.from_directory(tmp_path / "model", device="cpu", steps=3, guidance_scale=5.0)
    assert np.abs(pixels(loaded.generate(["a red star"], [3])[0]) - pixels(generator.generate(["a red star"], [3])[0])).max() <= 1
    record = loaded.record()
    assert record["model_id"] == str(tmp_path / "model") and record["scheduler"] == "DDIMScheduler" and record["steps"] == 3


def test_given_neither_or_both_model_sources_then_build_generator_refuses(generator) -> None:
    with pytest.raises(ConfigurationError):
        build_generator()
    with pytest.raises(ConfigurationError):
        build_generator("somewhere", generator)
    assert build_generator(generator=generator) is generator


def test_given_no_seed_then_the_request_seed_is_derived_stably_from_the_request_id() -> None:
    assert request_seed("r-1", None) == request_seed("r-1", None) != request_seed("r-2", None)
    assert request_seed("r-1", 5) == 5


def test_given_no_dtype_then_cuda_runs_in_float16_and_the_cpu_in_float32() -> None:
    assert resolve_dtype(torch.device("cuda"), None) == torch.float16
    assert resolve_dtype(torch.device("cpu"), None) == torch.float32
    assert resolve_dtype(torch.device("cuda"), "float32") == torch.float32


def test_given_an_unknown_dtype_then_loading_refuses_with_the_choices(tiny_pipeline, tmp_path) -> None:
    tiny_pipeline.save_pretrained(tmp_path / "model")
    with pytest.raises(ConfigurationError, match="float16"):
        DiffusersGenerator.from_directory(tmp_path / "model", device="cpu", dtype="float8")
    loaded = DiffusersGenerator.from_directory(tmp_path / "model", device="cpu", dtype="bfloat16", steps=2)
    assert loaded.pipeline.unet.dtype == torch.bfloat16


def test_given_a_non_square_original_then_the_sized_generator_generates_and_delivers_at_its_size(generator) -> None:
    from PIL import Image

    sized = generator.sized_for(Image.new("RGB", (48, 24)))
    [image] = sized.generate(["a red star"], [3])
    assert image.size == (48, 24) and sized.record()["width"] == 48 and sized.record()["height"] == 24
    assert "delivered" not in sized.record()
    assert generator.width == generator.height == 32  # the shared generator is not changed


def test_given_an_original_off_the_models_grid_then_it_is_generated_near_and_resized_to_its_own_size(generator) -> None:
    from PIL import Image

    sized = generator.sized_for(Image.new("RGB", (50, 30)))  # the tiny VAE's scale factor is 4
    [image] = sized.generate(["a red star"], [3])
    assert image.size == (50, 30)
    assert (sized.width, sized.height) == (48, 32) and sized.record()["delivered"] == [50, 30]


def test_given_policy_generation_settings_when_loading_then_each_applies_and_ids_are_the_models(tiny_pipeline, tmp_path) -> None:
    tiny_pipeline.save_pretrained(tmp_path / "model")
    loaded = build_generator(tmp_path / "model", device="cpu", dtype="float32", steps=2, guidance_scale=4.0,
                             scheduler="EulerDiscreteScheduler", model_id="acme/sd-tiny", height=24, width=40)
    record = loaded.sized_for(__import__("PIL.Image").Image.new("RGB", (64, 64))).record()
    assert (record["model_id"], record["scheduler"], record["steps"], record["guidance_scale"]) == \
        ("acme/sd-tiny", "EulerDiscreteScheduler", 2, 4.0)
    assert (record["width"], record["height"], record["delivered"]) == (40, 24, [64, 64])
    assert record["revision"].startswith("files-") and loaded.pipeline.unet.dtype == torch.float32
    # the cached pipeline other correctors share keeps its own scheduler, and the same weights
    shared = DiffusersGenerator.from_directory(tmp_path / "model", device="cpu", dtype="float32")
    assert shared.scheduler_name == "DDIMScheduler" and shared.pipeline.unet is loaded.pipeline.unet


@pytest.mark.parametrize(("settings", "message"), [
    ({"dtype": "float8"}, "dtype"),
    ({"steps": 0}, "steps"),
    ({"scheduler": "NoSuchScheduler"}, "unknown scheduler 'NoSuchScheduler'.*DDIMScheduler"),
    ({"scheduler": "DDPMWuerstchenScheduler"}, "not compatible with this model's DDIMScheduler"),
    ({"heigth": 512}, r"heigth: Extra inputs are not permitted.*accepted: device, dtype, steps"),
    ({"height": 30, "width": 32}, "height 30 is not a multiple of the model's VAE scale factor 4"),
])
def test_given_bad_generation_settings_then_loading_refuses_naming_the_setting(tiny_pipeline, tmp_path, settings, message) -> None:
    tiny_pipeline.save_pretrained(tmp_path / "model")
    with pytest.raises(ConfigurationError, match=message):
        build_generator(tmp_path / "model", device="cpu", **settings)


def test_given_a_generator_and_settings_then_build_generator_refuses_rather_than_ignore_them(generator) -> None:
    with pytest.raises(ConfigurationError, match="apply to a model_dir"):
        build_generator(generator=generator, steps=5)
