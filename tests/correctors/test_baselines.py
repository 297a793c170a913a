"""Baselines: negative prompt, delayed guidance (Jain et al.) and reseeding, each a Corrector."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from swerve.correctors.baselines.delayed_guidance import (
    DelayedGuidanceCorrector,
    delayed_guidance_sample,
)
from swerve.correctors.baselines.negative_prompt import NegativePromptCorrector
from swerve.correctors.protocol import CorrectionRequest, Corrector, Finding
from swerve.correctors.baselines.reseed import ReseedCorrector
from swerve.errors import CorrectionError


def request(concepts=("red",), seed: int | None = 9) -> CorrectionRequest:
    return CorrectionRequest("r-base", "a red star", Image.new("RGB", (32, 32)),
                             [Finding("concept", {"concepts": list(concepts)})], seed=seed)


def test_given_a_flagged_concept_when_negative_prompting_then_it_is_negated_and_guidance_grows(generator) -> None:
    corrector = NegativePromptCorrector(generator=generator, copy_terms=["copy"], guidance_step=1.5)
    assert isinstance(corrector, Corrector)
    first, second = corrector.propose(request(), 1), corrector.propose(request(), 2)
    assert first.method == "negative_prompt" and first.parameters["negative_prompt"] == "red, copy"
    assert (first.parameters["guidance_scale"], second.parameters["guidance_scale"]) == (5.0, 6.5)
    with pytest.raises(CorrectionError, match="no term"):
        NegativePromptCorrector(generator=generator).propose(request(()), 1)


def test_given_a_memorization_finding_then_the_matched_caption_is_negated(generator) -> None:
    matches = [{"caption": "the azure sigil of house vale", "near_copy": True}]
    flagged = CorrectionRequest("r", "the azure sigil of house vale", Image.new("RGB", (32, 32)),
                                [Finding("memorization", {"matches": matches})], seed=9)
    candidate = NegativePromptCorrector(generator=generator).propose(flagged, 1)
    assert candidate.parameters["negative_prompt"] == "the azure sigil of house vale"


def test_given_attempts_when_reseeding_then_each_has_its_own_deterministic_seed(generator) -> None:
    corrector = ReseedCorrector(generator=generator)
    first, second, again = (corrector.propose(request(), a) for a in (1, 2, 1))
    assert first.method == "reseed" and first.parameters["original_seed"] == 9
    assert len({9, first.parameters["seed"], second.parameters["seed"]}) == 3
    assert np.array_equal(np.asarray(first.image), np.asarray(again.image))


def test_given_no_delay_then_the_own_loop_reproduces_the_pipeline_exactly(generator) -> None:
    images, switched, _ = delayed_guidance_sample(generator, ["a red star"], [4], delayed_scale=5.0, earliest=0, latest=0)
    reference = generator.generate(["a red star"], [4])[0]
    assert switched == [0]
    assert np.abs(np.asarray(images[0], np.int16) - np.asarray(reference, np.int16)).max() <= 1


def test_given_a_fixed_switch_then_guidance_waits_and_the_image_changes(generator) -> None:
    images, switched, signal = delayed_guidance_sample(generator, ["a red star"], [4], earliest=2, latest=2,
                                                       at_minimum=False)
    reference = generator.generate(["a red star"], [4])[0]
    assert switched == [2] and len(signal[0]) == 3
    assert not np.array_equal(np.asarray(images[0]), np.asarray(reference))


def test_given_attempts_when_delaying_then_the_switch_bounds_move_later(generator) -> None:
    corrector = DelayedGuidanceCorrector(generator=generator, earliest=1, latest=1, escalation_steps=1)
    assert isinstance(corrector, Corrector)
    first, second = corrector.propose(request(), 1), corrector.propose(request(), 2)
    assert first.method == "delayed_guidance" and first.parameters["switch_step"] == 1
    assert second.parameters["switch_step"] == 2 and len(first.parameters["signal"]) == 3
