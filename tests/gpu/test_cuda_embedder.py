"""The embedder on CUDA: fp16 weights, inputs cast to the precision's dtype, the same space as on the CPU.

open_clip's fp16 keeps its class and positional embeddings in fp32, so an embedder that cast its
inputs to the first parameter's dtype fed fp32 pixels to fp16 convolutions and failed on every
GPU (found by `benchmarks/detector_overhead.py --model ViT-L-14` on an H200).

Skipped where there is no CUDA device (CI has none); run on a GPU machine with
`python -m pytest tests/gpu -q`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from swerve.index.open_clip_embedder import OpenClipEmbedder

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def drawn(index: int) -> Image.Image:
    rng = np.random.default_rng(index)
    pixels = np.full((96, 96, 3), rng.integers(0, 256, 3), dtype=np.uint8)
    x, y = rng.integers(0, 64, 2)
    pixels[y:y + 32, x:x + 32] = rng.integers(0, 256, 3)
    return Image.fromarray(pixels)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("clip") / "vit-b-32-random.pt"
    torch.save(open_clip.create_model("ViT-B-32", pretrained=None).state_dict(), path)
    return path


def test_given_cuda_when_embedding_images_and_texts_then_fp16_rows_match_the_cpu_in_fp32(checkpoint: Path) -> None:
    images, texts = [drawn(i) for i in range(6)], ["a red circle", "a blue square"]
    on_gpu = OpenClipEmbedder("ViT-B-32", checkpoint, device="cuda")
    on_cpu = OpenClipEmbedder("ViT-B-32", checkpoint, device="cpu")
    gpu_images, cpu_images = on_gpu.embed_images(images), on_cpu.embed_images(images)
    gpu_texts, cpu_texts = on_gpu.embed_texts(texts), on_cpu.embed_texts(texts)
    assert gpu_images.dtype == np.float32 and gpu_images.shape == (6, on_gpu.dim)
    assert np.all(np.sum(gpu_images * cpu_images, axis=1) > 0.99)
    assert np.all(np.sum(gpu_texts * cpu_texts, axis=1) > 0.99)
