"""Wen et al.'s mitigation: the text-conditional noise magnitude drops, per sample, SOT untouched."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from swerve.correctors.prompt_mitigation.algorithm import mitigate_prompt_embedding
from swerve.correctors.prompt_mitigation.corrector import PromptMitigationCorrector
from swerve.correctors.protocol import Candidate, CorrectionRequest, Corrector


def test_given_a_tiny_model_when_mitigating_then_the_magnitude_drops_and_sot_is_untouched(generator) -> None:
    cond, _ = generator.encode(["a red star", "a blue circle"])
    x_t = generator.initial_latents([1, 2])
    result = mitigate_prompt_embedding(generator, cond, x_t, learning_rate=0.05, max_iterations=10, target_ratio=None)
    assert all(after < before for before, after in zip(result.magnitude_before, result.magnitude_after))
    assert result.iterations == [10, 10]
    assert torch.equal(result.prompt_embeds[:, 0], cond[:, 0])  # SOT
    assert not torch.equal(result.prompt_embeds[:, 1:], cond[:, 1:])


def test_given_a_batch_then_each_sample_is_optimized_as_if_alone(generator) -> None:
    cond, _ = generator.encode(["a red star", "a blue circle"])
    x_t = generator.initial_latents([1, 2])
    batch = mitigate_prompt_embedding(generator, cond, x_t, max_iterations=3)
    alone = mitigate_prompt_embedding(generator, cond[1:], x_t[1:], max_iterations=3)
    # equal up to batched-convolution numerics (Adam rescales tiny gradient differences to ~lr)
    assert torch.allclose(batch.prompt_embeds[1:], alone.prompt_embeds, atol=1e-2)
    assert batch.magnitude_after[1] == pytest.approx(alone.magnitude_after[0], rel=1e-3)
    assert batch.iterations[1] == alone.iterations[0]


def test_given_a_reachable_target_then_optimization_stops_early(generator) -> None:
    cond, _ = generator.encode(["a red star"])
    result = mitigate_prompt_embedding(generator, cond, generator.initial_latents([1]), max_iterations=10,
                                       target_ratio=0.999)
    assert 1 <= result.iterations[0] < 10 and result.magnitude_after[0] <= 0.999 * result.magnitude_before[0]


def test_given_a_flagged_prompt_when_the_corrector_proposes_then_it_escalates_the_budget(generator) -> None:
    corrector = PromptMitigationCorrector(generator=generator, max_iterations=2, target_ratio=0.5)
    assert isinstance(corrector, Corrector)
    request = CorrectionRequest("r-wen", "a red star", Image.new("RGB", (32, 32)), [], seed=3)
    first, second = corrector.propose(request, 1), corrector.propose(request, 2)
    assert isinstance(first, Candidate) and first.method == "prompt_mitigation" and first.image.size == (32, 32)
    assert (first.parameters["max_iterations"], second.parameters["max_iterations"]) == (2, 4)
    assert second.parameters["target_ratio"] == 0.25
    assert first.parameters["magnitude_after"] < first.parameters["magnitude_before"]
