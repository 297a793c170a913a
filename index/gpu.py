"""Placing an index on a GPU, when faiss has GPU support and one is visible.

The CPU index stays the source of truth (it is what is written, memory-mapped and added
to); a ``GpuSearcher`` holds a GPU copy for searching, stored in fp16, and is rebuilt after
an add. GPU indexes need one resource object per thread, so a searcher serializes its
calls. For ``ivf_pq_refine`` only the IVF-PQ part goes to the GPU; the exact re-rank reads
the full vectors on the CPU. faiss-cpu builds have no ``StandardGpuResources``: there
``gpu_count()`` is 0 and every placement is the CPU. This module must never be the only
path to a result: anything it does, the CPU path does too.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

import faiss
import numpy as np
from swerve.errors import ConfigurationError
from swerve.index.index_kind import IndexKind
from swerve.index.search_settings import SearchSettings

__all__ = ["GpuSearcher", "Placement", "gpu_clustering_index", "gpu_count", "resolve_placement"]

#: ``auto``: the GPU when one is usable; ``cpu``: never; ``gpu``: required.
Placement = Literal["auto", "cpu", "gpu"]


def gpu_count() -> int:
    """GPUs faiss can use: 0 on faiss-cpu builds."""
    if not hasattr(faiss, "StandardGpuResources"):
        return 0
    return int(faiss.get_num_gpus())


def resolve_placement(placement: Placement) -> bool:
    """True when the index should be searched on a GPU.

    Raises:
        ConfigurationError: ``"gpu"`` was required but faiss sees none (or is faiss-cpu).
    """
    if placement not in ("auto", "cpu", "gpu"):
        raise ConfigurationError(f"placement must be auto, cpu or gpu, got {placement!r}")
    available = gpu_count() > 0
    if placement == "gpu" and not available:
        raise ConfigurationError("placement 'gpu' needs faiss with GPU support and a visible GPU; found none")
    return placement != "cpu" and available


def gpu_clustering_index(dim: int, device: int = 0) -> tuple[Any, Any]:
    """A GPU flat L2 index for k-means assignment during training, and its resources."""
    resources = faiss.StandardGpuResources()
    return faiss.index_cpu_to_gpu(resources, device, faiss.IndexFlatL2(dim)), resources


class GpuSearcher:
    """A GPU copy of a CPU index, searched one call at a time.

    Args:
        cpu_index (`faiss.Index`): the trained, filled CPU index.
        kind (`IndexKind`): its kind.
        device (`int`, defaults to 0): the GPU.
    """

    def __init__(self, cpu_index: Any, kind: IndexKind, device: int = 0) -> None:
        self._resources = faiss.StandardGpuResources()
        options = faiss.GpuClonerOptions()
        options.useFloat16 = True  # half the memory: ~1e7 x 768 vectors on one large GPU
        self._kind = kind
        self._lock = threading.Lock()
        if kind is IndexKind.IVF_PQ_REFINE:
            refine: Any = faiss.downcast_index(cpu_index)
            self._base = faiss.index_cpu_to_gpu(self._resources, device, faiss.downcast_index(refine.base_index),
                                                options)
            self._refine_vectors = refine.refine_index  # stays on the CPU
            self._index: Any = faiss.IndexRefine(self._base, self._refine_vectors)
        else:
            self._index = faiss.index_cpu_to_gpu(self._resources, device, cpu_index, options)

    def search(self, queries: np.ndarray, k: int, settings: SearchSettings) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` inner products of (n, d) float32 ``queries``: ((n, k) float32, (n, k) int64)."""
        with self._lock:
            space = faiss.GpuParameterSpace()
            target = self._base if self._kind is IndexKind.IVF_PQ_REFINE else self._index
            if self._kind is not IndexKind.FLAT and settings.nprobe is not None:
                space.set_index_parameter(target, "nprobe", settings.nprobe)
            if self._kind is IndexKind.IVF_PQ_REFINE:
                self._index.k_factor = float(-(-max(settings.rerank_candidates, k) // k))
            similarities, ids = self._index.search(queries, k)
        return similarities, ids
