"""Drawing of the toy world's shapes and backgrounds as float arrays.

Shapes are drawn as anti-aliased coverage masks (drawn at 4x resolution, then
box-downsampled), so edges are soft by at most one pixel and a VAE can reproduce
them. This module only draws; it must never choose attributes at random (the
caller passes every value, which keeps the data reproducible from its seed).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

SUPERSAMPLE = 4


def shape_polygon(shape: str, cx: float, cy: float, radius: float, rotation_deg: float) -> list[tuple[float, float]]:
    """Vertices of a polygonal shape (square, triangle, star, cross) in pixel coordinates."""
    theta = math.radians(rotation_deg)

    def rotated(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        cos_t, sin_t = math.cos(theta), math.sin(theta)
        return [(cx + x * cos_t - y * sin_t, cy + x * sin_t + y * cos_t) for x, y in points]

    if shape == "square":
        half = radius / math.sqrt(2.0) * 1.15
        return rotated([(-half, -half), (half, -half), (half, half), (-half, half)])
    if shape == "triangle":
        # Apex up; the centroid sits slightly below the centre so the triangle looks centred.
        return rotated([(radius * math.cos(a), radius * math.sin(a) + radius * 0.15)
                        for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)])
    if shape == "star":
        points = []
        for k in range(10):
            r = radius if k % 2 == 0 else radius * 0.45
            a = -math.pi / 2 + k * math.pi / 5
            points.append((r * math.cos(a), r * math.sin(a)))
        return rotated(points)
    if shape == "cross":
        arm = radius * 0.36
        outline = [(-arm, -radius), (arm, -radius), (arm, -arm), (radius, -arm), (radius, arm), (arm, arm),
                   (arm, radius), (-arm, radius), (-arm, arm), (-radius, arm), (-radius, -arm), (-arm, -arm)]
        return rotated(outline)
    raise ValueError(f"unknown polygonal shape {shape!r}")


def shape_mask(shape: str, size_px: int, cx: float, cy: float, radius: float, rotation_deg: float) -> np.ndarray:
    """Anti-aliased coverage mask of one shape. Returns (size_px, size_px) float32 in [0, 1]."""
    big = size_px * SUPERSAMPLE
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    s = SUPERSAMPLE
    if shape == "circle":
        draw.ellipse([(cx - radius) * s, (cy - radius) * s, (cx + radius) * s, (cy + radius) * s], fill=255)
    else:
        draw.polygon([(x * s, y * s) for x, y in shape_polygon(shape, cx, cy, radius, rotation_deg)], fill=255)
    small = canvas.resize((size_px, size_px), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def paint(canvas: np.ndarray, mask: np.ndarray, rgb: tuple[float, float, float]) -> None:
    """Alpha-blend a flat colour into canvas (H, W, 3) where mask (H, W) covers it, in place."""
    colour = np.asarray(rgb, dtype=np.float32)[None, None, :]  # (1, 1, 3)
    canvas[:] = canvas * (1.0 - mask[..., None]) + colour * mask[..., None]


def gradient_background(size_px: int, rgb: tuple[float, float, float], gradient: tuple[float, float],
                        blotches: np.ndarray) -> np.ndarray:
    """A flat colour with a gentle linear gradient and low-frequency blotches.

    gradient: (gx, gy) brightness change across the image in x and y.
    blotches: (k, k) brightness offsets, bilinearly upsampled to the image size.
    Returns (size_px, size_px, 3) float32.
    """
    ramp = np.linspace(-0.5, 0.5, size_px, dtype=np.float32)
    shade = gradient[0] * ramp[None, :] + gradient[1] * ramp[:, None]  # (H, W)
    blotch_img = Image.fromarray(blotches.astype(np.float32), mode="F").resize((size_px, size_px), Image.Resampling.BILINEAR)
    shade = shade + np.asarray(blotch_img, dtype=np.float32)
    base = np.asarray(rgb, dtype=np.float32)[None, None, :]
    canvas: np.ndarray = np.clip(base + shade[..., None], 0.0, 1.0).astype(np.float32)
    return canvas


def pattern_background(size_px: int, pattern: str, rgb_a: tuple[float, float, float],
                       rgb_b: tuple[float, float, float], period_px: int) -> np.ndarray:
    """Two-colour stripes or checkerboard. pattern: 'hstripes', 'vstripes', 'dstripes' or 'checker'."""
    ys, xs = np.mgrid[0:size_px, 0:size_px]
    if pattern == "hstripes":
        select = (ys // period_px) % 2
    elif pattern == "vstripes":
        select = (xs // period_px) % 2
    elif pattern == "dstripes":
        select = ((xs + ys) // period_px) % 2
    elif pattern == "checker":
        select = ((xs // period_px) + (ys // period_px)) % 2
    else:
        raise ValueError(f"unknown background pattern {pattern!r}")
    a = np.asarray(rgb_a, dtype=np.float32)
    b = np.asarray(rgb_b, dtype=np.float32)
    return np.where(select[..., None] == 0, a, b).astype(np.float32)


def to_pil(canvas: np.ndarray) -> Image.Image:
    """(H, W, 3) float in [0, 1] -> RGB PIL image."""
    return Image.fromarray((np.clip(canvas, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), mode="RGB")
