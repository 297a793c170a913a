"""Compare size: how the memorization detector's pixel check separates copies at each size, and what it costs.

On the toy world (committed weights; its images are 64 px):

1. generate every memorized caption and as many ordinary captions (the caption sample of
   ``swerve eval detect``), seeds 0..S-1 each;
2. for each compare size, run the MemorizationDetector with the toy policy's settings (k=5,
   candidate similarity 0.8, tiled L2 threshold 0.1) and that ``compare_size``: per
   generation, the least tiled L2 to its k nearest training images (by embedding), and whether
   it is flagged. Memorized-caption generations count as copies (the toy generator copies them
   every time, docs/toyworld.md), ordinary ones as non-copies (a few of which are real
   near-twins of a training image: docs/results.md, "Detection on the toy world");
3. time the pixel step alone at each size: resizing a generation to the compare size, and one
   tiled L2 comparison of prepared arrays (what each of the k neighbours costs per generation).

Above 64 px the toy images are upsampled (bicubic): those rows show what upsampling does. The
embedding and the kNN do not depend on the compare size, so only the pixel step differs.

Usage: python benchmarks/compare_size.py [--seeds 4] [--sizes 32 64 128 256 512] [--data-dir .swerve]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from swerve.detectors.memorization import MemorizationDetector
from swerve.detectors.protocol import Sample
from swerve.detectors.tiled_l2 import as_unit_array, tiled_l2_one_to_many
from swerve.evaluation.toyworld import generate_all
from swerve.index import IndexManifest
from swerve.index.manifest import MANIFEST_NAME
from swerve.streams.embedded_defaults import ensure_toy_index, toy_embedder_params
from swerve.toyworld import (
    DEFAULT_GUIDANCE_SCALE,
    DEFAULT_STEPS,
    load_pipeline,
    memorized_captions,
    sample_ordinary_captions,
)

ORDINARY_CAPTION_SEED = 2_000_003  # the caption sample of `swerve eval detect` (evaluation/detection.py)
THRESHOLD = 0.1
TIMING_REPEATS = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=4, help="seeds per caption")
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    parser.add_argument("--data-dir", type=Path, default=Path(".swerve"), help="where the toy index is (built if missing)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    # 1. generations: memorized captions (copies) and as many ordinary captions (non-copies)
    started = time.perf_counter()
    pipeline = load_pipeline("cpu")
    memorized = memorized_captions()
    ordinary = sample_ordinary_captions(len(memorized), seed=ORDINARY_CAPTION_SEED)
    seeds = list(range(args.seeds))
    prompts = [c for c in memorized for _ in seeds] + [c for c in ordinary for _ in seeds]
    prompt_seeds = seeds * (len(memorized) + len(ordinary))
    is_copy = np.array([True] * (len(memorized) * len(seeds)) + [False] * (len(ordinary) * len(seeds)))
    images = generate_all(pipeline, prompts, prompt_seeds, DEFAULT_STEPS, DEFAULT_GUIDANCE_SCALE, 32)
    samples = [Sample(f"bench-{i}", image, "0" * 64, prompt, seed)
               for i, (image, prompt, seed) in enumerate(zip(images, prompts, prompt_seeds))]
    generated_s = time.perf_counter() - started

    index_dir = ensure_toy_index(args.data_dir)
    sizes = IndexManifest.read(index_dir / MANIFEST_NAME).image_sizes
    print(f"toy world: {len(memorized)} memorized + {len(ordinary)} ordinary captions x seeds 0-{args.seeds - 1} = "
          f"{len(samples)} generations of {images[0].width}x{images[0].height} px ({generated_s:.0f} s), "
          f"guidance {DEFAULT_GUIDANCE_SCALE}, {DEFAULT_STEPS} steps, torch threads {torch.get_num_threads()}")
    recorded = ("not recorded (index built before sizes were)" if sizes is None else
                f"typical short side {sizes.typical_short_side} px, most common "
                f"{sizes.most_common[0]}x{sizes.most_common[1]}, {'varying' if sizes.varies else 'all one size'}")
    print(f"index {index_dir} ({IndexManifest.read(index_dir / MANIFEST_NAME).index_version}): training images {recorded}")
    print(f"detector: k=5, candidate similarity 0.8, near-copy below tiled L2 {THRESHOLD}; "
          "copies = memorized-caption generations\n")

    # 2. separation and 3. cost, per compare size
    header = (f"{'size':>5} {'copies: median':>15} {'max':>6} {'non-copies: min':>16} {'median':>7} "
              f"{'flagged non-copies':>18} {'precision':>9} {'recall':>6} {'resize us':>9} {'compare us':>10} "
              f"{'cache KiB':>9}")
    print(header)
    for size in args.sizes:
        detector = MemorizationDetector(index_dir=str(index_dir), embedder=toy_embedder_params(), k=5,
                                        candidate_similarity=0.8, tiled_l2_threshold=THRESHOLD, compare_size=size)
        scores = [score for start in range(0, len(samples), 32) for score in detector.score(samples[start:start + 32])]
        distances = np.array([s.evidence["min_tiled_l2"] for s in scores], dtype=np.float64)
        flagged = np.array([s.flagged for s in scores])
        true_positives = int((flagged & is_copy).sum())
        precision = true_positives / max(int(flagged.sum()), 1)
        recall = true_positives / int(is_copy.sum())
        resize_us, compare_us = pixel_step_us(samples, size)
        print(f"{size:>5} {np.median(distances[is_copy]):>15.4f} {distances[is_copy].max():>6.4f} "
              f"{distances[~is_copy].min():>16.4f} {np.median(distances[~is_copy]):>7.4f} "
              f"{f'{int((flagged & ~is_copy).sum())} of {int((~is_copy).sum())}':>18} {precision:>9.3f} {recall:>6.3f} {resize_us:>9.1f} {compare_us:>10.1f} {size * size * 3 / 1024:>9.1f}")
        detector.index.close()
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


def pixel_step_us(samples: list[Sample], size: int) -> tuple[float, float]:
    """Microseconds to resize one generation to ``size``, and for one tiled L2 comparison at ``size``."""
    pictures = [s.image for s in samples if s.image is not None]
    began = time.perf_counter()
    queries = [as_unit_array(picture, size) for picture in pictures]  # each (size, size, 3)
    resize_us = (time.perf_counter() - began) / len(pictures) * 1e6
    # each generation against 5 training images at once, as the detector compares its k neighbours
    references = np.stack(queries[-5:])  # (5, size, size, 3)
    began = time.perf_counter()
    for _ in range(TIMING_REPEATS):
        for query in queries:
            tiled_l2_one_to_many(query, references)
    compare_us = (time.perf_counter() - began) / (TIMING_REPEATS * len(queries) * len(references)) * 1e6
    return resize_us, compare_us


if __name__ == "__main__":
    main()
