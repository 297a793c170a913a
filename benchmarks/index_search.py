"""Index search: exact Flat inner product vs the index swerve's builder chooses, side by side.

The data is a Gaussian mixture, not uniform noise: N unit vectors of width d drawn around C
random centres (point = centre + spread * noise, then L2-normalized), and Q queries drawn
the same way (none of them in the index). Both indexes are built in the same run, through
the same ``VectorIndex`` API the detectors use, with the same faiss thread count:

- exact: ``flat``, the reference; its top-10 is the ground truth.
- chosen: ``choose_index(N, d, memory_budget_mb)``; at 1M x 512 that is IVF-PQ (PQ64x8, 4096
  lists, HNSW coarse quantizer) with an exact re-rank of the top 100 on the stored vectors.

For the chosen index nprobe and the re-rank depth are swept; the fastest setting with recall@10 >= the target is
selected and reported, the library's default settings are timed too, and the selected setting
is timed again memory-mapped from the file. Queries are one batch
of Q per call; QPS is the best of --repeats calls. Index bytes are the written file sizes;
"resident" is what must stay in memory when the file is memory-mapped.

Usage: python benchmarks/index_search.py [--count 1000000] [--dim 512] [--threads 2]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import faiss
import numpy as np
from swerve.index import (
    ChoiceRules,
    SearchSettings,
    VectorIndex,
    choose_index,
    plan_flat,
    set_faiss_threads,
)


@dataclass(frozen=True)
class Row:
    """One measured configuration."""

    name: str
    build_s: float
    qps: float
    recall: float
    file_bytes: int
    resident_bytes: int
    settings: str


def clustered_unit_vectors(count: int, dim: int, centres: np.ndarray, spread: float,
                           rng: np.random.Generator, chunk: int = 100_000) -> np.ndarray:
    """(count, dim) float32 unit rows around `centres`, generated in chunks to bound memory."""
    out = np.empty((count, dim), dtype=np.float32)  # (N, d)
    for start in range(0, count, chunk):
        size = min(chunk, count - start)
        points = centres[rng.integers(0, len(centres), size)]  # (size, d)
        points += spread * rng.standard_normal((size, dim), dtype=np.float32)
        points /= np.linalg.norm(points, axis=1, keepdims=True)
        out[start:start + size] = points
    return out


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of the true top-k ids found, per query."""
    hits = sum(len(np.intersect1d(a, b, assume_unique=True)) for a, b in zip(found, truth))
    return hits / truth.size


def timed_search(index: VectorIndex, queries: np.ndarray, k: int, settings: SearchSettings | None,
                 repeats: int) -> tuple[float, np.ndarray]:
    """Best-of-`repeats` queries per second for one batched call, and the ids it returned."""
    index.search(queries[:10], k, settings=settings)  # warm-up: page in, allocate
    best, ids = float("inf"), np.empty(0)
    for _ in range(repeats):
        start = time.perf_counter()
        _, ids = index.search(queries, k, settings=settings)
        best = min(best, time.perf_counter() - start)
    return len(queries) / best, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000, help="vectors in the index")
    parser.add_argument("--dim", type=int, default=512, help="vector width")
    parser.add_argument("--centres", type=int, default=4096, help="mixture components")
    parser.add_argument("--spread", type=float, default=1.0,
                        help="noise scale s around each centre: cos(point, centre) ~ 1/sqrt(1+s^2) = 0.71 at 1.0")
    parser.add_argument("--queries", type=int, default=1000, help="queries per batch")
    parser.add_argument("--k", type=int, default=10, help="neighbours per query (recall@k)")
    parser.add_argument("--threads", type=int, default=None, help="faiss threads (default: available cores)")
    parser.add_argument("--memory-budget-mb", type=float, default=4096, help="budget given to choose_index")
    parser.add_argument("--ivf-flat-max-vectors", type=int, default=ChoiceRules().ivf_flat_max_vectors,
                        help="choose_index rule: IVF-Flat only below this count (lower it to try IVF-PQ small)")
    parser.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, 32, 64], help="nprobe values to sweep")
    parser.add_argument("--rerank", type=int, nargs="+", default=[10, 100, 200, 400],
                        help="re-rank candidate counts to sweep (k means no re-rank beyond the PQ top-k)")
    parser.add_argument("--target-recall", type=float, default=0.95)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per setting (best is kept)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    threads = set_faiss_threads(args.threads)
    print(f"faiss {faiss.__version__}, {threads} threads, {platform.processor() or platform.machine()}, "
          f"N={args.count} d={args.dim} C={args.centres} spread={args.spread} Q={args.queries} k={args.k}")
    # 1. data
    rng = np.random.default_rng(args.seed)
    centres = rng.standard_normal((args.centres, args.dim), dtype=np.float32)  # (C, d)
    start = time.perf_counter()
    vectors = clustered_unit_vectors(args.count, args.dim, centres, args.spread, rng)  # (N, d)
    queries = clustered_unit_vectors(args.queries, args.dim, centres, args.spread, rng)  # (Q, d)
    print(f"data: {time.perf_counter() - start:.1f} s")
    workdir = Path(tempfile.mkdtemp(prefix="swerve-index-bench-"))
    rows: list[Row] = []

    # 2. exact reference
    flat_plan = plan_flat(args.count, args.dim)
    start = time.perf_counter()
    exact = VectorIndex.build(flat_plan, vectors, threads=threads, placement="cpu")
    flat_build = time.perf_counter() - start
    flat_qps, truth = timed_search(exact, queries, args.k, None, max(1, args.repeats - 1))
    flat_bytes = exact.write(workdir / "flat.faiss")
    rows.append(Row("exact Flat", flat_build, flat_qps, 1.0, flat_bytes, flat_plan.resident_bytes, "-"))
    del exact

    # 3. the builder's choice, nprobe swept
    choice = choose_index(args.count, args.dim, memory_budget_mb=args.memory_budget_mb,
                          rules=ChoiceRules(ivf_flat_max_vectors=args.ivf_flat_max_vectors))
    print(f"choice: {choice.kind} {choice.factory} ({choice.reason}); default {choice.search}")
    start = time.perf_counter()
    chosen = VectorIndex.build(choice, vectors, threads=threads, placement="cpu")
    chosen_build = time.perf_counter() - start
    print(f"built in {chosen_build:.1f} s; sweep:")
    sweep = []
    for rerank in args.rerank:
        for nprobe in args.nprobe:
            settings = choice.search.replace(nprobe=nprobe, rerank_candidates=rerank,
                                             ef_search=max(64, 2 * nprobe) if choice.hnsw_quantizer_m else None)
            qps, ids = timed_search(chosen, queries, args.k, settings, args.repeats)
            recall = recall_at_k(ids, truth)
            sweep.append((settings, qps, recall))
            print(f"  rerank={rerank:<4} nprobe={nprobe:<4} ef_search={settings.ef_search}  "
                  f"recall@{args.k}={recall:.4f}  qps={qps:,.0f}  ({qps / flat_qps:.1f}x exact)")
    default_qps, default_ids = timed_search(chosen, queries, args.k, choice.search, args.repeats)
    default_row = Row("  same, default settings", chosen_build, default_qps, recall_at_k(default_ids, truth), 0,
                      choice.resident_bytes, f"nprobe={choice.search.nprobe}, ef_search={choice.search.ef_search}, "
                                             f"rerank={choice.search.rerank_candidates}")
    meeting = [entry for entry in sweep if entry[2] >= args.target_recall]
    settings, qps, recall = max(meeting, key=lambda entry: entry[1]) if meeting else max(sweep, key=lambda e: e[2])
    chosen_bytes = chosen.write(workdir / "chosen.faiss")
    label = f"nprobe={settings.nprobe}, ef_search={settings.ef_search}, rerank={settings.rerank_candidates}"
    rows.append(Row(f"chosen {choice.kind}", chosen_build, qps, recall, chosen_bytes, choice.resident_bytes, label))
    rows.append(replace(default_row, file_bytes=chosen_bytes))
    del chosen

    # 4. the same file, memory-mapped
    mapped = VectorIndex.read(workdir / "chosen.faiss", settings=settings, mmap=True, threads=threads,
                              placement="cpu")
    mapped_qps, mapped_ids = timed_search(mapped, queries, args.k, settings, args.repeats)
    rows.append(Row("  same, memory-mapped", 0.0, mapped_qps, recall_at_k(mapped_ids, truth), chosen_bytes,
                    choice.resident_bytes, label))

    # 5. report
    print()
    print(f"{'index':<26} {'build s':>8} {'QPS':>10} {'recall@' + str(args.k):>10} {'file MB':>9} "
          f"{'resident MB':>12}  settings")
    for row in rows:
        print(f"{row.name:<26} {row.build_s:>8.1f} {row.qps:>10,.0f} {row.recall:>10.4f} "
              f"{row.file_bytes / 2**20:>9.1f} {row.resident_bytes / 2**20:>12.1f}  {row.settings}")
    exact_row, chosen_row = rows[0], rows[1]
    print(f"\nratio chosen/exact: QPS {chosen_row.qps / exact_row.qps:.1f}x, recall@{args.k} {chosen_row.recall:.4f}, "
          f"file {chosen_row.file_bytes / exact_row.file_bytes:.2f}x, resident "
          f"{chosen_row.resident_bytes / exact_row.resident_bytes:.3f}x")
    met = chosen_row.recall >= args.target_recall and chosen_row.qps >= 10 * exact_row.qps
    print(f"target (recall@{args.k} >= {args.target_recall} and >= 10x exact QPS): {'met' if met else 'NOT met'}")
    for path in workdir.iterdir():
        path.unlink()
    workdir.rmdir()


if __name__ == "__main__":
    main()
