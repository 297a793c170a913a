"""The memorization detector's compare size: from the training images' and the generation's
resolution by default, the policy's when it sets one; indexes without recorded sizes still load."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from swerve.detectors import memorization as memorization_module
from swerve.detectors.embedders import shared_embedder
from swerve.detectors.memorization import MemorizationDetector
from swerve.detectors.protocol import Sample
from swerve.detectors.registry import build_detector
from swerve.detectors.tiled_l2 import as_unit_array, default_compare_size
from swerve.errors import PolicyError
from swerve.index import IndexManifest, TrainingImage, TrainingImageSizes, TrainingIndex
from swerve.index.manifest import MANIFEST_NAME
from swerve.media import sha256_hex
from typer.testing import CliRunner

from tests.index.builders import drawn_image

# 6 square training images of 96 px, one 96x144 portrait and one 150x100 landscape: the median
# short side is 96, the most common size 96x96, and the sizes vary.
TRAINING_SIZES = [(96, 96)] * 6 + [(96, 144), (150, 100)]


def drawn(index: int, width: int, height: int) -> Image.Image:
    """``drawn_image(index)`` on a canvas of width x height, its square centred."""
    side = min(width, height)
    canvas = Image.new("RGB", (width, height), (17, 99, 180))
    canvas.paste(drawn_image(index, size=side), ((width - side) // 2, (height - side) // 2))
    return canvas


@pytest.fixture(scope="module")
def training(tmp_path_factory: pytest.TempPathFactory, tiny_open_clip: dict[str, str]) -> Path:
    folder = tmp_path_factory.mktemp("sized-training")
    records = []
    for index, (width, height) in enumerate(TRAINING_SIZES):
        path = folder / f"{index:03d}.png"
        drawn(index, width, height).save(path)
        records.append(TrainingImage(uri=path.as_uri(), caption=f"image {index}", sha256=sha256_hex(path.read_bytes())))
    TrainingIndex.build(folder / "index", records, shared_embedder(tiny_open_clip, "test")).close()
    return folder / "index"


@pytest.fixture
def unsized_index(training: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the bundle whose manifest has no image_sizes, as an index built before they were recorded."""
    copy = tmp_path / "old-index"
    copy.mkdir()
    for file in training.iterdir():
        copy.joinpath(file.name).write_bytes(file.read_bytes())
    manifest = json.loads((copy / MANIFEST_NAME).read_text())
    del manifest["image_sizes"]
    (copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    monkeypatch.setattr(memorization_module, "_warned_unsized", set())  # this test sees its own first warning
    return copy


def detector(index_dir: Path, embedder: dict[str, str], **params: object) -> MemorizationDetector:
    return MemorizationDetector(index_dir=str(index_dir), embedder=embedder, candidate_similarity=0.0, **params)


def score(memorization: MemorizationDetector, image: Image.Image) -> dict[str, object]:
    [result] = memorization.score([Sample("r", image, "0" * 64)])
    return dict(result.evidence)


# --- the index records the training images' sizes -------------------------------------------------

def test_given_training_images_of_several_sizes_when_built_then_the_manifest_records_them(training: Path) -> None:
    sizes = IndexManifest.read(training / MANIFEST_NAME).image_sizes
    assert sizes is not None
    assert (sizes.count, sizes.typical_short_side, sizes.most_common, sizes.varies) == (8, 96, (96, 96), True)
    assert sizes.short_sides == {96: 7, 100: 1}


def test_given_an_add_then_the_sizes_merge(training: Path, tmp_path: Path, tiny_open_clip: dict[str, str]) -> None:
    copy = tmp_path / "index"
    copy.mkdir()
    for file in training.iterdir():
        copy.joinpath(file.name).write_bytes(file.read_bytes())
    extra = [drawn(100 + i, 512, 512) for i in range(9)]
    records = []
    for i, image in enumerate(extra):
        image.save(tmp_path / f"big{i}.png")
        records.append(TrainingImage(uri=(tmp_path / f"big{i}.png").as_uri(), caption=f"big {i}"))
    with TrainingIndex.open(copy, embedder=shared_embedder(tiny_open_clip, "test")) as index:
        index.add(records)
        sizes = index.manifest.image_sizes
    # 8 at 96-100 px and 9 at 512 px: the median moves to 512, and the record follows the count
    assert sizes is not None and sizes.count == 17 and sizes.typical_short_side == 512
    assert sizes.most_common == (512, 512) and IndexManifest.read(copy / MANIFEST_NAME).image_sizes == sizes


def test_given_sizes_when_round_tripped_through_json_then_they_are_equal() -> None:
    sizes = TrainingImageSizes.of([(512, 512), (512, 768), (768, 512), (1024, 1024)])
    assert TrainingImageSizes.from_json(json.loads(json.dumps(sizes.to_json()))) == sizes
    assert sizes.typical_short_side == 512  # lower median of 512, 512, 512, 1024


def test_given_the_cli_build_then_it_reports_the_sizes(tmp_path: Path, tiny_open_clip: dict[str, str]) -> None:
    from swerve.cli.index import app

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        drawn(i, 64, 96).save(folder / f"{i}.png")
    result = CliRunner().invoke(app, ["build", str(folder), "--out", str(tmp_path / "bundle"), "--threads", "1",
                                      "--embedder-model", tiny_open_clip["model"],
                                      "--checkpoint", tiny_open_clip["checkpoint"],
                                      "--model-config", tiny_open_clip["model_config_path"]])
    assert result.exit_code == 0, result.output
    assert "typical short side 64 px, most common 64x96 (3 of 3), all one size" in result.output


# --- the default follows the rule ---------------------------------------------------------------

@pytest.mark.parametrize(("training_side", "generation_side", "expected"), [
    (512, 512, 512),     # SD at 512 on a 512 px training set
    (512, 768, 512),     # SD at 768 (or a 768x1024 portrait): never upsample the training images
    (1024, 1024, 512),   # capped: the cost grows with the square of the side
    (64, 64, 64),        # the toy world
    (96, 50, 48),        # the smaller side, rounded down to the 4x4 grid
    (2, 2, 4),           # at least one pixel per tile
])
def test_given_sides_then_the_default_is_the_smaller_capped_at_512(training_side: int, generation_side: int,
                                                                   expected: int) -> None:
    assert default_compare_size(training_side, generation_side) == expected


@pytest.mark.parametrize(("width", "height", "expected"), [
    (64, 64, 64),      # square, smaller than the training images: the generation's side
    (512, 512, 96),    # square, larger: the training images' typical side
    (80, 120, 80),     # portrait: its short side
    (300, 88, 88),     # landscape: its short side
])
def test_given_a_generation_without_a_policy_size_then_it_is_compared_at_the_rule_size(
        training: Path, tiny_open_clip: dict[str, str], width: int, height: int, expected: int) -> None:
    memorization = detector(training, tiny_open_clip)
    assert memorization.compare_size_for(Image.new("RGB", (width, height))) == expected
    assert score(memorization, drawn(3, width, height))["compare_size"] == expected
    assert memorization.version.endswith("+px:auto<=96")


def test_given_a_portrait_generation_whose_centre_copies_a_square_training_image_then_it_is_flagged(
        training: Path, tiny_open_clip: dict[str, str]) -> None:
    # Given: training image 2 (96x96) in the middle of a 96x144 generation, other bands above and below
    generation = drawn(2, 96, 144)
    generation.paste((250, 250, 0), (0, 0, 96, 24))
    # When / Then: compared on the centred square, it is a near-copy of image 2
    [result] = detector(training, tiny_open_clip).score([Sample("r", generation, "0" * 64)])
    best = min((m for m in result.evidence["matches"] if m["confirmed"]), key=lambda m: m["tiled_l2"])
    assert result.flagged and best["caption"] == "image 2" and best["tiled_l2"] < 0.01


def test_given_a_non_square_image_then_its_centred_square_is_compared() -> None:
    image = drawn(5, 60, 100)  # the 60 px square sits at rows 20..79
    square = image.crop((0, 20, 60, 80))
    assert np.array_equal(as_unit_array(image, 60), as_unit_array(square, 60))
    assert as_unit_array(image, 32).shape == (32, 32, 3)


# --- an index built before the sizes were recorded ------------------------------------------------

def test_given_an_index_without_sizes_then_it_loads_and_falls_back_to_64_with_one_warning(
        unsized_index: Path, tiny_open_clip: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    assert IndexManifest.read(unsized_index / MANIFEST_NAME).image_sizes is None
    with caplog.at_level(logging.WARNING, logger="swerve.detectors.memorization"):
        first = detector(unsized_index, tiny_open_clip)
        second = detector(unsized_index, tiny_open_clip)
    warnings = [r for r in caplog.records if "records no training image sizes" in r.getMessage()]
    assert len(warnings) == 1 and "64 px" in warnings[0].getMessage()
    assert first.training_short_side is None and second.version.endswith("+px:64")
    assert score(first, drawn(3, 512, 512))["compare_size"] == 64


def test_given_an_index_without_sizes_and_a_policy_size_then_nothing_is_warned(
        unsized_index: Path, tiny_open_clip: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="swerve.detectors.memorization"):
        memorization = detector(unsized_index, tiny_open_clip, compare_size=32)
    assert not caplog.records and score(memorization, drawn(3, 96, 96))["compare_size"] == 32


# --- the policy sets it ---------------------------------------------------------------------------

def test_given_a_policy_compare_size_then_it_overrides_the_rule(training: Path, tiny_open_clip: dict[str, str]) -> None:
    memorization = build_detector("memorization", "memorization",
                                  {"index_dir": str(training), "embedder": tiny_open_clip, "compare_size": 128,
                                   "candidate_similarity": 0.0})
    assert isinstance(memorization, MemorizationDetector)
    evidence = score(memorization, drawn(4, 64, 64))
    assert evidence["compare_size"] == 128 and memorization.version.endswith("+px:128")
    assert evidence["min_tiled_l2"] is not None


@pytest.mark.parametrize(("value", "says"), [
    (0, "between 4 and 4096"),
    (-64, "between 4 and 4096"),
    (8192, "between 4 and 4096"),
    (4100, "between 4 and 4096"),
    (30, "multiple of the 4x4 grid"),
    ("512", "integer number of pixels"),
    (512.0, "integer number of pixels"),
    (True, "integer number of pixels"),
])
def test_given_a_nonsense_compare_size_then_the_policy_is_refused_before_the_index_opens(
        tmp_path: Path, tiny_open_clip: dict[str, str], value: object, says: str) -> None:
    # the index folder does not exist: the size is checked first
    with pytest.raises(PolicyError, match=says) as error:
        build_detector("memorization", "mem", {"index_dir": str(tmp_path / "none"), "embedder": tiny_open_clip,
                                               "compare_size": value})
    assert str(error.value).startswith("mem: compare size")


@pytest.mark.parametrize("params", [{"cache_size": 0}, {"cache_mb": 0}, {"cache_mb": -1.0}])
def test_given_a_nonsense_cache_bound_then_the_policy_is_refused(tmp_path: Path, tiny_open_clip: dict[str, str],
                                                                 params: dict[str, object]) -> None:
    with pytest.raises(PolicyError, match="cache_"):
        MemorizationDetector(index_dir=str(tmp_path / "none"), embedder=tiny_open_clip, **params)  # type: ignore[arg-type]


def test_given_a_small_cache_budget_then_decoded_pixels_stay_within_it(training: Path,
                                                                       tiny_open_clip: dict[str, str]) -> None:
    # Given: room for two 96 px squares (27 KiB each) and not three
    memorization = detector(training, tiny_open_clip, cache_mb=60 / 1024)
    # When: a generation is checked against its 5 neighbours at 96 px
    evidence = score(memorization, drawn(1, 96, 96))
    # Then: every neighbour was compared, and at most two squares stayed decoded
    assert all(m["confirmed"] for m in evidence["matches"])  # type: ignore[union-attr]
    assert len(memorization._cache) == 2 and memorization._cache_bytes == 2 * 96 * 96 * 3
