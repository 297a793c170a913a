"""The files of an index bundle, and how a new bundle replaces an old one.

A bundle is one folder: ``index.faiss``, ``metadata.sqlite`` and ``manifest.json``. A build
writes a staging folder beside the target and swaps it in only when complete. This module
must never delete a folder that does not hold a bundle.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from swerve.errors import ConfigurationError
from swerve.index.manifest import MANIFEST_NAME

__all__ = ["INDEX_FILE", "METADATA_FILE", "check_target", "replace_directory", "staging_directory"]

INDEX_FILE = "index.faiss"
METADATA_FILE = "metadata.sqlite"


def staging_directory(directory: Path) -> Path:
    """A fresh hidden folder beside ``directory`` to build into."""
    return directory.parent / f".{directory.name}.building-{uuid.uuid4().hex[:8]}"


def check_target(directory: Path, overwrite: bool) -> None:
    """Raise ConfigurationError unless ``directory`` may receive a new bundle.

    It may if it does not exist, is empty, or (with ``overwrite``) holds a bundle. A non-empty
    folder without a manifest is never replaced.
    """
    if not directory.exists():
        return
    if not directory.is_dir():
        raise ConfigurationError(f"{directory} exists and is not a folder")
    if not any(directory.iterdir()):
        return
    if not (directory / MANIFEST_NAME).is_file():
        raise ConfigurationError(f"{directory} is not empty and holds no index bundle; refusing to replace it")
    if not overwrite:
        raise ConfigurationError(f"an index bundle already exists in {directory}; pass overwrite to replace it")


def replace_directory(directory: Path, staging: Path) -> None:
    """Move the complete ``staging`` folder to ``directory``; the old bundle is moved aside first, deleted last."""
    retired = directory.parent / f".{directory.name}.old-{uuid.uuid4().hex[:8]}"
    if directory.exists():
        directory.rename(retired)
    staging.rename(directory)
    if retired.exists():
        shutil.rmtree(retired)
