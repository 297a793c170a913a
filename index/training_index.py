"""``TrainingIndex``: the on-disk index of training-image embeddings, one directory.

::

    <directory>/
        index.faiss       the FAISS index (memory-mapped on open where faiss can)
        metadata.sqlite   id -> uri, caption, sha256, extra
        manifest.json     embedder, count, build, index_version (see ``manifest``)

``build`` embeds the images (or takes vectors), picks the index kind for the count and the
memory budget (``choose_index``), and writes the bundle into a staging folder that replaces
the target only when complete. ``open`` reads it back, memory-mapped by default. ``add``
appends in the order that keeps a crash harmless: metadata rows first (invisible past the
manifest's count), then the index file (atomic rename), then the manifest (the commit
point). ``query`` returns neighbours with their metadata.

The similarities are embedding cosines: candidates for a near-copy, never proof of one; the
caller confirms in pixel space. This module must never import faust, aiokafka or
swerve.streams, nor decide what counts as a copy.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import faiss
import numpy as np
from PIL import Image
from swerve.errors import ConfigurationError
from swerve.index.builder import build_faiss_index
from swerve.index.bundle_layout import (
    INDEX_FILE,
    METADATA_FILE,
    check_target,
    replace_directory,
    staging_directory,
)
from swerve.index.embedder import Embedder, check_embeddings
from swerve.index.embedding_pass import DEFAULT_EMBED_BATCH_SIZE, embed_training_images
from swerve.index.gpu import Placement, resolve_placement
from swerve.index.image_sizes import ImageSizeTally, TrainingImageSizes
from swerve.index.index_choice import (
    DEFAULT_MEMORY_BUDGET_MB,
    DEFAULT_RULES,
    ChoiceRules,
    IndexChoice,
    choose_index,
)
from swerve.index.manifest import (
    MANIFEST_NAME,
    EmbedderIdentity,
    IndexManifest,
    chain_content_digest,
    utc_now,
)
from swerve.index.metadata import MetadataStore
from swerve.index.neighbour import Neighbour
from swerve.index.search_settings import SearchSettings
from swerve.index.training_image import TrainingImage
from swerve.index.vector_index import VectorIndex
from swerve.media import MediaLimits
from swerve.media.limits import DEFAULT_LIMITS

__all__ = ["TrainingIndex", "embedder_identity"]

_EMPTY_DIGEST = ""


def embedder_identity(embedder: Embedder) -> EmbedderIdentity:
    """The (name, version, dim) the manifest records for ``embedder``."""
    return EmbedderIdentity(name=embedder.name, version=embedder.version, dim=embedder.dim)


class TrainingIndex:
    """An opened index bundle. Build one with ``build``/``build_from_vectors``, open one with ``open``.

    Searches may run from many threads at once; ``add`` calls are serialized.
    """

    def __init__(self, directory: Path, manifest: IndexManifest, vectors: VectorIndex, metadata: MetadataStore,
                 *, embedder: Embedder | None, read_only: bool, mmap: bool) -> None:
        self._directory = directory
        self._manifest = manifest
        self._vectors = vectors
        self._metadata = metadata
        self._embedder = embedder
        self._read_only = read_only
        self._mmap = mmap
        self._add_lock = threading.Lock()

    # 1. build ----------------------------------------------------------------------------------
    @classmethod
    def build(cls, directory: Path, images: Sequence[TrainingImage], embedder: Embedder, *,
              memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB, rules: ChoiceRules = DEFAULT_RULES,
              threads: int | None = None, placement: Placement = "auto", overwrite: bool = False,
              batch_size: int = DEFAULT_EMBED_BATCH_SIZE, limits: MediaLimits = DEFAULT_LIMITS,
              on_embedded: Callable[[int], None] | None = None) -> TrainingIndex:
        """Embed ``images`` with ``embedder`` and build the bundle in ``directory``.

        Args:
            directory (`Path`): the bundle folder; must not exist, be empty, or (with
                ``overwrite``) hold a bundle.
            images (`Sequence[TrainingImage]`): the training images, read by URI.
            embedder (`Embedder`): the model; kept for ``query`` with images.
            memory_budget_mb (`float`, defaults to 4096): resident memory the index may use.
            rules (`ChoiceRules`, *optional*): thresholds of the index choice.
            threads (`int`, *optional*): faiss OpenMP threads.
            placement (`Placement`, defaults to "auto"): GPU when faiss has one.
            overwrite (`bool`, defaults to False): replace an existing bundle.
            batch_size (`int`, defaults to 64): images embedded at a time.
            limits (`MediaLimits`, *optional*): bounds on reading and decoding images.
            on_embedded (`Callable[[int], None]`, *optional*): progress, images per batch.

        Raises:
            MediaError: an image could not be read or decoded.
            ConfigurationError: the directory is taken, or no index fits the budget.
        """
        check_target(directory, overwrite)
        sizes = ImageSizeTally()
        vectors, records = embed_training_images(images, embedder, batch_size=batch_size, limits=limits,
                                                 on_progress=on_embedded, size_tally=sizes)
        built = cls.build_from_vectors(directory, vectors, records, embedder=embedder_identity(embedder),
                                       memory_budget_mb=memory_budget_mb, rules=rules, threads=threads,
                                       placement=placement, overwrite=overwrite, image_sizes=sizes.summary())
        built._embedder = embedder
        return built

    @classmethod
    def build_from_vectors(cls, directory: Path, vectors: np.ndarray, images: Sequence[TrainingImage], *,
                           embedder: EmbedderIdentity, memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
                           rules: ChoiceRules = DEFAULT_RULES, choice: IndexChoice | None = None,
                           threads: int | None = None, placement: Placement = "auto", overwrite: bool = False,
                           seed: int = 0, mmap: bool = True,
                           image_sizes: TrainingImageSizes | None = None) -> TrainingIndex:
        """Build the bundle from precomputed unit vectors, row i describing ``images[i]``.

        ``choice`` overrides the automatic index choice (tests, benchmarks). ``image_sizes``
        is recorded in the manifest: the images were not read here, so only the caller knows
        them (``build`` tallies them while embedding). The returned bundle is opened from
        disk, memory-mapped when ``mmap``.
        """
        # 1. check inputs
        check_target(directory, overwrite)
        vectors = check_embeddings(vectors, embedder.dim)  # (N, d) float32
        if len(vectors) != len(images) or not len(images):
            raise ValueError(f"need one record per vector and at least one, got {len(vectors)} vectors "
                             f"and {len(images)} records")
        # 2. choose and build the index
        choice = choice or choose_index(len(vectors), embedder.dim, memory_budget_mb=memory_budget_mb,
                                        rules=rules, gpu=resolve_placement(placement))
        if choice.dim != embedder.dim:
            raise ConfigurationError(f"index choice is for dim {choice.dim}, the embedder gives {embedder.dim}")
        index = VectorIndex(build_faiss_index(choice, vectors, threads=threads, use_gpu=resolve_placement(placement),
                                              seed=seed), settings=choice.search, placement="cpu")
        # 3. write everything into a staging folder beside the target
        now = utc_now()
        manifest = IndexManifest(embedder=embedder, count=len(vectors), index_kind=choice.kind,
                                 build_params=choice.build_params(), search=choice.search,
                                 content_digest=chain_content_digest(_EMPTY_DIGEST, vectors, images),
                                 created_at=now, updated_at=now, built_with={"faiss": faiss.__version__},
                                 image_sizes=image_sizes)
        staging = staging_directory(directory)
        staging.mkdir(parents=True)
        try:
            index.write(staging / INDEX_FILE)
            metadata = MetadataStore.create(staging / METADATA_FILE)
            metadata.insert(0, images)
            metadata.close()
            manifest.write(staging / MANIFEST_NAME)
        except BaseException:
            shutil.rmtree(staging)  # a half-written bundle must not be left beside the real one
            raise
        # 4. swap it into place, then open what was written
        replace_directory(directory, staging)
        return cls.open(directory, mmap=mmap, threads=threads, placement=placement)

    # 2. open -----------------------------------------------------------------------------------
    @classmethod
    def open(cls, directory: Path, *, mmap: bool = True, embedder: Embedder | None = None, read_only: bool = False,
             threads: int | None = None, placement: Placement = "auto",
             search: SearchSettings | None = None) -> TrainingIndex:
        """Open a bundle.

        Args:
            directory (`Path`): the bundle folder.
            mmap (`bool`, defaults to True): memory-map the index file (see ``VectorIndex.read``).
            embedder (`Embedder`, *optional*): for ``query``/``add`` with images; must be the
                embedder the manifest names (same version).
            read_only (`bool`, defaults to False): refuse ``add``; open the metadata read-only.
            threads (`int`, *optional*): faiss OpenMP threads.
            placement (`Placement`, defaults to "auto"): GPU when faiss has one.
            search (`SearchSettings`, *optional*): override the manifest's search settings.

        Raises:
            ConfigurationError: missing or inconsistent files, or an embedder other than the
                one that built the index.
        """
        manifest = IndexManifest.read(directory / MANIFEST_NAME)
        if embedder is not None:
            _check_embedder(embedder, manifest, directory)
        vectors = VectorIndex.read(directory / INDEX_FILE, settings=search or manifest.search, mmap=mmap,
                                   threads=threads, placement=placement)
        if (vectors.kind, vectors.dim, vectors.count) != (manifest.index_kind, manifest.embedder.dim, manifest.count):
            raise ConfigurationError(
                f"{directory}: {INDEX_FILE} is a {vectors.kind} index of {vectors.count} x {vectors.dim} vectors, "
                f"but the manifest says {manifest.index_kind} of {manifest.count} x {manifest.embedder.dim} "
                "(an add was interrupted, or files were mixed): rebuild or restore the bundle"
            )
        metadata = MetadataStore(directory / METADATA_FILE, read_only=read_only)
        if metadata.count() < manifest.count:
            raise ConfigurationError(f"{directory}: {METADATA_FILE} has {metadata.count()} rows for "
                                     f"{manifest.count} vectors: rebuild or restore the bundle")
        return cls(directory, manifest, vectors, metadata, embedder=embedder, read_only=read_only, mmap=mmap)

    # 3. properties -----------------------------------------------------------------------------
    @property
    def directory(self) -> Path:
        """The bundle folder."""
        return self._directory

    @property
    def manifest(self) -> IndexManifest:
        """The current manifest."""
        return self._manifest

    @property
    def index_version(self) -> str:
        """The version verdicts record (see ``IndexManifest.index_version``)."""
        return self._manifest.index_version

    @property
    def count(self) -> int:
        """Vectors in the index."""
        return self._manifest.count

    @property
    def vectors(self) -> VectorIndex:
        """The FAISS index."""
        return self._vectors

    @property
    def metadata(self) -> MetadataStore:
        """The metadata store."""
        return self._metadata

    @property
    def embedder(self) -> Embedder | None:
        """The embedder used for image queries, if one was given."""
        return self._embedder

    # 4. search ---------------------------------------------------------------------------------
    def search(self, vectors: np.ndarray, k: int, *, settings: SearchSettings | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` similarities (n, k) and ids (n, k) for (n, dim) unit query vectors (see ``VectorIndex.search``)."""
        return self._vectors.search(vectors, k, settings=settings)

    def query(self, queries: Sequence[Image.Image] | np.ndarray, k: int, *,
              settings: SearchSettings | None = None) -> list[list[Neighbour]]:
        """The ``k`` nearest training images of each query, best first, with their metadata.

        Args:
            queries (`Sequence[PIL.Image.Image] | np.ndarray`): images (embedded with this
                bundle's embedder) or (n, dim) unit vectors.
            k (`int`): neighbours per query; fewer come back when the index holds fewer.
            settings (`SearchSettings`, *optional*): override the search settings.

        Raises:
            ConfigurationError: images were given but the bundle was opened without an embedder.
        """
        vectors = queries if isinstance(queries, np.ndarray) else self._embed(queries)  # (n, dim)
        similarities, ids = self.search(vectors, k, settings=settings)  # (n, k), (n, k)
        # Ids past the manifest's count belong to an add still in progress: not yet visible.
        records = self._metadata.lookup(int(i) for i in ids.ravel() if 0 <= i < self.count)
        return [[_neighbour(int(i), float(s), records[int(i)]) for s, i in zip(row_sims, row_ids) if int(i) in records]
                for row_sims, row_ids in zip(similarities, ids)]

    # 5. add ------------------------------------------------------------------------------------
    def add(self, images: Sequence[TrainingImage], *, batch_size: int = DEFAULT_EMBED_BATCH_SIZE,
            limits: MediaLimits = DEFAULT_LIMITS, on_embedded: Callable[[int], None] | None = None) -> range:
        """Embed ``images`` with the bundle's embedder and append them; return their ids."""
        embedder = self._require_embedder("add images")
        sizes = ImageSizeTally()
        vectors, records = embed_training_images(images, embedder, batch_size=batch_size, limits=limits,
                                                 on_progress=on_embedded, size_tally=sizes)
        return self.add_vectors(vectors, records, image_sizes=sizes.summary())

    def add_vectors(self, vectors: np.ndarray, images: Sequence[TrainingImage], *,
                    image_sizes: TrainingImageSizes | None = None) -> range:
        """Append unit vectors, row i describing ``images[i]``; return their ids.

        ``image_sizes`` (the added images' sizes) merge into the manifest's record (see
        ``IndexManifest.with_added``).

        Raises:
            ConfigurationError: the bundle was opened read-only.
        """
        if self._read_only:
            raise ConfigurationError(f"{self._directory} was opened read-only; reopen it with read_only=False to add")
        vectors = check_embeddings(vectors, self._manifest.embedder.dim)  # (n, d) float32
        if len(vectors) != len(images) or not len(images):
            raise ValueError(f"need one record per vector and at least one, got {len(vectors)} vectors "
                             f"and {len(images)} records")
        with self._add_lock:
            first = self._manifest.count
            # 1. metadata: rows past the manifest's count stay invisible until step 3
            self._metadata.delete_from(first)
            self._metadata.insert(first, images)
            # 2. index: add in memory, replace the file atomically, map it again
            added_at = self._vectors.add(vectors)
            if added_at != first:
                raise ConfigurationError(f"{self._directory}: the index had {added_at} vectors, the manifest {first}")
            self._vectors.write(self._directory / INDEX_FILE)
            if self._mmap:
                self._vectors.remap(self._directory / INDEX_FILE)
            # 3. manifest: the commit point
            manifest = self._manifest.with_added(first + len(vectors),
                                                 chain_content_digest(self._manifest.content_digest, vectors, images),
                                                 added_sizes=image_sizes)
            manifest.write(self._directory / MANIFEST_NAME)
            self._manifest = manifest
        return range(first, first + len(vectors))

    # 6. lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the metadata connection."""
        self._metadata.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        embedder = self._require_embedder("query with images")
        return embedder.embed_images(images)

    def _require_embedder(self, action: str) -> Embedder:
        if self._embedder is None:
            raise ConfigurationError(f"to {action}, open {self._directory} with embedder= "
                                     f"({self._manifest.embedder.name}, version {self._manifest.embedder.version})")
        return self._embedder


def _neighbour(id_: int, similarity: float, image: TrainingImage) -> Neighbour:
    return Neighbour(id=id_, similarity=similarity, uri=image.uri, caption=image.caption, sha256=image.sha256,
                     extra=image.extra)


def _check_embedder(embedder: Embedder, manifest: IndexManifest, directory: Path) -> None:
    if embedder_identity(embedder) != manifest.embedder:
        recorded = manifest.embedder
        raise ConfigurationError(
            f"{directory} was embedded by {recorded.name} version {recorded.version} (dim {recorded.dim}); "
            f"this embedder is {embedder.name} version {embedder.version} (dim {embedder.dim}): "
            "their similarities are not comparable. Use the same weights, or rebuild the index"
        )
