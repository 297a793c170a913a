"""Training-image sources (folder, JSONL, Parquet) and bounded reading through swerve.media."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from swerve.errors import (
    ConfigurationError,
    CorruptMediaError,
    MediaIntegrityError,
    MediaTooLargeError,
    MediaUnreachableError,
)
from swerve.index import TrainingImage, read_training_image, training_images_from
from swerve.media import MediaLimits

from .builders import write_image_folder


def test_given_an_image_folder_when_listed_then_sorted_file_uris_with_txt_captions(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "images", 3)
    (tmp_path / "images" / "notes.md").write_text("not an image")
    images = training_images_from(tmp_path / "images")
    assert [Path(i.uri.removeprefix("file://")).name for i in images] == ["000.png", "001.png", "002.png"]
    assert [i.caption for i in images] == ["caption 0", "caption 1", "caption 2"]


def test_given_a_jsonl_manifest_with_relative_uris_when_listed_then_they_resolve_beside_it(tmp_path: Path) -> None:
    paths = write_image_folder(tmp_path / "images", 2)
    digest = hashlib.sha256(paths[1].read_bytes()).hexdigest()
    (tmp_path / "train.jsonl").write_text(
        json.dumps({"uri": "images/000.png", "caption": "zero", "memorized": True}) + "\n\n"
        + json.dumps({"uri": paths[1].as_uri(), "sha256": digest}) + "\n")
    first, second = training_images_from(tmp_path / "train.jsonl")
    assert first.uri == paths[0].resolve().as_uri() and first.caption == "zero" and first.extra == {"memorized": True}
    assert second.sha256 == digest and second.caption == ""


def test_given_a_parquet_manifest_when_listed_then_rows_become_records(tmp_path: Path) -> None:
    paths = write_image_folder(tmp_path / "images", 2)
    pq.write_table(pa.table({"uri": [p.as_uri() for p in paths], "caption": ["a", "b"], "duplicates": [3, 1]}),
                   tmp_path / "train.parquet")
    images = training_images_from(tmp_path / "train.parquet")
    assert [(i.caption, i.extra["duplicates"]) for i in images] == [("a", 3), ("b", 1)]


def test_given_malformed_sources_when_listed_then_configuration_error_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"uri": "a.png"}\n{"caption": "no uri"}\n')
    with pytest.raises(ConfigurationError, match="line 2"):
        training_images_from(tmp_path / "bad.jsonl")
    (tmp_path / "list.csv").write_text("uri\n")
    with pytest.raises(ConfigurationError, match=".jsonl or .parquet"):
        training_images_from(tmp_path / "list.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigurationError, match="no training images"):
        training_images_from(tmp_path / "empty")


def test_given_a_local_image_when_read_then_rgb_pixels_and_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    (path,) = write_image_folder(tmp_path, 1)
    image, record = read_training_image(TrainingImage(uri=path.as_uri()))
    assert image.mode == "RGB" and image.size == (32, 32)
    assert record.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_given_a_declared_sha256_that_does_not_match_when_read_then_integrity_error(tmp_path: Path) -> None:
    (path,) = write_image_folder(tmp_path, 1)
    with pytest.raises(MediaIntegrityError, match=path.name):
        read_training_image(TrainingImage(uri=path.as_uri(), sha256="0" * 64))


def test_given_limits_when_reading_then_oversize_missing_corrupt_and_remote_are_named_errors(tmp_path: Path) -> None:
    (path,) = write_image_folder(tmp_path, 1)
    with pytest.raises(MediaTooLargeError, match="over the limit"):
        read_training_image(TrainingImage(uri=path.as_uri()), MediaLimits(max_bytes=10, max_inline_bytes=10))
    with pytest.raises(MediaUnreachableError, match="not found"):
        read_training_image(TrainingImage(uri=(tmp_path / "gone.png").as_uri()))
    broken = tmp_path / "broken.png"
    broken.write_bytes(path.read_bytes()[:60])
    with pytest.raises(CorruptMediaError, match="broken.png"):
        read_training_image(TrainingImage(uri=broken.as_uri()))
    with pytest.raises(MediaUnreachableError, match="needs sha256, media_type, width and height"):
        read_training_image(TrainingImage(uri="s3://bucket/a.png"))
    with pytest.raises(MediaUnreachableError, match="not allowed"):
        read_training_image(TrainingImage(uri="http://example.com/a.png"))


def test_given_a_remote_row_with_its_reference_fields_when_read_then_it_goes_through_swerve_media(
        tmp_path: Path) -> None:
    import fsspec

    (path,) = write_image_folder(tmp_path, 1)
    data = path.read_bytes()
    with fsspec.open("memory://swerve-index-test/a.png", "wb") as stream:
        stream.write(data)
    record = TrainingImage(uri="memory://swerve-index-test/a.png", sha256=hashlib.sha256(data).hexdigest(),
                           extra={"media_type": "image/png", "width": 32, "height": 32})
    image, read = read_training_image(record)
    assert image.size == (32, 32) and read.sha256 == record.sha256
