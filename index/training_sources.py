"""Where the list of training images comes from: a directory of images, or a manifest file.

- A directory: every .png/.jpg/.jpeg/.webp below it, in sorted path order; a sibling .txt
  with the same stem is its caption.
- A manifest: JSON lines (.jsonl) or Parquet (.parquet) with ``uri`` and optional
  ``caption`` and ``sha256``; other columns are kept as extra metadata. A ``uri`` without a
  scheme is a path relative to the manifest's folder.

This module lists records only: it must never open or decode the images.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from swerve.errors import ConfigurationError
from swerve.index.training_image import TrainingImage
from swerve.media.store import uri_scheme

__all__ = ["IMAGE_SUFFIXES", "images_in_directory", "images_in_manifest", "training_images_from"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
_KNOWN_FIELDS = ("uri", "caption", "sha256")


def training_images_from(source: Path) -> list[TrainingImage]:
    """The records of a directory or a .jsonl/.parquet manifest (see the module docstring).

    Raises:
        ConfigurationError: the source is missing, of an unknown type, empty, or malformed.
    """
    if source.is_dir():
        images = images_in_directory(source)
    elif source.is_file():
        images = images_in_manifest(source)
    else:
        raise ConfigurationError(f"training-image source not found at {source}")
    if not images:
        raise ConfigurationError(f"no training images in {source}")
    return images


def images_in_directory(directory: Path) -> list[TrainingImage]:
    """Every image file below ``directory``, sorted by path, captioned by a sibling .txt."""
    images = []
    for path in sorted(p for p in directory.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        caption_file = path.with_suffix(".txt")
        caption = caption_file.read_text(encoding="utf-8").strip() if caption_file.is_file() else ""
        images.append(TrainingImage(uri=path.resolve().as_uri(), caption=caption))
    return images


def images_in_manifest(manifest: Path) -> list[TrainingImage]:
    """The rows of a .jsonl or .parquet manifest."""
    suffix = manifest.suffix.lower()
    if suffix == ".jsonl":
        rows = _jsonl_rows(manifest)
    elif suffix == ".parquet":
        from pyarrow import parquet  # type: ignore[import-untyped]

        rows = [(f"row {number}", row) for number, row in enumerate(parquet.read_table(manifest).to_pylist(), 1)]
    else:
        raise ConfigurationError(f"training manifest {manifest} must be .jsonl or .parquet")
    return [_record(row, manifest, where) for where, row in rows]


def _jsonl_rows(manifest: Path) -> list[tuple[str, Any]]:
    rows = []
    with manifest.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rows.append((f"line {number}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise ConfigurationError(f"{manifest} line {number} is not JSON: {exc}") from exc
    return rows


def _record(row: Any, manifest: Path, where: str) -> TrainingImage:
    if not isinstance(row, Mapping) or not isinstance(row.get("uri"), str) or not row["uri"]:
        raise ConfigurationError(f"{manifest} {where} needs a non-empty string 'uri'")
    uri = row["uri"] if uri_scheme(row["uri"]) else (manifest.parent / row["uri"]).resolve().as_uri()
    extra = {key: value for key, value in row.items() if key not in _KNOWN_FIELDS}
    try:
        return TrainingImage(uri=uri, caption=str(row.get("caption") or ""), sha256=row.get("sha256") or None,
                             extra=extra)
    except ValueError as exc:
        raise ConfigurationError(f"{manifest} {where}: {exc}") from exc
