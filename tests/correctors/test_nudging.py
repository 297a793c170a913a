"""Embedding nudging (Eq. 2): the latent, or the prompt embedding, moves away from U, toward D, and stays bounded."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from swerve.correctors.nudging.algorithm import (
    SOT_ROWS,
    LatentNudge,
    NudgingSettings,
    PromptNudge,
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


# --- target "prompt": Eq. 2 on the conditional prompt embedding e_c, pushed from the matched captions ---

CAPTION = "a red star on a blue sky"  # the tiny encoder puts it at cos 0.95 (rows after SOT) from "a red star"


def embed(generator, *prompts: str) -> torch.Tensor:
    """Conditional text embeddings (n, 77, 32) of the tiny encoder."""
    with torch.no_grad():
        return generator.encode(list(prompts))[0]


def caption_request(generator, captions=(CAPTION,), near_copy=True, request_id="req-p") -> CorrectionRequest:
    image = generator.generate(["a red star"], [11])[0]
    matched = ImageRef.from_image(Image.new("RGB", (32, 32), (10, 200, 10))).model_dump(mode="json")
    matches = [{"id": i, "caption": c, "near_copy": near_copy, "distance": 0.05} for i, c in enumerate(captions)]
    findings = [Finding("memorization", {"matches": matches, "matched_images": [matched]})]
    return CorrectionRequest(request_id, "a red star", image, findings, seed=11)


def test_given_a_matched_caption_when_nudging_the_prompt_embedding_then_it_moves_away_within_the_radius_and_sot_stays(
        generator) -> None:
    e_c, push = embed(generator, "a red star"), embed(generator, CAPTION)  # (1, 77, 32) each
    nudger = PromptNudge(NudgingSettings(target="prompt", beta=4.0, max_distance=0.5), push, push[:0])
    moved = nudger.apply(e_c)
    assert moved.shape == e_c.shape and moved.dtype == e_c.dtype
    assert torch.equal(moved[:, :SOT_ROWS], e_c[:, :SOT_ROWS])  # the start-of-text row is held fixed
    assert cos(moved[0], push[0]) < cos(e_c[0], push[0]) - 0.1  # over the whole flattened e_c too
    rows, rows0 = moved[0, SOT_ROWS:], e_c[0, SOT_ROWS:]
    assert torch.isclose(rows.norm(), rows0.norm(), rtol=1e-4)  # on the sphere of the rows that move
    assert 0.0 < float((rows - rows0).norm() / rows0.norm()) <= 0.5 + 1e-4
    record = nudger.applied[0]
    assert record["cos_push_after"] < record["cos_push_before"] and record["distance"] == pytest.approx(0.5, abs=1e-3)


def test_given_a_prompt_equal_to_the_caption_then_only_a_pull_prompt_moves_the_embedding(generator) -> None:
    e_c, pull = embed(generator, "a red star"), embed(generator, "a green circle")
    alone = PromptNudge(NudgingSettings(target="prompt", beta=8.0), e_c, e_c[:0])
    assert torch.allclose(alone.apply(e_c), e_c, atol=1e-5)  # cos(U, L0) = 1 is stationary on the sphere
    assert alone.applied[0]["distance"] == 0.0
    pulled = PromptNudge(NudgingSettings(target="prompt", alpha=8.0, beta=2.0), e_c, pull)
    moved = pulled.apply(e_c)
    assert cos(moved[0, 1:], pull[0, 1:]) > cos(e_c[0, 1:], pull[0, 1:]) and pulled.applied[0]["cos_push_after"] < 1.0


def test_given_the_prompt_target_then_settings_accept_it_without_steps() -> None:
    NudgingSettings(target="prompt", at_steps=()).check()
    with pytest.raises(ConfigurationError):
        PromptNudge(NudgingSettings(target="initial"), torch.zeros(1, 77, 32), torch.zeros(0, 77, 32))


@pytest.mark.parametrize("findings", [
    [],  # nothing found
    [Finding("memorization", {"matched_images": []})],  # images but no matches
    [Finding("memorization", {"matches": [{"id": 1, "caption": CAPTION, "near_copy": False}]})],  # not a near-copy
])
def test_given_no_matched_caption_when_the_prompt_target_proposes_then_it_raises_a_correction_error(generator,
                                                                                                    findings) -> None:
    corrector = NudgingCorrector(generator=generator, target="prompt", beta=4.0)
    request = CorrectionRequest("req-none", "a red star", Image.new("RGB", (32, 32)), findings, seed=1)
    with pytest.raises(CorrectionError, match="no matched caption.*req-none") as error:
        corrector.propose(request, 1)
    assert error.value.event_id == "req-none"


def test_given_matched_captions_when_the_prompt_target_proposes_then_it_regenerates_from_the_nudged_embedding(
        generator, monkeypatch) -> None:
    calls: list[dict] = []
    generate = generator.generate

    def spy(prompts, seeds, **kwargs):
        calls.append(kwargs)
        return generate(prompts, seeds, **kwargs)

    corrector = NudgingCorrector(generator=generator, target="prompt", beta=4.0, iterations=10,
                                 pull_prompts=["a green circle"])
    request = caption_request(generator, captions=(CAPTION, "a red star at night"))
    monkeypatch.setattr(generator, "generate", spy)
    candidate = corrector.propose(request, 1)
    assert candidate.method == "nudging" and candidate.image.size == (32, 32)
    p = candidate.parameters
    assert (p["target"], p["push_captions"], p["push_points"], p["pull_prompts"], p["sot_fixed"]) == ("prompt", 2, 2, 1, True)
    assert p["seed"] == 11 and p["prompt_mitigation"] is None
    assert p["nudges"][0]["cos_push_after"] < p["nudges"][0]["cos_push_before"]
    # the same seed and x_T, with e_c nudged (SOT as it was) against the unconditional embedding
    (kwargs,) = calls
    with torch.no_grad():
        cond, uncond = generator.encode(["a red star"], None)
    assert torch.equal(kwargs["latents"], generator.initial_latents([11]))
    assert torch.equal(kwargs["negative_prompt_embeds"], uncond)
    assert torch.equal(kwargs["prompt_embeds"][:, 0], cond[:, 0]) and not torch.equal(kwargs["prompt_embeds"], cond)
    assert "callback" not in kwargs
    assert candidate.image.tobytes() != generate(["a red star"], [11])[0].tobytes()


def test_given_a_second_prompt_attempt_then_it_moves_further_than_the_first(generator) -> None:
    corrector = NudgingCorrector(generator=generator, target="prompt", beta=4.0, escalation=2.0)
    request = caption_request(generator)
    first, second = (corrector.propose(request, k).parameters for k in (1, 2))
    assert (first["beta"], second["beta"]) == (4.0, 8.0)
    assert second["nudges"][0]["distance"] > first["nudges"][0]["distance"] > 0.0
    assert second["nudges"][0]["cos_push_after"] < first["nudges"][0]["cos_push_after"]


def test_given_the_prompt_target_with_prompt_mitigation_then_mitigation_runs_on_the_nudged_embedding(generator) -> None:
    corrector = NudgingCorrector(generator=generator, target="prompt", beta=4.0, prompt_mitigation=True,
                                 mitigation_iterations=3)
    candidate = corrector.propose(caption_request(generator), 1)
    record, nudge_record = candidate.parameters["prompt_mitigation"], candidate.parameters["nudges"][0]
    assert record["magnitude_after"] < record["magnitude_before"]
    assert record["cos_push_after"] < nudge_record["cos_push_before"]  # the push survives the mitigation


def test_given_inputs_a_target_would_ignore_then_the_corrector_refuses_them(generator) -> None:
    with pytest.raises(ConfigurationError, match="pull_prompts need target"):
        NudgingCorrector(generator=generator, pull_prompts=["a green circle"])
    with pytest.raises(ConfigurationError, match="latent targets"):
        NudgingCorrector(generator=generator, target="prompt", pull_images=[Image.new("RGB", (32, 32))])
    with pytest.raises(ConfigurationError, match="list of prompts"):
        NudgingCorrector(generator=generator, target="prompt", pull_prompts="a green circle")
