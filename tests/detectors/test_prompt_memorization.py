"""Wen et al.'s prompt-level detector: loads a local generator, scores prompts, explains tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from swerve.detectors.prompt_memorization import PromptMemorizationDetector
from swerve.detectors.protocol import Sample
from swerve.errors import ModelNotFoundError


@pytest.fixture(scope="module")
def detector(tiny_pipeline_dir: Path) -> PromptMemorizationDetector:
    return PromptMemorizationDetector(model_dir=str(tiny_pipeline_dir), threshold=0.0, num_inference_steps=5)


def sample(prompt: str, seed: int | None = 3) -> Sample:
    return Sample(request_id="r", image=Image.new("RGB", (8, 8)), image_sha256="0" * 64, prompt=prompt, seed=seed)


def test_given_a_missing_model_dir_then_the_error_names_it(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=str(tmp_path / "nope")):
        PromptMemorizationDetector(model_dir=str(tmp_path / "nope"))


def test_given_prompts_then_scores_are_positive_deterministic_and_recorded_with_their_seeds(detector: PromptMemorizationDetector) -> None:
    first, second = detector.score([sample("a red star"), sample("a blue circle")])
    again = detector.score([sample("a red star")])[0]
    assert first.value > 0 and first.value == again.value
    assert first.value != second.value
    assert first.flagged and first.threshold == 0.0
    assert first.evidence["seeds"] == [3]


def test_given_a_threshold_above_the_score_then_nothing_is_flagged(tiny_pipeline_dir: Path, detector: PromptMemorizationDetector) -> None:
    value = detector.magnitudes(["a red star"], [3])[0]
    strict = PromptMemorizationDetector(pipeline=detector.pipeline, threshold=value * 2, num_inference_steps=5)
    assert not strict.score([sample("a red star")])[0].flagged


def test_given_a_prompt_then_explain_attributes_the_score_to_its_words(detector: PromptMemorizationDetector) -> None:
    attributions = detector.explain("a large red star", seed=3)
    assert [a.token.removesuffix("</w>") for a in attributions] == ["a", "large", "red", "star"]
    assert all(a.gradient_norm > 0 for a in attributions)
