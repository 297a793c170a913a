"""GIE's removal rates (the ORR protocol of its paper), for `swerve eval correct`.

Prompts that show the target colour are generated plainly and with GIE erasing it; ``gie_orr_target``
is the share of GIE generations whose colour the zero-shot classifier no longer reads as the target.
For prompts of other colours erased with the same target, ``gie_orr_nontarget`` is the share whose
own colour is no longer read (collateral damage).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from swerve.correctors.generator import DiffusersGenerator
from swerve.correctors.gie.corrector import GieCorrector
from swerve.correctors.protocol import CorrectionRequest
from swerve.evaluation.correction_sheet import GieExample
from swerve.evaluation.toyworld import expected_colour_and_shape
from swerve.toyworld import sample_ordinary_captions
from swerve.toyworld.vocabulary import SHAPE_COLOURS

if TYPE_CHECKING:
    from swerve.evaluation.correction import CorrectionEvaluationSettings, ToyJudges

__all__ = ["evaluate_gie"]


def evaluate_gie(generator: DiffusersGenerator, judges: ToyJudges,
                 settings: CorrectionEvaluationSettings) -> tuple[dict[str, Any], list[GieExample]]:
    """ORR of GIE for the target colour, and for other colours under the same erasure (same seeds).

    Also returns the first few (prompt, plain, erased) triples of each kind, for the contact sheet.
    """
    captions = sample_ordinary_captions(settings.gie_prompts * len(SHAPE_COLOURS), seed=settings.gie_caption_seed)
    target = settings.gie_target
    with_target = [c for c in captions if f" {target} " in f" {c} "][: settings.gie_prompts]
    others = [c for c in captions if f" {target} " not in f" {c} "][: settings.gie_prompts]
    gie = GieCorrector(generator=generator, concepts=[target], **settings.method_params.get("gie", {}))
    seeds = list(range(len(with_target)))

    def colours(images: list[Image.Image]) -> list[str]:
        return [reading.colour for reading in judges.clip.classify(images)]

    def erased(prompts: list[str]) -> list[Image.Image]:
        return [gie.propose(CorrectionRequest(f"gie-{i}", p, Image.new("RGB", (8, 8)), [], seed=i), 1).image
                for i, p in enumerate(prompts)]

    plain_target_images, gie_target_images = generator.generate(with_target, seeds), erased(with_target)
    plain_other_images, gie_other_images = generator.generate(others, list(range(len(others)))), erased(others)
    plain_target, gie_target = colours(plain_target_images), colours(gie_target_images)
    plain_others, gie_others = colours(plain_other_images), colours(gie_other_images)
    other_colours = [expected_colour_and_shape(c)[0] for c in others]
    examples = [GieExample(p, a, b) for p, a, b in list(zip(with_target, plain_target_images, gie_target_images))[:6]]
    examples += [GieExample(p, a, b) for p, a, b in list(zip(others, plain_other_images, gie_other_images))[:6]]
    return {
        "gie_orr_target": float(np.mean([c != target for c in gie_target])),
        "gie_orr_target_without_gie": float(np.mean([c != target for c in plain_target])),
        "gie_orr_nontarget": float(np.mean([g != own for g, own in zip(gie_others, other_colours)])),
        "gie_orr_nontarget_without_gie": float(np.mean([g != own for g, own in zip(plain_others, other_colours)])),
        "gie_target": target,
        "gie_prompts": {"target": len(with_target), "nontarget": len(others)},
    }, examples
