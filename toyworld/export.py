"""Write the toy world's training images to a folder, with captions and a manifest for an index build.

Each distinct training image is written once as a PNG (a memorized scene is one file, its
duplication is recorded as `duplicates`), next to a .txt with its caption, and one line of
manifest.jsonl: uri (file:// absolute path), caption, sha256 of the PNG bytes, memorized
flag, duplicates. This module must never draw differently from dataset.py: it only writes
what `build_training_set` returns.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from pathlib import Path

from swerve.toyworld.dataset import DEFAULT_DUPLICATES, DEFAULT_ORDINARY_COUNT, TRAINING_SEED, build_training_set

MANIFEST_NAME = "manifest.jsonl"


def export_training_set(out: Path | str, limit: int | None = None, seed: int = TRAINING_SEED,
                        ordinary_count: int = DEFAULT_ORDINARY_COUNT,
                        duplicates: int = DEFAULT_DUPLICATES) -> Path:
    """Write up to `limit` distinct training images (memorized first) and return the manifest path."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    count = ordinary_count if limit is None else max(0, min(ordinary_count, limit))
    training_set = build_training_set(seed=seed, ordinary_count=count, duplicates=duplicates)
    copies = Counter(training_set.order)
    examples = list(enumerate(training_set.unique))[: limit if limit is not None else None]
    manifest = out / MANIFEST_NAME
    with manifest.open("w", encoding="utf-8") as lines:
        for index, example in examples:
            buffer = io.BytesIO()
            example.image.save(buffer, format="PNG")
            png = buffer.getvalue()
            path = out / f"{index:05d}.png"
            path.write_bytes(png)
            path.with_suffix(".txt").write_text(example.caption + "\n", encoding="utf-8")
            lines.write(json.dumps({"uri": path.as_uri(), "caption": example.caption,
                                    "sha256": hashlib.sha256(png).hexdigest(), "memorized": example.memorized,
                                    "duplicates": copies[index]}) + "\n")
    return manifest
