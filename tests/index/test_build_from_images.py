"""TrainingIndex.build from real image files with a real (tiny, random-weight) open_clip model."""

from __future__ import annotations

from pathlib import Path

import pytest
from swerve.errors import ConfigurationError
from swerve.index import TrainingIndex, training_images_from
from swerve.index.open_clip_embedder import OpenClipEmbedder

from .builders import drawn_image, save_random_checkpoint, write_image_folder
from .conftest import TinyModel


@pytest.fixture
def embedder(tiny_model: TinyModel) -> OpenClipEmbedder:
    return OpenClipEmbedder(tiny_model.name, tiny_model.checkpoint, model_config=tiny_model.config, batch_size=8)


def test_given_an_image_folder_when_built_and_queried_with_an_image_then_its_own_file_comes_first(
        tmp_path: Path, embedder: OpenClipEmbedder) -> None:
    # Given: 20 training images in a folder
    write_image_folder(tmp_path / "images", 20)
    progress: list[int] = []
    # When: the bundle is built with the embedder and queried with training image 13
    with TrainingIndex.build(tmp_path / "bundle", training_images_from(tmp_path / "images"), embedder, threads=1,
                             placement="cpu", on_embedded=progress.append) as index:
        (neighbours,) = index.query([drawn_image(13)], 3)
    # Then: image 13 is the nearest, with similarity 1, and the manifest names the exact weights
    assert neighbours[0].caption == "caption 13" and neighbours[0].similarity == pytest.approx(1.0, abs=1e-4)
    assert neighbours[0].uri.endswith("013.png") and neighbours[0].sha256 is not None
    assert sum(progress) == 20 and index.manifest.embedder.version == embedder.version


def test_given_a_bundle_when_adding_images_then_they_are_found(tmp_path: Path, embedder: OpenClipEmbedder) -> None:
    write_image_folder(tmp_path / "images", 10)
    TrainingIndex.build(tmp_path / "bundle", training_images_from(tmp_path / "images"), embedder, threads=1,
                        placement="cpu").close()
    write_image_folder(tmp_path / "more", 12)  # 000..011: 010 and 011 are new
    more = [i for i in training_images_from(tmp_path / "more") if i.uri.endswith(("010.png", "011.png"))]
    with TrainingIndex.open(tmp_path / "bundle", embedder=embedder, threads=1) as index:
        assert index.add(more) == range(10, 12)
        assert index.query([drawn_image(11)], 1)[0][0].id == 11


def test_given_other_weights_when_opening_then_configuration_error(
        tmp_path: Path, tiny_model: TinyModel, embedder: OpenClipEmbedder) -> None:
    write_image_folder(tmp_path / "images", 3)
    TrainingIndex.build(tmp_path / "bundle", training_images_from(tmp_path / "images"), embedder, threads=1,
                        placement="cpu").close()
    other = OpenClipEmbedder(tiny_model.name, save_random_checkpoint(tiny_model.config, tiny_model.name,
                                                                     tmp_path / "other.pt", seed=5),
                             model_config=tiny_model.config)
    with pytest.raises(ConfigurationError, match="not comparable"):
        TrainingIndex.open(tmp_path / "bundle", embedder=other)
