"""`swerve eval correct`'s first step on the toy world: what the detector flags, and the fidelity of
what it lets through (the reference for replacements of the same prompts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from swerve.correctors.generator import DiffusersGenerator
from swerve.evaluation.correction import CorrectionEvaluationSettings, ToyJudges, flag
from swerve.toyworld import load_pipeline, memorized_captions, sample_ordinary_captions

pytestmark = pytest.mark.slow


def test_given_memorized_and_ordinary_prompts_then_flagged_and_let_through_add_up_and_the_reference_is_their_clip_mean(
        tmp_path: Path) -> None:
    settings = CorrectionEvaluationSettings(seeds=2)
    generator = DiffusersGenerator(load_pipeline(None), "toyworld", steps=settings.steps, guidance_scale=settings.guidance_scale)
    judges = ToyJudges(tmp_path, settings.tiled_l2_threshold, {"tiled_l2": 0.15, "max_cosine": None})
    memorized, ordinary = memorized_captions()[0], sample_ordinary_captions(1, seed=3)[0]
    flagged, detection = flag(generator, judges, [(memorized, memorized), (ordinary, ordinary)], seeds=2)
    assert detection["generated"] == 4 and detection["flagged"] + detection["unflagged"] == 4
    assert {item.prompt for item in flagged} == {memorized}  # the memorized caption copies from both seeds
    let_through = generator.generate([ordinary] * 2, [0, 1])
    assert detection["unflagged_fidelity"] == pytest.approx(float(np.mean(judges.clip.clip_scores(let_through, [ordinary] * 2))),
                                                            abs=1e-5)
