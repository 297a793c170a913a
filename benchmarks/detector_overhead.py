"""Detector overhead: the full memorization detector vs bare embedding of the same batch.

The memorization detector embeds each generation, searches the training-image index, reads the
candidates' pixels and confirms with tiled L2. Embedding is the cost any embedding-based filter
pays; everything after it is swerve's overhead. Both are timed on the same batch, in one run,
with an open_clip model of the named shape (``--model``, ViT-B-32 by default; ViT-L-14 is the
SD-scale embedder) and random weights: compute does not depend on weights. The embedder runs
where a worker's would: CUDA in fp16 when there is a GPU, else the CPU in fp32.

The training set is drawn images on disk, indexed with the same model; queries are near-copies
of training images, so every query has candidates and the pixel check always runs (the
expensive path). The training images' decoded pixels are cached after first use, as in a
long-running worker, so the timed runs follow one warm-up run.

Usage: python benchmarks/detector_overhead.py [--model ViT-B-32] [--training 500] [--batch 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import open_clip
import torch
from PIL import Image

from swerve.detectors.embedders import shared_embedder
from swerve.detectors.memorization import MemorizationDetector
from swerve.detectors.protocol import Sample
from swerve.index import TrainingIndex
from swerve.index.training_image import TrainingImage
from swerve.media import sha256_hex


def drawn(index: int, size: int = 256) -> Image.Image:
    rng = np.random.default_rng(index)
    pixels = np.empty((size, size, 3), dtype=np.uint8)
    pixels[:] = rng.integers(0, 256, 3)
    for _ in range(3):
        x, y = rng.integers(0, size * 3 // 4, 2)
        pixels[y:y + size // 4, x:x + size // 4] = rng.integers(0, 256, 3)
    return Image.fromarray(pixels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ViT-B-32", help="open_clip architecture name, e.g. ViT-L-14")
    parser.add_argument("--training", type=int, default=500)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="swerve-detector-bench-"))

    # 1. a model of the named shape with random weights, saved and loaded as a local checkpoint
    torch.manual_seed(0)
    checkpoint = work / f"{args.model}-random.pt"
    torch.save(open_clip.create_model(args.model, pretrained=None).state_dict(), checkpoint)
    embedder_params = {"model": args.model, "checkpoint": str(checkpoint), "batch_size": args.batch}
    embedder = shared_embedder(embedder_params, "benchmark")

    # 2. training images on disk, indexed with the same model
    records = []
    for index in range(args.training):
        path = work / "training" / f"{index:05d}.png"
        path.parent.mkdir(exist_ok=True)
        drawn(index).save(path)
        records.append(TrainingImage(uri=path.as_uri(), caption=f"training {index}", sha256=sha256_hex(path.read_bytes())))
    started = time.perf_counter()
    TrainingIndex.build(work / "index", records, embedder)
    build_s = time.perf_counter() - started
    detector = MemorizationDetector(index_dir=str(work / "index"), embedder=embedder_params, k=5, candidate_similarity=0.5)

    # 3. queries: near-copies of training images (so the pixel check runs for every query)
    rng = np.random.default_rng(1)
    queries = []
    for index in rng.choice(args.training, args.batch, replace=False):
        pixels = np.asarray(drawn(int(index))).astype(np.int16) + rng.integers(-4, 5, (256, 256, 3))
        queries.append(Image.fromarray(pixels.clip(0, 255).astype(np.uint8)))
    samples = [Sample(f"q{i}", image, "0" * 64) for i, image in enumerate(queries)]

    # 4. warm up both paths, then time them alternately on the same batch
    embedder.embed_images(queries)
    detector.score(samples)
    embed_times, detect_times = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        embedder.embed_images(queries)
        embed_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        scores = detector.score(samples)
        detect_times.append(time.perf_counter() - started)
    flagged = sum(s.flagged for s in scores)
    embed_ms = statistics.median(embed_times) / args.batch * 1000
    detect_ms = statistics.median(detect_times) / args.batch * 1000
    accelerator = f" ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else ""
    print(f"model: {args.model}-shaped open_clip (random weights), {embedder}{accelerator}, "
          f"torch threads: {torch.get_num_threads()}")
    print(f"index: {args.training} training images (256x256 PNG), built in {build_s:.1f} s; batch {args.batch}, median of {args.repeats}")
    print(f"{'path':<50} {'ms / image':>10} {'images/s':>10}")
    print(f"{'bare embedding (baseline)':<50} {embed_ms:>10.2f} {1000 / embed_ms:>10.1f}")
    print(f"{'memorization detector: embed + kNN + tiled L2':<50} {detect_ms:>10.2f} {1000 / detect_ms:>10.1f}")
    print(f"overhead beyond embedding: {(detect_ms - embed_ms) / embed_ms * 100:.1f}%  (queries flagged: {flagged}/{args.batch})")


if __name__ == "__main__":
    main()
