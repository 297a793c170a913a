"""``VectorIndex``: a FAISS index with thread-safe search, locked add, and memory-mapped reading.

Searches share a readers-writer lock and pass their settings per call, so any number of
threads may search at once; ``add`` and re-mapping take the lock exclusively. A memory-
mapped index is read-only in faiss (adding to it aborts the process), so ``add`` first
replaces it with a private in-memory copy; the caller writes that back and may ``remap``.
On a GPU (see ``swerve.index.gpu``) searches go to a GPU copy, the CPU index stays the
source of truth.

This module must never know about images, metadata or manifests.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from swerve.errors import ConfigurationError
from swerve.index.builder import add_in_batches, build_faiss_index
from swerve.index.embedder import check_embeddings
from swerve.index.gpu import GpuSearcher, Placement, resolve_placement
from swerve.index.index_choice import IndexChoice
from swerve.index.index_kind import IndexKind
from swerve.index.rw_lock import ReadWriteLock
from swerve.index.search_settings import SearchSettings, faiss_search_parameters
from swerve.index.threads import set_faiss_threads

__all__ = ["SEARCH_BATCH_SIZE", "VectorIndex", "describe_faiss_index"]

SEARCH_BATCH_SIZE = 8192
_log = logging.getLogger(__name__)


def describe_faiss_index(index: Any) -> tuple[IndexKind, bool, bool]:
    """Read (kind, has an HNSW coarse quantizer, has an OPQ rotation) off a faiss index.

    Raises:
        ConfigurationError: the index is not one of the structures swerve builds.
    """
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexFlat):
        return IndexKind.FLAT, False, False
    if isinstance(index, faiss.IndexIVFFlat):
        return IndexKind.IVF_FLAT, _hnsw_quantizer(index), False
    if isinstance(index, faiss.IndexRefine):
        base: Any = faiss.downcast_index(index.base_index)
        opq = isinstance(base, faiss.IndexPreTransform)
        ivf = faiss.downcast_index(base.index) if opq else base
        if isinstance(ivf, faiss.IndexIVFPQ):
            return IndexKind.IVF_PQ_REFINE, _hnsw_quantizer(ivf), opq
    raise ConfigurationError(f"unsupported faiss index structure {type(index).__name__}")


def _hnsw_quantizer(ivf: Any) -> bool:
    return isinstance(faiss.downcast_index(ivf.quantizer), faiss.IndexHNSW)


class VectorIndex:
    """A searchable FAISS index over unit vectors, ids 0..count-1.

    Build one with ``VectorIndex.build`` or read one with ``VectorIndex.read``.
    """

    def __init__(self, index: Any, *, settings: SearchSettings, mapped_from: Path | None = None,
                 placement: Placement = "auto") -> None:
        self._index = index
        self._kind, self._hnsw_quantizer, self._opq = describe_faiss_index(index)
        self._settings = settings
        self._mapped_from = mapped_from
        self._lock = ReadWriteLock()
        self._gpu: GpuSearcher | None = GpuSearcher(index, self._kind) if resolve_placement(placement) else None

    # 1. construction -------------------------------------------------------------------------
    @classmethod
    def build(cls, choice: IndexChoice, vectors: np.ndarray, *, threads: int | None = None, seed: int = 0,
              placement: Placement = "auto", on_progress: Callable[[int], None] | None = None) -> VectorIndex:
        """Train and fill the index ``choice`` plans (see ``build_faiss_index``)."""
        use_gpu = resolve_placement(placement)
        index = build_faiss_index(choice, vectors, threads=threads, seed=seed, use_gpu=use_gpu,
                                  on_progress=on_progress)
        return cls(index, settings=choice.search, placement=placement)

    @classmethod
    def read(cls, path: Path, *, settings: SearchSettings, mmap: bool = True, threads: int | None = None,
             placement: Placement = "auto") -> VectorIndex:
        """Read an index file, memory-mapped when ``mmap`` and faiss supports it.

        A faiss with ``IO_FLAG_MMAP_IFC`` (1.15 here) maps every structure swerve builds: flat
        codes, inverted lists and re-rank vectors (an HNSW coarse quantizer's graph stays in
        memory). An older faiss maps only inverted lists (``IO_FLAG_MMAP``) and reads the
        rest into memory; that fallback is logged.

        Raises:
            ConfigurationError: the file is missing or not a faiss index swerve builds.
        """
        set_faiss_threads(threads)
        index = _read_faiss(path, mmap)
        return cls(index, settings=settings, mapped_from=path if mmap else None, placement=placement)

    # 2. properties ---------------------------------------------------------------------------
    @property
    def kind(self) -> IndexKind:
        """The structure, read off the faiss index."""
        return self._kind

    @property
    def dim(self) -> int:
        """Vector width."""
        return int(self._index.d)

    @property
    def count(self) -> int:
        """Number of vectors (ids are 0..count-1)."""
        return int(self._index.ntotal)

    @property
    def memory_mapped(self) -> bool:
        """True while the index is a read-only mapping of its file."""
        return self._mapped_from is not None

    @property
    def on_gpu(self) -> bool:
        """True when searches run on a GPU copy."""
        return self._gpu is not None

    @property
    def settings(self) -> SearchSettings:
        """The default search settings."""
        return self._settings

    @property
    def faiss_index(self) -> Any:
        """The underlying CPU faiss index (read-only use: mutate it only through ``add``)."""
        return self._index

    # 3. search -------------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int, *, settings: SearchSettings | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` inner products (cosine similarities) for each query row.

        Args:
            queries (`np.ndarray`): (n, dim) L2-normalized float rows.
            k (`int`): neighbours per query (>= 1).
            settings (`SearchSettings`, *optional*): override the default settings for this call.

        Returns:
            `tuple[np.ndarray, np.ndarray]`: similarities (n, k) float32, best first, and ids
            (n, k) int64. Where fewer than k vectors are found, ids are -1 and similarities
            are -inf.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        queries = check_embeddings(queries, self.dim, what="queries")  # (n, d) float32
        settings = settings or self._settings
        params = faiss_search_parameters(self._kind, settings, k, hnsw_quantizer=self._hnsw_quantizer,
                                         opq=self._opq)
        similarities = np.empty((len(queries), k), dtype=np.float32)  # (n, k)
        ids = np.empty((len(queries), k), dtype=np.int64)  # (n, k)
        with self._lock.read():
            for start in range(0, len(queries), SEARCH_BATCH_SIZE):
                batch = queries[start:start + SEARCH_BATCH_SIZE]  # (b, d)
                if self._gpu is not None:
                    found = self._gpu.search(batch, k, settings)
                else:
                    found = self._index.search(batch, k, params=params)
                similarities[start:start + len(batch)], ids[start:start + len(batch)] = found
        similarities[ids < 0] = -np.inf
        return similarities, ids

    # 4. mutation -----------------------------------------------------------------------------
    def add(self, vectors: np.ndarray, *, on_progress: Callable[[int], None] | None = None) -> int:
        """Append unit vectors; they get ids count..count+n-1. Returns the first new id.

        A memory-mapped index is first read into memory (faiss cannot add to a mapping).
        """
        vectors = check_embeddings(vectors, self.dim)  # (n, d) float32
        with self._lock.write():
            if self._mapped_from is not None:
                self._index = faiss.read_index(str(self._mapped_from))
                self._mapped_from = None
            first = int(self._index.ntotal)
            add_in_batches(self._index, vectors, on_progress=on_progress)
            if self._gpu is not None:
                self._gpu = GpuSearcher(self._index, self._kind)
        return first

    def write(self, path: Path) -> int:
        """Write the index to ``path`` atomically (temporary file, fsync, rename); return its size."""
        temporary = path.with_name(path.name + ".tmp")
        with self._lock.read():
            faiss.write_index(self._index, str(temporary))
        with temporary.open("rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, path)
        return path.stat().st_size

    def remap(self, path: Path) -> None:
        """Swap the in-memory index for a memory mapping of ``path`` (written by ``write``)."""
        mapped = _read_faiss(path, mmap=True)
        if int(mapped.ntotal) != self.count:
            raise ConfigurationError(f"{path} holds {mapped.ntotal} vectors, the index in memory {self.count}")
        with self._lock.write():
            self._index = mapped
            self._mapped_from = path

    def set_settings(self, settings: SearchSettings) -> None:
        """Change the default search settings."""
        self._settings = settings


def _read_faiss(path: Path, mmap: bool) -> Any:
    if not path.is_file():
        raise ConfigurationError(f"faiss index file not found at {path}")
    flags = 0
    if mmap:
        flags = getattr(faiss, "IO_FLAG_MMAP_IFC", None) or faiss.IO_FLAG_MMAP
        if not hasattr(faiss, "IO_FLAG_MMAP_IFC"):
            _log.info("faiss %s maps only inverted lists; the rest of %s is read into memory",
                      faiss.__version__, path)
    try:
        return faiss.read_index(str(path), flags)
    except RuntimeError as exc:
        raise ConfigurationError(f"cannot read faiss index {path}: {exc}") from exc
