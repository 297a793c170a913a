"""IndexManifest: JSON round trip, and an index_version that follows the content."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from swerve.errors import ConfigurationError
from swerve.index import (
    EmbedderIdentity,
    IndexKind,
    IndexManifest,
    SearchSettings,
    TrainingImage,
)
from swerve.index.manifest import chain_content_digest

from .builders import clustered_unit_vectors


def _manifest(vectors: np.ndarray, images: list[TrainingImage]) -> IndexManifest:
    return IndexManifest(embedder=EmbedderIdentity("open_clip/tiny", "tiny-0123456789ab", vectors.shape[1]),
                         count=len(vectors), index_kind=IndexKind.FLAT,
                         build_params={"kind": "flat", "factory": "Flat", "reason": "under 10k"},
                         search=SearchSettings(), content_digest=chain_content_digest("", vectors, images),
                         created_at="2025-01-01T00:00:00+00:00", updated_at="2025-01-01T00:00:00+00:00")


@pytest.fixture
def content() -> tuple[np.ndarray, list[TrainingImage]]:
    return clustered_unit_vectors(4, 8), [TrainingImage(uri=f"file:///{i}.png", caption=f"c{i}") for i in range(4)]


def test_given_a_manifest_when_written_and_read_then_it_round_trips_with_its_version(
        tmp_path: Path, content: tuple[np.ndarray, list[TrainingImage]]) -> None:
    manifest = _manifest(*content)
    manifest.write(tmp_path / "manifest.json")
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert data["index_version"] == manifest.index_version and manifest.index_version.startswith("iv1-")
    assert {"format_version", "embedder", "metric", "count", "index_kind", "build_params", "search",
            "content_digest", "created_at", "updated_at"} <= set(data)
    assert IndexManifest.read(tmp_path / "manifest.json") == manifest


def test_given_the_same_content_built_twice_then_the_version_is_the_same(
        content: tuple[np.ndarray, list[TrainingImage]]) -> None:
    first, second = _manifest(*content), replace(_manifest(*content), created_at="2030-01-01T00:00:00+00:00")
    # Timestamps, search settings and the budget-dependent reason do not change search results.
    second = replace(second, search=SearchSettings(nprobe=99), build_params={**second.build_params, "reason": "x"})
    assert first.index_version == second.index_version


def test_given_changed_content_then_the_version_changes(content: tuple[np.ndarray, list[TrainingImage]]) -> None:
    vectors, images = content
    base = _manifest(vectors, images).index_version
    recaptioned = [TrainingImage(uri=images[0].uri, caption="other"), *images[1:]]
    assert _manifest(vectors, recaptioned).index_version != base
    assert _manifest(vectors[::-1].copy(), images).index_version != base
    added = _manifest(vectors, images).with_added(5, chain_content_digest("x", vectors[:1], images[:1]))
    assert added.index_version != base and added.count == 5
    other_weights = replace(_manifest(vectors, images), embedder=EmbedderIdentity("open_clip/tiny", "tiny-ffff", 8))
    assert other_weights.index_version != base


def test_given_an_edited_manifest_when_read_then_configuration_error(
        tmp_path: Path, content: tuple[np.ndarray, list[TrainingImage]]) -> None:
    _manifest(*content).write(tmp_path / "manifest.json")
    data = json.loads((tmp_path / "manifest.json").read_text())
    data["count"] = 999
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ConfigurationError, match="edited or corrupted"):
        IndexManifest.read(tmp_path / "manifest.json")


def test_given_an_unknown_format_version_or_garbage_when_read_then_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"format_version": 99}))
    with pytest.raises(ConfigurationError, match="format version"):
        IndexManifest.read(tmp_path / "manifest.json")
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ConfigurationError, match="cannot read"):
        IndexManifest.read(tmp_path / "manifest.json")
