"""TrainingIndex: the bundle folder, built from vectors: query, incremental add, mmap open, versions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from swerve.errors import ConfigurationError
from swerve.index import (
    ChoiceRules,
    EmbedderIdentity,
    IndexKind,
    TrainingImage,
    TrainingIndex,
    plan_ivf_pq_refine,
)

from .builders import clustered_unit_vectors

DIM = 32
EMBEDDER = EmbedderIdentity(name="open_clip/test", version="test-0123456789ab", dim=DIM)


def _images(count: int, start: int = 0) -> list[TrainingImage]:
    return [TrainingImage(uri=f"file:///train/{i}.png", caption=f"caption {i}", sha256=f"{i:064x}")
            for i in range(start, start + count)]


def _build(directory: Path, vectors: np.ndarray, **options: object) -> TrainingIndex:
    return TrainingIndex.build_from_vectors(directory, vectors, _images(len(vectors)), embedder=EMBEDDER,
                                            threads=1, placement="cpu", **options)  # type: ignore[arg-type]


def test_given_a_built_bundle_when_querying_a_stored_vector_then_it_is_its_own_nearest_neighbour(
        tmp_path: Path) -> None:
    vectors = clustered_unit_vectors(500, DIM)
    with _build(tmp_path / "bundle", vectors) as index:
        assert sorted(p.name for p in (tmp_path / "bundle").iterdir()) == ["index.faiss", "manifest.json",
                                                                        "metadata.sqlite"]
        neighbours = index.query(vectors[[7, 42]], 3)
    assert [row[0].id for row in neighbours] == [7, 42]
    first = neighbours[0][0]
    assert first.similarity == pytest.approx(1.0, abs=1e-5)
    assert (first.uri, first.caption, first.sha256) == ("file:///train/7.png", "caption 7", f"{7:064x}")


def test_given_a_bundle_when_adding_then_ids_continue_metadata_follows_and_the_version_changes(
        tmp_path: Path) -> None:
    vectors = clustered_unit_vectors(700, DIM)
    with _build(tmp_path / "bundle", vectors[:500]) as index:
        before = index.index_version
        ids = index.add_vectors(vectors[500:], _images(200, start=500))
        assert ids == range(500, 700) and index.count == 700
        assert index.index_version != before
        assert index.query(vectors[650:651], 1)[0][0].caption == "caption 650"
    # Then: the files on disk agree after a reopen
    with TrainingIndex.open(tmp_path / "bundle", threads=1) as reopened:
        assert reopened.count == 700 and reopened.index_version == index.index_version
        assert reopened.query(vectors[699:700], 1)[0][0].id == 699


def test_given_the_same_vectors_built_twice_then_the_index_version_is_the_same(tmp_path: Path) -> None:
    vectors = clustered_unit_vectors(300, DIM)
    with _build(tmp_path / "a", vectors) as first, _build(tmp_path / "b", vectors) as second:
        assert first.index_version == second.index_version


def test_given_an_ivf_pq_bundle_when_opened_with_mmap_then_it_is_mapped_and_adds_still_work(tmp_path: Path) -> None:
    # Given: the large-scale structure, scaled down to 12k vectors
    vectors = clustered_unit_vectors(12_100, DIM)
    _build(tmp_path / "bundle", vectors[:12_000], choice=plan_ivf_pq_refine(12_000, DIM)).close()
    # When: opened memory-mapped (the default)
    with TrainingIndex.open(tmp_path / "bundle", mmap=True, threads=1) as index:
        assert index.vectors.memory_mapped and index.manifest.index_kind is IndexKind.IVF_PQ_REFINE
        unmapped = TrainingIndex.open(tmp_path / "bundle", mmap=False, threads=1, read_only=True)
        np.testing.assert_array_equal(index.search(vectors[:50], 5)[1], unmapped.search(vectors[:50], 5)[1])
        unmapped.close()
        # Then: an add copies, writes, and maps the new file again
        index.add_vectors(vectors[12_000:], _images(100, start=12_000))
        assert index.vectors.memory_mapped and index.count == 12_100
        assert index.query(vectors[12_050:12_051], 1)[0][0].id == 12_050


def test_given_a_budget_when_building_then_the_manifest_records_the_choice(tmp_path: Path) -> None:
    vectors = clustered_unit_vectors(2_000, DIM)
    rules = ChoiceRules(flat_max_vectors=1_000)
    with _build(tmp_path / "bundle", vectors, rules=rules, memory_budget_mb=64) as index:
        manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["index_kind"] == "ivf_flat" and manifest["build_params"]["factory"] == "IVF32,Flat"  # 2000/39 caps 4*sqrt(N)
    assert manifest["embedder"] == {"name": "open_clip/test", "version": "test-0123456789ab", "dim": DIM}
    assert manifest["count"] == 2_000 and manifest["index_version"] == index.index_version


def test_given_a_read_only_bundle_when_adding_then_configuration_error(tmp_path: Path) -> None:
    vectors = clustered_unit_vectors(20, DIM)
    _build(tmp_path / "bundle", vectors).close()
    with (TrainingIndex.open(tmp_path / "bundle", read_only=True, threads=1) as index,
          pytest.raises(ConfigurationError, match="read-only")):
        index.add_vectors(vectors[:1], _images(1, start=20))


def test_given_an_existing_bundle_when_building_again_then_it_needs_overwrite(tmp_path: Path) -> None:
    vectors = clustered_unit_vectors(20, DIM)
    _build(tmp_path / "bundle", vectors).close()
    with pytest.raises(ConfigurationError, match="overwrite"):
        _build(tmp_path / "bundle", vectors)
    _build(tmp_path / "bundle", vectors[:10], overwrite=True).close()
    assert TrainingIndex.open(tmp_path / "bundle", threads=1).count == 10
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]  # no staging or retired folders left


def test_given_a_folder_that_is_not_a_bundle_when_building_there_then_it_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigurationError, match="holds no index bundle"):
        _build(tmp_path / "photos", clustered_unit_vectors(5, DIM), overwrite=True)
    assert (tmp_path / "photos" / "keep.txt").read_text() == "mine"


def test_given_an_index_file_from_another_bundle_when_opening_then_configuration_error(tmp_path: Path) -> None:
    vectors = clustered_unit_vectors(30, DIM)
    _build(tmp_path / "a", vectors).close()
    _build(tmp_path / "b", vectors[:20]).close()
    (tmp_path / "b" / "index.faiss").replace(tmp_path / "a" / "index.faiss")
    with pytest.raises(ConfigurationError, match="rebuild or restore"):
        TrainingIndex.open(tmp_path / "a", threads=1)


def test_given_images_but_no_embedder_when_querying_then_configuration_error_names_the_embedder(
        tmp_path: Path) -> None:
    from .builders import drawn_image

    with (_build(tmp_path / "bundle", clustered_unit_vectors(5, DIM)) as index,
          pytest.raises(ConfigurationError, match="test-0123456789ab")):
        index.query([drawn_image(0)], 1)
