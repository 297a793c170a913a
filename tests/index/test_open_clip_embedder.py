"""OpenClipEmbedder: any open_clip architecture, weights only from a local checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from swerve.errors import ConfigurationError, ModelNotFoundError
from swerve.index import Embedder, TextEmbedder, file_sha256
from swerve.index.open_clip_embedder import OpenClipEmbedder

from .builders import drawn_image, save_random_checkpoint
from .conftest import TINY_CONFIG, TinyModel

TOY_CONFIG = Path(__file__).resolve().parents[2] / "toyworld" / "model_configs" / "swerve-toy-clip.json"


def test_given_a_tiny_config_and_local_checkpoint_when_embedding_images_then_rows_are_unit_float32(
        tiny_model: TinyModel) -> None:
    # Given: a tiny ViT config and its random weights saved with torch.save
    embedder = OpenClipEmbedder(tiny_model.name, tiny_model.checkpoint, model_config=tiny_model.config, device="cpu")
    # When: five images of various sizes are embedded
    vectors = embedder.embed_images([drawn_image(i, size=24 + 8 * i) for i in range(5)])
    # Then: (5, embed_dim) float32 rows of norm 1, and the embedder satisfies the Protocols
    assert vectors.shape == (5, TINY_CONFIG["embed_dim"]) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert isinstance(embedder, Embedder) and isinstance(embedder, TextEmbedder)
    assert embedder.dim == TINY_CONFIG["embed_dim"] and embedder.name == f"open_clip/{tiny_model.name}"


def test_given_a_checkpoint_when_loaded_then_version_is_model_name_and_short_sha256(tiny_model: TinyModel) -> None:
    embedder = OpenClipEmbedder(tiny_model.name, tiny_model.checkpoint, model_config=tiny_model.config)
    assert embedder.version == f"{tiny_model.name}-{file_sha256(tiny_model.checkpoint)[:12]}"
    assert embedder.checkpoint.sha256 == file_sha256(tiny_model.checkpoint)


def test_given_other_weights_when_loaded_then_the_version_and_the_vectors_differ(
        tiny_model: TinyModel, tmp_path: Path) -> None:
    other = save_random_checkpoint(tiny_model.config, tiny_model.name, tmp_path / "other.pt", seed=1)
    first = OpenClipEmbedder(tiny_model.name, tiny_model.checkpoint, model_config=tiny_model.config)
    second = OpenClipEmbedder(tiny_model.name, other, model_config=tiny_model.config)
    images = [drawn_image(0)]
    assert first.version != second.version
    assert not np.allclose(first.embed_images(images), second.embed_images(images))


def test_given_small_batches_when_embedding_then_results_equal_one_big_batch(tiny_model: TinyModel) -> None:
    images = [drawn_image(i) for i in range(7)]
    batched = OpenClipEmbedder(tiny_model.name, tiny_model.checkpoint, model_config=tiny_model.config, batch_size=2)
    whole = OpenClipEmbedder(tiny_model.name, tiny_model.checkpoint, model_config=tiny_model.config, batch_size=64)
    np.testing.assert_allclose(batched.embed_images(images), whole.embed_images(images), atol=1e-5)


def test_given_texts_when_embedded_then_rows_are_unit_vectors_in_the_same_space(tiny_model: TinyModel) -> None:
    embedder = OpenClipEmbedder(tiny_model.name, tiny_model.checkpoint, model_config=tiny_model.config)
    texts = embedder.embed_texts(["a red circle", "a blue square", "a green star"])
    assert texts.shape == (3, embedder.dim) and texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)


def test_given_a_missing_checkpoint_when_loading_then_model_not_found_names_the_path(
        tiny_model: TinyModel, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "weights.pt"
    with pytest.raises(ModelNotFoundError, match=str(missing)):
        OpenClipEmbedder(tiny_model.name, missing, model_config=tiny_model.config)


def test_given_no_checkpoint_when_loading_then_it_refuses_random_weights(tiny_model: TinyModel) -> None:
    with pytest.raises(ModelNotFoundError, match="no checkpoint"):
        OpenClipEmbedder(tiny_model.name, None, model_config=tiny_model.config)


def test_given_a_hub_tag_when_downloads_are_not_allowed_then_it_is_refused_before_any_download() -> None:
    with pytest.raises(ConfigurationError, match="hub tag"):
        OpenClipEmbedder("ViT-B-32", "laion2b_s34b_b79k")


def test_given_a_missing_model_config_when_loading_then_model_not_found(tiny_model: TinyModel, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="model config"):
        OpenClipEmbedder(tiny_model.name, tiny_model.checkpoint, model_config=tmp_path / f"{tiny_model.name}.json")


def test_given_a_config_whose_stem_is_not_the_model_name_then_configuration_error(
        tiny_model: TinyModel, tmp_path: Path) -> None:
    config = tmp_path / "another-name.json"
    config.write_text(json.dumps(TINY_CONFIG))
    with pytest.raises(ConfigurationError, match="another-name"):
        OpenClipEmbedder(tiny_model.name, tiny_model.checkpoint, model_config=config)


def test_given_an_unknown_model_name_then_configuration_error(tiny_model: TinyModel) -> None:
    with pytest.raises(ConfigurationError, match="no model config"):
        OpenClipEmbedder("swerve-test-never-registered", tiny_model.checkpoint)


def test_given_weights_of_another_architecture_when_loading_then_configuration_error(tmp_path: Path) -> None:
    # Given: a checkpoint of the tiny test config, loaded as the toy world's architecture
    config = tmp_path / "swerve-test-mismatch.json"
    config.write_text(json.dumps(TINY_CONFIG))
    checkpoint = save_random_checkpoint(config, "swerve-test-mismatch", tmp_path / "w.pt", seed=0)
    with pytest.raises(ConfigurationError, match="does not load"):
        OpenClipEmbedder("swerve-toy-clip", checkpoint, model_config=TOY_CONFIG)


def test_given_the_toy_world_config_when_loaded_from_a_local_checkpoint_then_it_embeds(tmp_path: Path) -> None:
    # Given: toyworld's committed model config (the embedder the demo index uses) and random weights
    checkpoint = save_random_checkpoint(TOY_CONFIG, "swerve-toy-clip", tmp_path / "toy.pt", seed=0)
    # When: loaded the way the CLI loads it (model_config JSON + checkpoint path)
    embedder = OpenClipEmbedder("swerve-toy-clip", checkpoint, model_config=TOY_CONFIG)
    # Then: its 64x64 images embed to unit rows of the config's embed_dim
    vectors = embedder.embed_images([drawn_image(0, size=64), drawn_image(1, size=64)])
    assert vectors.shape == (2, json.loads(TOY_CONFIG.read_text())["embed_dim"])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
