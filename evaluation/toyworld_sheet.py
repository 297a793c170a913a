"""The toy world's contact sheet: each memorized caption's training image beside its generations,
then a grid of generations for fresh ordinary captions.

It only generates and draws; it never judges (the figures come from evaluation/toyworld.py).
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from swerve.evaluation.contact_sheet import SheetRow, render_grid, render_rows, stack_vertically
from swerve.evaluation.toyworld import expected_colour_and_shape
from swerve.toyworld import (
    DEFAULT_GUIDANCE_SCALE,
    DEFAULT_STEPS,
    EVALUATION_SEED,
    generate_batch,
    memorized_captions,
    memorized_images,
    sample_ordinary_captions,
)


def toyworld_contact_sheet(pipeline: Any, seeds: tuple[int, ...] = (0, 1, 2), ordinary_count: int = 24,
                           ordinary_seed_base: int = 10_000, steps: int = DEFAULT_STEPS,
                           guidance_scale: float = DEFAULT_GUIDANCE_SCALE) -> Image.Image:
    """Build the sheet: memorized rows [training | seed 0 | seed 1 | ...], then ordinary generations."""
    targets = memorized_images()
    rows: list[SheetRow] = []
    for caption in memorized_captions():
        generated = generate_batch(pipeline, [caption] * len(seeds), list(seeds), steps, guidance_scale)
        rows.append(SheetRow(caption, (targets[caption], *generated)))
    seed_names = ", ".join(str(s) for s in seeds)
    memorized_part = render_rows(rows, cell=96, label_width=290,
                                 title=f"memorized captions: training image, then generations (seeds {seed_names})")
    captions = sample_ordinary_captions(ordinary_count, seed=EVALUATION_SEED)
    images = generate_batch(pipeline, captions, [ordinary_seed_base + i for i in range(len(captions))], steps,
                            guidance_scale)
    labels = [" ".join(expected_colour_and_shape(caption)) for caption in captions]
    ordinary_part = render_grid(images, labels, columns=8, cell=96,
                                title="ordinary captions (fresh, evaluation seed): generations, labelled colour + shape")
    return stack_vertically([memorized_part, ordinary_part])
