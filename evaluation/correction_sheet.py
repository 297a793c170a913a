"""The contact sheet of `swerve eval correct`: what correction did to flagged outputs, and what GIE erased.

Drawing only: this module never generates, judges or loads a model.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from swerve.evaluation.contact_sheet import SheetRow, render_rows, stack_vertically


@dataclass(frozen=True)
class CorrectedExample:
    """One flagged output of a memorized caption and what the adaptive loop made of it."""

    prompt: str
    seed: int
    training: Image.Image  # the training image it copied
    flagged: Image.Image
    replacement: Image.Image | None  # None: blocked after every attempt
    attempts: int


@dataclass(frozen=True)
class GieExample:
    """One prompt generated plainly and with the target concept erased, from the same seed."""

    prompt: str
    plain: Image.Image
    erased: Image.Image


def correction_contact_sheet(method: str, corrected: list[CorrectedExample], erased: list[GieExample],
                             concept: str) -> Image.Image:
    """Rows of training | flagged | replacement, then rows of plain | GIE."""
    if not corrected and not erased:
        raise ValueError("a correction contact sheet needs at least one example")
    parts = []
    if corrected:
        rows = []
        for example in corrected:
            outcome = (f"replaced after {example.attempts} attempt(s)" if example.replacement is not None
                       else f"blocked after {example.attempts} attempt(s)")
            images = (example.training, example.flagged) + ((example.replacement,) if example.replacement else ())
            rows.append(SheetRow(f"{example.prompt} (seed {example.seed}): {outcome}", images))
        parts.append(render_rows(rows, cell=96, label_width=380,
                                 title=f"{method}: training image | flagged output | replacement"))
    if erased:
        rows = [SheetRow(example.prompt, (example.plain, example.erased)) for example in erased]
        parts.append(render_rows(rows, cell=96, label_width=380, title=f"GIE erasing '{concept}': plain | erased"))
    return stack_vertically(parts)
