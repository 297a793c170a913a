"""The kinds of FAISS index swerve builds, by name.

A kind names a structure and its search semantics, stable across faiss versions; the
manifest records it. This module must never import faiss.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["IndexKind"]


class IndexKind(StrEnum):
    """Index structures, from exact to compressed.

    - ``flat``: exact inner product over every vector (the reference).
    - ``ivf_flat``: inverted lists over full vectors; approximate candidates, exact scores.
    - ``ivf_pq_refine``: inverted lists over PQ codes (optionally OPQ-rotated), then the
      top candidates re-ranked by exact inner product on the stored full vectors.
    """

    FLAT = "flat"
    IVF_FLAT = "ivf_flat"
    IVF_PQ_REFINE = "ivf_pq_refine"
