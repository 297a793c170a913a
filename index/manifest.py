"""The versioned manifest beside an index: what embedded it, what it holds, how it was built.

``manifest.json`` records the format version, the embedder (name, version, dim), the metric,
the vector count, the index kind with its build parameters, the default search settings, a
content digest, the timestamps, the library versions that built it and the training images'
sizes (``image_sizes``, see ``image_sizes``). ``index_version`` is a short hash of everything that
decides search results except the search settings and timestamps: the embedder, the count,
the build and the content digest. The image sizes stay out of it: they follow from the content
(the digest covers each image's sha256), and a manifest written before they were recorded keeps
its version. Verdicts record it; rebuilding the same content the same
way gives the same version, and any add changes it. The content digest chains: each add
hashes the previous digest with the batch's vectors and records.

This module must never read the index or the images; it only (de)serializes and hashes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from swerve.errors import ConfigurationError
from swerve.index.image_sizes import TrainingImageSizes
from swerve.index.index_kind import IndexKind
from swerve.index.search_settings import SearchSettings
from swerve.index.training_image import TrainingImage

__all__ = ["FORMAT_VERSION", "MANIFEST_NAME", "EmbedderIdentity", "IndexManifest", "chain_content_digest"]

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
METRIC = "inner_product"
_VERSION_PREFIX = "iv1-"
_VERSION_HEX_CHARS = 16


@dataclass(frozen=True)
class EmbedderIdentity:
    """Which embedder produced the vectors: ``name``, ``version`` (exact weights) and ``dim``."""

    name: str
    version: str
    dim: int


def chain_content_digest(previous: str, vectors: np.ndarray, images: Sequence[TrainingImage]) -> str:
    """sha256 of the previous digest, a batch's float32 vectors and its records, in order."""
    digest = hashlib.sha256(previous.encode())
    digest.update(np.ascontiguousarray(vectors, dtype=np.float32).data)  # no copy when already float32
    for image in images:
        record = [image.uri, image.caption, image.sha256, dict(image.extra)]
        digest.update(json.dumps(record, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class IndexManifest:
    """The manifest of one index bundle.

    Attributes:
        embedder (`EmbedderIdentity`): what produced the vectors.
        count (`int`): vectors in the index (ids 0..count-1).
        index_kind (`IndexKind`): the structure.
        build_params (`dict`): the ``IndexChoice`` build parameters (factory string, nlist, ...).
        search (`SearchSettings`): default search settings.
        content_digest (`str`): chained sha256 of every added batch (vectors and records).
        created_at (`str`): ISO 8601 UTC time of the build.
        updated_at (`str`): ISO 8601 UTC time of the last add.
        built_with (`dict[str, str]`): library versions that built it (e.g. ``{"faiss": "1.15.1"}``);
            informative, not part of ``index_version``.
        metric (`str`): always ``"inner_product"`` on unit vectors (cosine similarity).
        format_version (`int`): this file's format.
        image_sizes (`TrainingImageSizes | None`): the sizes of the images the build and adds
            read; None for an index built before they were recorded, or from vectors alone.
            Informative, not part of ``index_version``.
    """

    embedder: EmbedderIdentity
    count: int
    index_kind: IndexKind
    build_params: dict[str, Any]
    search: SearchSettings
    content_digest: str
    created_at: str
    updated_at: str
    metric: str = METRIC
    format_version: int = FORMAT_VERSION
    built_with: dict[str, str] = field(default_factory=dict)
    image_sizes: TrainingImageSizes | None = None

    @property
    def index_version(self) -> str:
        """``"iv1-"`` + 16 hex of the sha256 over embedder, metric, count, build and content digest."""
        # The choice's `reason` names the memory budget; the same structure under another
        # budget is the same index, so the reason stays out of the version.
        build = {key: value for key, value in self.build_params.items() if key != "reason"}
        identity = {"format_version": self.format_version, "embedder": self.embedder.__dict__,
                    "metric": self.metric, "count": self.count, "index_kind": str(self.index_kind),
                    "build_params": build, "content_digest": self.content_digest}
        canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
        return _VERSION_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()[:_VERSION_HEX_CHARS]

    def with_added(self, count: int, content_digest: str, added_sizes: TrainingImageSizes | None = None
                   ) -> IndexManifest:
        """The manifest after an add: new count and digest, ``updated_at`` now.

        ``added_sizes`` (the sizes of the added images) merge into ``image_sizes``. Sizes that
        were never recorded stay unknown: the old images' sizes cannot be guessed from the new
        ones. Vectors added without images (``added_sizes`` None) leave the record as it was;
        its ``count`` then says how many of the images it describes.
        """
        sizes = self.image_sizes
        if sizes is not None and added_sizes is not None:
            sizes = sizes.merged(added_sizes)
        return replace(self, count=count, content_digest=content_digest, updated_at=utc_now(), image_sizes=sizes)

    def to_json(self) -> dict[str, Any]:
        """The manifest as a JSON-ready dict, ``index_version`` included."""
        return {"format_version": self.format_version, "index_version": self.index_version,
                "embedder": self.embedder.__dict__, "metric": self.metric, "count": self.count,
                "index_kind": str(self.index_kind), "build_params": self.build_params,
                "search": self.search.to_json(), "content_digest": self.content_digest,
                "created_at": self.created_at, "updated_at": self.updated_at, "built_with": self.built_with,
                "image_sizes": None if self.image_sizes is None else self.image_sizes.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any], *, source: str = "manifest") -> IndexManifest:
        """Parse ``to_json`` output.

        Raises:
            ConfigurationError: unknown format version, missing or malformed fields, or an
                ``index_version`` that does not match the content (edited by hand).
        """
        if data.get("format_version") != FORMAT_VERSION:
            raise ConfigurationError(f"{source} has format version {data.get('format_version')!r}; "
                                     f"this swerve reads version {FORMAT_VERSION}")
        try:
            manifest = cls(embedder=EmbedderIdentity(**data["embedder"]), count=int(data["count"]),
                           index_kind=IndexKind(data["index_kind"]), build_params=dict(data["build_params"]),
                           search=SearchSettings.from_json(data["search"]), content_digest=data["content_digest"],
                           created_at=data["created_at"], updated_at=data["updated_at"], metric=data["metric"],
                           built_with=dict(data.get("built_with", {})),
                           # absent from manifests written before sizes were recorded
                           image_sizes=_image_sizes(data.get("image_sizes")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"{source} is malformed: {type(exc).__name__}: {exc}") from exc
        if data.get("index_version") != manifest.index_version:
            raise ConfigurationError(f"{source} records index_version {data.get('index_version')!r} but its content "
                                     f"hashes to {manifest.index_version!r}: it was edited or corrupted")
        return manifest

    def write(self, path: Path) -> None:
        """Write atomically: temporary file, fsync, rename."""
        temporary = path.with_name(path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as stream:
            json.dump(self.to_json(), stream, indent=2, sort_keys=True)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)

    @classmethod
    def read(cls, path: Path) -> IndexManifest:
        """Read and validate ``path``.

        Raises:
            ConfigurationError: missing, not JSON, or invalid (see ``from_json``).
        """
        if not path.is_file():
            raise ConfigurationError(f"index manifest not found at {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigurationError(f"cannot read index manifest {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigurationError(f"index manifest {path} is not a JSON object")
        return cls.from_json(data, source=str(path))


def _image_sizes(data: Any) -> TrainingImageSizes | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise TypeError(f"image_sizes must be an object, got {type(data).__name__}")
    return TrainingImageSizes.from_json(data)


def utc_now() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")
