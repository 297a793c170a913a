"""MetadataStore: bulk insert and lookup of training-image records by id, in SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from swerve.errors import ConfigurationError
from swerve.index import MetadataStore, TrainingImage

SHA = "ab" * 32


def _images(count: int, start: int = 0) -> list[TrainingImage]:
    return [TrainingImage(uri=f"file:///data/{i}.png", caption=f"caption {i}", sha256=SHA if i == 3 else None,
                          extra={"memorized": i % 2 == 0}) for i in range(start, start + count)]


def test_given_a_bulk_insert_when_looking_up_ids_then_records_come_back_with_extra(tmp_path: Path) -> None:
    store = MetadataStore.create(tmp_path / "metadata.sqlite")
    store.insert(0, _images(2000))
    found = store.lookup([3, 1999, 1500, -1, 5000])
    assert sorted(found) == [3, 1500, 1999]  # negative and unknown ids are absent
    assert found[3] == TrainingImage(uri="file:///data/3.png", caption="caption 3", sha256=SHA,
                                     extra={"memorized": False})
    assert store.count() == 2000 and store.ids_with_sha256(SHA) == [3]


def test_given_taken_ids_when_inserting_then_configuration_error_and_nothing_is_written(tmp_path: Path) -> None:
    store = MetadataStore.create(tmp_path / "metadata.sqlite")
    store.insert(0, _images(5))
    with pytest.raises(ConfigurationError, match="already has ids"):
        store.insert(4, _images(3, start=4))
    assert store.count() == 5  # the failed batch was rolled back as a whole


def test_given_leftover_rows_when_deleting_from_an_id_then_only_those_go(tmp_path: Path) -> None:
    store = MetadataStore.create(tmp_path / "metadata.sqlite")
    store.insert(0, _images(10))
    assert store.delete_from(7) == 3 and store.count() == 7


def test_given_a_read_only_store_when_inserting_then_configuration_error(tmp_path: Path) -> None:
    MetadataStore.create(tmp_path / "metadata.sqlite").insert(0, _images(1))
    store = MetadataStore(tmp_path / "metadata.sqlite", read_only=True)
    assert store.lookup([0])[0].uri == "file:///data/0.png"
    with pytest.raises(ConfigurationError, match="read-only"):
        store.insert(1, _images(1, start=1))


def test_given_no_file_or_an_existing_one_then_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not found"):
        MetadataStore(tmp_path / "missing.sqlite")
    MetadataStore.create(tmp_path / "metadata.sqlite")
    with pytest.raises(ConfigurationError, match="already exists"):
        MetadataStore.create(tmp_path / "metadata.sqlite")


def test_given_bad_records_when_built_then_value_error() -> None:
    with pytest.raises(ValueError, match="sha256"):
        TrainingImage(uri="file:///x.png", sha256="ABC")
    with pytest.raises(ValueError, match="JSON"):
        TrainingImage(uri="file:///x.png", extra={"bad": object()})
    with pytest.raises(ValueError, match="uri"):
        TrainingImage(uri="")
