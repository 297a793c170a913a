"""Build a FAISS index from an ``IndexChoice`` and the vectors: train on a sample, then add.

Steps: create the structure with ``faiss.index_factory`` (inner product on unit vectors, so
scores are cosine similarities); train k-means and the PQ codebooks on a seeded random
sample of ``choice.train_size`` vectors (on the GPU when asked and available); add every
vector in batches, ids 0..N-1 in input order. Polysemous training is off: swerve never
searches by Hamming distance, and it costs most of the PQ training time.

This module must never choose the kind (see ``index_choice``), write files or know about
images; it returns an in-memory CPU index.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faiss
import numpy as np
from swerve.index.embedder import check_embeddings
from swerve.index.gpu import gpu_clustering_index
from swerve.index.index_choice import IndexChoice
from swerve.index.threads import set_faiss_threads

__all__ = ["ADD_BATCH_SIZE", "add_in_batches", "build_faiss_index"]

ADD_BATCH_SIZE = 65_536
_KMEANS_SEED = 1234


def build_faiss_index(
    choice: IndexChoice,
    vectors: np.ndarray,
    *,
    threads: int | None = None,
    seed: int = 0,
    use_gpu: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> Any:
    """Build the index ``choice`` describes over ``vectors``.

    Args:
        choice (`IndexChoice`): the planned structure (see ``choose_index``).
        vectors (`np.ndarray`): (N, choice.dim) L2-normalized float rows; row i gets id i.
        threads (`int`, *optional*): faiss OpenMP threads (see ``set_faiss_threads``).
        seed (`int`, defaults to 0): seed of the training sample.
        use_gpu (`bool`, defaults to False): run k-means assignment on GPU 0 (needs faiss-gpu).
        on_progress (`Callable[[int], None]`, *optional*): called with each added batch size.

    Returns:
        `faiss.Index`: trained and filled, on the CPU.

    Raises:
        ValueError: the vectors are not (N, dim) unit rows.
    """
    # 1. check inputs
    vectors = check_embeddings(vectors, choice.dim)  # (N, d) float32
    set_faiss_threads(threads)
    # 2. create
    index = faiss.index_factory(choice.dim, choice.factory, faiss.METRIC_INNER_PRODUCT)
    # 3. train on a sample
    if choice.needs_training:
        rng = np.random.default_rng(seed)
        size = min(len(vectors), max(choice.train_size, 1))
        sample = vectors[np.sort(rng.choice(len(vectors), size=size, replace=False))]  # (train, d)
        _train(index, sample, use_gpu)
    # 4. add, ids in input order
    add_in_batches(index, vectors, on_progress=on_progress)
    return index


def add_in_batches(index: Any, vectors: np.ndarray, *, batch_size: int = ADD_BATCH_SIZE,
                   on_progress: Callable[[int], None] | None = None) -> None:
    """``index.add`` in batches of ``batch_size`` rows (bounded temporary memory), reporting progress."""
    for start in range(0, len(vectors), batch_size):
        batch = vectors[start:start + batch_size]  # (b, d)
        index.add(batch)
        if on_progress is not None:
            on_progress(len(batch))


def _train(index: Any, sample: np.ndarray, use_gpu: bool) -> None:
    ivf: Any = faiss.downcast_index(faiss.extract_index_ivf(index))  # the IndexIVFPQ fields need the subclass
    ivf.cp.seed = _KMEANS_SEED
    if hasattr(ivf, "do_polysemous_training"):
        ivf.do_polysemous_training = False
    if not use_gpu:
        index.train(sample)
        return
    clustering, resources = gpu_clustering_index(ivf.d)
    ivf.clustering_index = clustering
    try:
        index.train(sample)
    finally:
        ivf.clustering_index = None  # the GPU index dies with this frame; leave no dangling pointer
        del clustering, resources
