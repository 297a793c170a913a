"""How hard a search looks: nprobe, efSearch and the number of candidates re-ranked exactly.

The settings are passed to faiss per call (``faiss.SearchParameters*``), never written into
the shared index object, so threads searching with different settings cannot race. This
module must never search or build; it only translates settings into faiss parameters.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import faiss
from swerve.index.index_kind import IndexKind

__all__ = ["DEFAULT_RERANK_CANDIDATES", "SearchSettings", "faiss_search_parameters"]

#: Candidates fetched from the compressed codes and re-ranked on the stored full vectors.
#: ALGORITHMS.md suggests ~100; at 1M x 512 with PQ64x8 codes 100 gave recall@10 0.933 and
#: 200 gave 0.979 for 12% fewer queries per second (benchmarks/index_search.py, docs/index.md).
DEFAULT_RERANK_CANDIDATES = 200


@dataclass(frozen=True)
class SearchSettings:
    """Per-search knobs; each applies only to the index kinds that have it.

    Args:
        nprobe (`int | None`): inverted lists visited per query (IVF kinds).
        ef_search (`int | None`): HNSW beam width of the coarse quantizer (IVF with an
            HNSW quantizer).
        rerank_candidates (`int`, defaults to 200): candidates taken from the PQ codes and
            re-ranked with exact inner products on the full vectors (``ivf_pq_refine``);
            at least ``k`` are always taken.
    """

    nprobe: int | None = None
    ef_search: int | None = None
    rerank_candidates: int = DEFAULT_RERANK_CANDIDATES

    def __post_init__(self) -> None:
        for name in ("nprobe", "ef_search", "rerank_candidates"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"SearchSettings.{name} must be >= 1, got {value}")

    def to_json(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (for the manifest)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchSettings:
        """Inverse of ``to_json``."""
        return cls(**data)

    def replace(self, **changes: Any) -> SearchSettings:
        """A copy with ``changes`` applied (None values are ignored)."""
        fields = self.to_json()
        fields.update({key: value for key, value in changes.items() if value is not None})
        return SearchSettings(**fields)


def faiss_search_parameters(
    kind: IndexKind, settings: SearchSettings, k: int, *, hnsw_quantizer: bool, opq: bool
) -> Any:
    """The faiss per-call parameters for ``kind`` under ``settings``, for top-``k`` searches."""
    if kind is IndexKind.FLAT:
        return None
    ivf: Any = faiss.SearchParametersIVF()
    keep_alive: list[Any] = [ivf]
    if settings.nprobe is not None:
        ivf.nprobe = settings.nprobe
    if hnsw_quantizer and settings.ef_search is not None:
        quantizer = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # absent from faiss stubs
        quantizer.efSearch = settings.ef_search
        ivf.quantizer_params = quantizer
        keep_alive.append(quantizer)
    if kind is IndexKind.IVF_FLAT:
        ivf.referenced_objects = keep_alive[1:]
        return ivf
    base: Any = ivf
    if opq:  # the IVF sits behind the OPQ rotation (an IndexPreTransform)
        transform: Any = faiss.SearchParametersPreTransform()
        transform.index_params = ivf
        base = transform
        keep_alive.append(transform)
    refine: Any = faiss.IndexRefineSearchParameters()
    refine.k_factor = float(math.ceil(max(settings.rerank_candidates, k) / k))
    refine.base_index_params = base
    # Recent faiss wrappers keep assigned sub-objects alive; older ones hold raw pointers.
    refine.referenced_objects = keep_alive
    return refine
