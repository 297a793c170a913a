"""Prompt screening: Wen's detector judges prompts before generation and explains its flags."""

from __future__ import annotations

from pathlib import Path

from swerve.streams.events import PromptEvent
from swerve.streams.judging import Judge
from swerve.streams.policy import parse_policy
from swerve.streams.screen_stage import screen


def policy(model_dir: Path, threshold: float) -> str:
    return f"""
version: "screen"
prompt_detectors:
  - name: wen
    kind: prompt_memorization
    on_flag: correct
    params: {{model_dir: "{model_dir}", threshold: {threshold}, num_inference_steps: 5}}
"""


def prompt(index: int, text: str) -> PromptEvent:
    return PromptEvent(id=f"p-{index}", request_id=f"r-{index}", prompt=text, seed=1)


def test_given_a_prompt_over_the_threshold_then_it_is_flagged_with_token_attributions(tiny_pipeline_dir: Path) -> None:
    [outputs] = screen(Judge(), parse_policy(policy(tiny_pipeline_dir, 0.0)), [prompt(1, "a red star")])
    screened = outputs[0].event
    assert screened.decision == "correct" and screened.scores[0].detector == "wen"
    assert [a.token.removesuffix("</w>") for a in screened.attributions] == ["a", "red", "star"]
    assert outputs[1].topic == "audit" and outputs[1].event.stage == "screen"


def test_given_a_prompt_under_the_threshold_then_it_passes_without_attributions(tiny_pipeline_dir: Path) -> None:
    [outputs] = screen(Judge(), parse_policy(policy(tiny_pipeline_dir, 1e9)), [prompt(2, "a blue circle")])
    assert outputs[0].event.decision == "pass" and outputs[0].event.attributions == []


def test_given_an_image_detector_in_prompt_screening_then_it_fails_closed() -> None:
    text = 'version: "x"\nprompt_detectors: [{name: takedowns, kind: hash_blocklist, params: {digests: []}}]'
    [outputs] = screen(Judge(), parse_policy(text), [prompt(3, "a red star")])
    screened = outputs[0].event
    assert screened.decision == "block" and screened.scores[0].status == "error"
    assert "prompt-only" in screened.scores[0].error
