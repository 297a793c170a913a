"""Embedding nudging (Eq. 2): the latent moves away from U, toward D, and stays bounded."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from swerve.correctors.nudging.algorithm import (
    LatentNudge,
    NudgingSettings,
    nudge,
    nudging_objective,
    predicted_x0,
)
from swerve.correctors.nudging.corrector import NudgingCorrector
from swerve.correctors.protocol import Candidate, CorrectionRequest, Corrector, Finding
from swerve.errors import ConfigurationError, CorrectionError
from swerve.media import ImageRef


def cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0))


def test_given_a_push_point_when_nudging_then_cosine_to_it_decreases_and_the_move_is_bounded() -> None:
    torch.manual_seed(0)
    origin, push = torch.randn(2, 4, 8, 8), torch.randn(1, 4, 8, 8)
    moved = nudge(origin, push, push[:0], alpha=1.0, beta=2.0, iterations=20, learning_rate=0.1, max_distance=0.5)
    for b in range(2):
        assert cos(moved[b], push[0]) < cos(origin[b], push[0]) - 0.2
        # the move stays on the sphere ||L|| = ||L0||, within the trust radius 0.5 ||L0||
        assert torch.isclose(moved[b].norm(), origin[b].norm(), rtol=1e-4)
        assert float((moved[b] - origin[b]).norm() / origin[b].norm()) <= 0.5 + 1e-4


def test_given_a_strong_push_then_the_trust_radius_stops_the_flip_to_minus_u() -> None:
    torch.manual_seed(2)
    push = torch.randn(1, 4, 8, 8)
    origin = 0.9 * push / push.norm() * 16 + 0.3 * torch.randn(1, 4, 8, 8)  # already close to U
    free = nudge(origin, push, push[:0], 1.0, 8.0, 40, 0.1, max_distance=2.0)
    bounded = nudge(origin, push, push[:0], 1.0, 8.0, 40, 0.1, max_distance=1.0)
    assert cos(free[0], push[0]) < -0.9  # the paper's objective alone flips L to nearly -U
    assert cos(bounded[0], push[0]) > 0.0 and float((bounded - origin).norm() / origin.norm()) <= 1.0 + 1e-4


def test_given_a_pull_point_only_when_nudging_then_cosine_to_it_increases() -> None:
    torch.manual_seed(1)
    origin, pull = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    moved = nudge(origin, pull[:0], pull, alpha=2.0, beta=0.0, iterations=20, learning_rate=0.1)
    assert cos(moved[0], pull[0]) > cos(origin[0], pull[0]) + 0.3


def test_given_zero_weights_when_nudging_then_the_latent_does_not_move() -> None:
    origin, push = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    assert torch.allclose(nudge(origin, push, push[:0], 0.0, 0.0, 5, 0.1), origin, atol=1e-5)
    assert float(nudging_objective(origin, origin, push[:0], push[:0], 1.0, 1.0)[0]) == pytest.approx(0.0, abs=1e-5)


def test_given_bad_settings_then_they_are_refused_up_front() -> None:
    with pytest.raises(ConfigurationError):
        NudgingSettings(target="somewhere").check()
    with pytest.raises(ConfigurationError):
        NudgingSettings(iterations=0).check()
    with pytest.raises(ConfigurationError):
        NudgingSettings(max_distance=1.5).check()
    assert NudgingSettings(beta=2.0, max_distance=0.5).stronger(4.0) == NudgingSettings(beta=8.0, max_distance=2**0.5)


@pytest.mark.parametrize("target", ["steps", "x0"])
def test_given_a_step_target_when_the_callback_runs_then_it_nudges_only_the_chosen_step(generator, target) -> None:
    push = generator.encode_images([Image.new("RGB", (32, 32), (200, 30, 30))])
    callback = LatentNudge(NudgingSettings(target=target, beta=3.0, at_steps=(1,)), push, push[:0])
    inputs = ("latents", "prompt_embeds") if target == "x0" else ("latents",)
    generator.generate(["a red star"], [4], callback=callback, callback_inputs=inputs)
    assert [n["step"] for n in callback.applied] == [1]
    assert callback.applied[0]["cos_push_after"] < callback.applied[0]["cos_push_before"]


def flagged_request(generator, concepts=("red",)) -> CorrectionRequest:
    image = generator.generate(["a red star"], [11])[0]
    matched = ImageRef.from_image(Image.new("RGB", (32, 32), (10, 200, 10))).model_dump(mode="json")
    findings = [Finding("memorization", {"matched_images": [matched]}), Finding("concept", {"concepts": list(concepts)})]
    return CorrectionRequest("req-1", "a red star", image, findings, seed=11)


@pytest.mark.parametrize("target", ["initial", "steps", "x0"])
def test_given_a_flagged_copy_when_the_corrector_proposes_then_it_records_method_and_escalates(generator, target) -> None:
    corrector = NudgingCorrector(generator=generator, target=target, beta=2.0, escalation=2.0, iterations=5)
    assert isinstance(corrector, Corrector)
    request = flagged_request(generator)
    first, second = corrector.propose(request, 1), corrector.propose(request, 2)
    assert isinstance(first, Candidate) and first.method == "nudging" and first.image.size == (32, 32)
    assert first.parameters["push_points"] == 2  # the matched training image + the flagged output
    assert first.parameters["seed"] == 11 and first.parameters["model_id"] == "tiny-random"
    assert (first.parameters["beta"], second.parameters["beta"]) == (2.0, 4.0)
    assert (first.parameters["max_distance"], second.parameters["max_distance"]) == (0.5, 1.0)
    assert first.parameters["nudges"][0]["cos_push_after"] < first.parameters["nudges"][0]["cos_push_before"]


def test_given_prompt_mitigation_then_the_nudged_regeneration_also_lowers_wens_magnitude(generator) -> None:
    plain = NudgingCorrector(generator=generator, iterations=5)
    mitigated = NudgingCorrector(generator=generator, iterations=5, prompt_mitigation=True, mitigation_iterations=3)
    request = flagged_request(generator)
    first, second = mitigated.propose(request, 1), mitigated.propose(request, 2)
    record = first.parameters["prompt_mitigation"]
    assert record["magnitude_after"] < record["magnitude_before"] and 1 <= record["iterations"] <= 3
    assert second.parameters["prompt_mitigation"]["target_ratio"] == 0.25  # 0.5 ** attempt
    assert plain.propose(request, 1).parameters["prompt_mitigation"] is None
    assert first.image.tobytes() != plain.propose(request, 1).image.tobytes()
    with pytest.raises(ConfigurationError):
        NudgingCorrector(generator=generator, prompt_mitigation=True, mitigation_target_ratio=1.5)


def test_given_nothing_to_push_from_then_the_corrector_raises_a_correction_error(generator) -> None:
    corrector = NudgingCorrector(generator=generator, push_flagged_output=False)
    request = CorrectionRequest("r", "a red star", Image.new("RGB", (32, 32)), [], seed=1)
    with pytest.raises(CorrectionError, match="push away"):
        corrector.propose(request, 1)


def test_given_a_second_attempt_then_the_push_points_are_not_resolved_or_encoded_again(generator) -> None:
    calls: list[str] = []

    def resolver(request: CorrectionRequest) -> list[Image.Image]:
        calls.append(request.request_id)
        return [Image.new("RGB", (32, 32), (0, 0, 255))]

    corrector = NudgingCorrector(generator=generator, push_resolver=resolver, iterations=2)
    request = flagged_request(generator)
    corrector.propose(request, 1)
    corrector.propose(request, 2)
    assert calls == ["req-1"]


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_given_each_parametrization_then_the_predicted_x0_is_recovered(prediction_type) -> None:
    a_t, x0, eps = torch.tensor(0.3), torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    x_t = a_t.sqrt() * x0 + (1 - a_t).sqrt() * eps
    output = {"epsilon": eps, "v_prediction": a_t.sqrt() * eps - (1 - a_t).sqrt() * x0, "sample": x0}[prediction_type]
    assert torch.allclose(predicted_x0(prediction_type, output, x_t, a_t), x0, atol=1e-5)
