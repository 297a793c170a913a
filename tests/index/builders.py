"""Small builders shared by the index tests: clustered unit vectors, recall, drawn images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def clustered_unit_vectors(count: int, dim: int, *, centres: int = 200, spread: float = 0.5,
                           seed: int = 0) -> np.ndarray:
    """(count, dim) float32 unit rows drawn around `centres` Gaussian centres (a toy embedding cloud)."""
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((centres, dim)).astype(np.float32)  # (centres, dim)
    points = means[rng.integers(0, centres, count)] + spread * rng.standard_normal((count, dim)).astype(np.float32)
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of each row of `truth` ids present in the same row of `found`."""
    return float(np.mean([len(set(a.tolist()) & set(b.tolist())) / truth.shape[1] for a, b in zip(found, truth)]))


def drawn_image(index: int, size: int = 32) -> Image.Image:
    """A distinct small RGB image per index: a coloured square on a coloured background."""
    rng = np.random.default_rng(index)
    pixels = np.empty((size, size, 3), dtype=np.uint8)
    pixels[:] = rng.integers(0, 256, 3)
    x, y = rng.integers(0, size // 2, 2)
    pixels[y:y + size // 2, x:x + size // 2] = rng.integers(0, 256, 3)
    return Image.fromarray(pixels)


def write_image_folder(directory: Path, count: int) -> list[Path]:
    """`count` PNGs with sibling .txt captions in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = directory / f"{index:03d}.png"
        drawn_image(index).save(path)
        path.with_suffix(".txt").write_text(f"caption {index}\n")
        paths.append(path)
    return paths


def save_random_checkpoint(config: Path, name: str, path: Path, seed: int) -> Path:
    """Build `name` from `config` with random weights and torch.save its state dict to `path`."""
    import open_clip

    open_clip.add_model_config(config)
    torch.manual_seed(seed)
    model = open_clip.create_model(name, pretrained=None)
    torch.save(model.state_dict(), path)
    return path
