"""Which FAISS index to build for N vectors of width d under a memory budget.

The rules follow ALGORITHMS.md ("FAISS at scale") and autofaiss:

1. N <= 10k: ``flat``, exact inner product. Nothing to train, nothing approximate.
2. 10k < N < 1M, and the full vectors fit the budget: ``ivf_flat``. Candidates come from
   nprobe of nlist inverted lists; their scores are exact.
3. Otherwise: ``ivf_pq_refine``. PQ codes (d/8 bytes of 8 bits, OPQ rotation optional) in
   nlist lists with an HNSW coarse quantizer once nlist >= 4096 (a flat one on GPU); the
   top 200 candidates are re-ranked exactly against the stored full vectors. Only the
   codes and quantizer must stay resident: the full vectors are touched ~200 rows per
   query, so a memory-mapped bundle leaves them on disk (``disk_bytes``).

nlist is 4*sqrt(N) rounded to the nearest power of two, and never more than N/39 (faiss's
minimum of 39 training points per list). A budget nothing fits is an error, never a
silent downgrade. This module is arithmetic only: it must never import faiss or touch data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from swerve.errors import ConfigurationError
from swerve.index.index_kind import IndexKind
from swerve.index.search_settings import SearchSettings

__all__ = ["DEFAULT_MEMORY_BUDGET_MB", "DEFAULT_RULES", "ChoiceRules", "IndexChoice", "choose_index", "ivf_list_count",
           "plan_flat", "plan_ivf_flat", "plan_ivf_pq_refine"]

DEFAULT_MEMORY_BUDGET_MB = 4096
_MIN_POINTS_PER_LIST = 39  # faiss warns (and clusters badly) below this
_PQ_TRAIN_POINTS_8BIT = 256 * _MIN_POINTS_PER_LIST
_FLOAT32 = 4
_ID_BYTES = 8


@dataclass(frozen=True)
class ChoiceRules:
    """Thresholds of ``choose_index``; the defaults are the documented rules.

    Args:
        flat_max_vectors (`int`, defaults to 10_000): at most this many: exact ``flat``.
        ivf_flat_max_vectors (`int`, defaults to 1_000_000): ``ivf_flat`` only below this.
        hnsw_quantizer_min_lists (`int`, defaults to 4096): an HNSW coarse quantizer from
            this many lists up (flat below, where scanning the centroids is cheap).
        hnsw_quantizer_m (`int`, defaults to 32): HNSW graph degree of that quantizer.
        pq_subvector_dim (`int`, defaults to 8): dimensions per PQ sub-quantizer (d/8 bytes).
        train_points_per_list (`int`, defaults to 64): k-means training sample per list.
        opq (`bool`, defaults to False): rotate with OPQ before PQ (slower to train).
    """

    flat_max_vectors: int = 10_000
    ivf_flat_max_vectors: int = 1_000_000
    hnsw_quantizer_min_lists: int = 4096
    hnsw_quantizer_m: int = 32
    pq_subvector_dim: int = 8
    train_points_per_list: int = 64
    opq: bool = False


#: The documented rules.
DEFAULT_RULES = ChoiceRules()


@dataclass(frozen=True)
class IndexChoice:
    """A planned index: its kind, build parameters, default search settings and footprint.

    Attributes:
        kind (`IndexKind`): the structure.
        dim (`int`): vector width.
        count (`int`): the number of vectors it was planned for.
        nlist (`int | None`): inverted lists (IVF kinds).
        hnsw_quantizer_m (`int | None`): HNSW degree of the coarse quantizer, None for flat.
        pq_m (`int | None`): PQ sub-quantizers (bytes per code at 8 bits).
        pq_nbits (`int | None`): bits per sub-quantizer code.
        opq (`bool`): OPQ rotation before PQ.
        train_size (`int`): vectors sampled to train (0: nothing to train).
        resident_bytes (`int`): memory the search must keep resident (checked against the budget).
        disk_bytes (`int`): size of the index file (adds the re-rank vectors for ``ivf_pq_refine``).
        search (`SearchSettings`): default search settings.
        reason (`str`): why this kind, in one sentence.
    """

    kind: IndexKind
    dim: int
    count: int
    resident_bytes: int
    disk_bytes: int
    reason: str
    nlist: int | None = None
    hnsw_quantizer_m: int | None = None
    pq_m: int | None = None
    pq_nbits: int | None = None
    opq: bool = False
    train_size: int = 0
    search: SearchSettings = field(default_factory=SearchSettings)

    @property
    def factory(self) -> str:
        """The ``faiss.index_factory`` description, e.g. ``"IVF4096_HNSW32,PQ64x8,RFlat"``."""
        if self.kind is IndexKind.FLAT:
            return "Flat"
        quantizer = f"IVF{self.nlist}" + (f"_HNSW{self.hnsw_quantizer_m}" if self.hnsw_quantizer_m else "")
        if self.kind is IndexKind.IVF_FLAT:
            return f"{quantizer},Flat"
        rotation = f"OPQ{self.pq_m}," if self.opq else ""
        return f"{rotation}{quantizer},PQ{self.pq_m}x{self.pq_nbits},RFlat"

    @property
    def needs_training(self) -> bool:
        """True for the IVF kinds (k-means, and PQ codebooks)."""
        return self.kind is not IndexKind.FLAT

    def build_params(self) -> dict[str, Any]:
        """The build parameters as a JSON-ready dict (for the manifest)."""
        return {"kind": str(self.kind), "factory": self.factory, "nlist": self.nlist,
                "hnsw_quantizer_m": self.hnsw_quantizer_m, "pq_m": self.pq_m, "pq_nbits": self.pq_nbits,
                "opq": self.opq, "train_size": self.train_size, "planned_count": self.count,
                "resident_bytes": self.resident_bytes, "disk_bytes": self.disk_bytes, "reason": self.reason}


def ivf_list_count(count: int) -> int:
    """nlist = 4*sqrt(N) rounded to the nearest power of two, at most N/39, at least 1."""
    target = 4.0 * math.sqrt(count)
    nlist = 1 << max(0, round(math.log2(target)))
    ceiling = max(1, count // _MIN_POINTS_PER_LIST)
    while nlist > ceiling:
        nlist //= 2
    return nlist


def plan_flat(count: int, dim: int, reason: str = "exact search") -> IndexChoice:
    """Exact inner product over all vectors."""
    size = count * dim * _FLOAT32
    return IndexChoice(kind=IndexKind.FLAT, dim=dim, count=count, resident_bytes=size, disk_bytes=size,
                       reason=reason)


def plan_ivf_flat(count: int, dim: int, rules: ChoiceRules = DEFAULT_RULES, *, gpu: bool = False,
                  reason: str = "inverted lists over full vectors") -> IndexChoice:
    """IVF over full vectors: exact scores for the candidates of nprobe lists."""
    nlist = ivf_list_count(count)
    hnsw_m = _quantizer_m(nlist, rules, gpu)
    size = count * (dim * _FLOAT32 + _ID_BYTES) + _quantizer_bytes(nlist, dim, hnsw_m)
    return IndexChoice(kind=IndexKind.IVF_FLAT, dim=dim, count=count, resident_bytes=size, disk_bytes=size,
                       reason=reason, nlist=nlist, hnsw_quantizer_m=hnsw_m,
                       train_size=min(count, rules.train_points_per_list * nlist),
                       search=_default_search(nlist, hnsw_m))


def plan_ivf_pq_refine(count: int, dim: int, rules: ChoiceRules = DEFAULT_RULES, *, gpu: bool = False,
                       reason: str = "PQ codes in inverted lists, exact re-rank") -> IndexChoice:
    """IVF-PQ (OPQ optional) whose top candidates are re-ranked on the full vectors."""
    nlist = ivf_list_count(count)
    hnsw_m = _quantizer_m(nlist, rules, gpu)
    pq_m = _pq_subquantizers(dim, rules.pq_subvector_dim)
    pq_nbits = 8 if count >= _PQ_TRAIN_POINTS_8BIT else 4
    codebooks = (2 ** pq_nbits) * dim * _FLOAT32
    rotation = dim * dim * _FLOAT32 if rules.opq else 0
    resident = (count * (math.ceil(pq_m * pq_nbits / 8) + _ID_BYTES) + _quantizer_bytes(nlist, dim, hnsw_m)
                + codebooks + rotation)
    train_size = min(count, max(rules.train_points_per_list * nlist, _PQ_TRAIN_POINTS_8BIT))
    return IndexChoice(kind=IndexKind.IVF_PQ_REFINE, dim=dim, count=count, resident_bytes=resident,
                       disk_bytes=resident + count * dim * _FLOAT32, reason=reason, nlist=nlist,
                       hnsw_quantizer_m=hnsw_m, pq_m=pq_m, pq_nbits=pq_nbits, opq=rules.opq,
                       train_size=train_size, search=_default_search(nlist, hnsw_m))


def choose_index(count: int, dim: int, *, memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
                 rules: ChoiceRules = DEFAULT_RULES, gpu: bool = False) -> IndexChoice:
    """Pick the index kind for ``count`` vectors of width ``dim`` (see the module docstring).

    Args:
        count (`int`): number of vectors to index (>= 1).
        dim (`int`): vector width (>= 1).
        memory_budget_mb (`float`, defaults to 4096): memory the index may keep resident.
        rules (`ChoiceRules`, *optional*): thresholds.
        gpu (`bool`, defaults to False): plan for a GPU (flat coarse quantizer).

    Raises:
        ConfigurationError: bad arguments, or no kind fits the budget.
    """
    # 1. check inputs
    if count < 1 or dim < 1:
        raise ConfigurationError(f"an index needs count >= 1 and dim >= 1, got count={count}, dim={dim}")
    if not memory_budget_mb > 0:
        raise ConfigurationError(f"memory budget must be > 0 MB, got {memory_budget_mb}")
    budget = int(memory_budget_mb * 1024 * 1024)
    # 2. small: exact
    if count <= rules.flat_max_vectors:
        return _within_budget(plan_flat(count, dim, f"{count} <= {rules.flat_max_vectors} vectors: exact search"),
                              budget)
    # 3. middle: full vectors in inverted lists, when they fit
    if count < rules.ivf_flat_max_vectors:
        middle = plan_ivf_flat(count, dim, rules, gpu=gpu,
                               reason=f"{count} < {rules.ivf_flat_max_vectors} vectors and the full vectors fit "
                                      f"{memory_budget_mb:g} MB")
        if middle.resident_bytes <= budget:
            return middle
        why = f"full vectors need {_mb(middle.resident_bytes)} MB, over the {memory_budget_mb:g} MB budget"
    else:
        why = f"{count} >= {rules.ivf_flat_max_vectors} vectors"
    # 4. large or tight: compressed codes, exact re-rank
    return _within_budget(plan_ivf_pq_refine(count, dim, rules, gpu=gpu, reason=f"{why}: PQ codes, exact re-rank"),
                          budget)


def _within_budget(choice: IndexChoice, budget: int) -> IndexChoice:
    if choice.resident_bytes > budget:
        raise ConfigurationError(
            f"no index fits: {choice.kind} for {choice.count} x {choice.dim} vectors needs "
            f"{_mb(choice.resident_bytes)} MB resident, over the budget of {_mb(budget)} MB"
        )
    return choice


def _quantizer_m(nlist: int, rules: ChoiceRules, gpu: bool) -> int | None:
    return rules.hnsw_quantizer_m if nlist >= rules.hnsw_quantizer_min_lists and not gpu else None


def _quantizer_bytes(nlist: int, dim: int, hnsw_m: int | None) -> int:
    centroids = nlist * dim * _FLOAT32
    graph = nlist * 2 * hnsw_m * _FLOAT32 if hnsw_m else 0  # level 0 has 2*M links
    return centroids + graph


def _pq_subquantizers(dim: int, subvector_dim: int) -> int:
    # The most sub-quantizers of at least `subvector_dim` dimensions that divide dim exactly.
    for m in range(max(1, dim // subvector_dim), 0, -1):
        if dim % m == 0:
            return m
    return 1


def _default_search(nlist: int, hnsw_m: int | None) -> SearchSettings:
    # 1/128 of the lists (32 at 4096): the 1M benchmark met recall@10 0.95 from nprobe 8; the
    # margin is for real embeddings, whose clusters are less clean than a Gaussian mixture.
    nprobe = min(nlist, max(16, nlist // 128))
    return SearchSettings(nprobe=nprobe, ef_search=max(64, 2 * nprobe) if hnsw_m else None)


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}"
