"""GIE's adapter (Eqs. 9-10), its labels, and the GieCorrector that uses them."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from swerve.correctors.gie.scale_predictor import (
    SuppressionScaleAdapter,
    first_step_features,
    load_adapter,
    save_adapter,
    train_adapter,
)
from swerve.correctors.gie.corrector import GieCorrector
from swerve.correctors.gie.algorithm import dedupe_concepts, encode_concepts
from swerve.correctors.gie.scale_labels import label_examples, smallest_erasing_scale
from swerve.correctors.protocol import Candidate, CorrectionRequest, Corrector, Finding
from swerve.errors import CorrectionError, ModelNotFoundError


def test_given_l_layers_then_the_adapter_maps_l_features_to_one_scale() -> None:
    adapter = SuppressionScaleAdapter(16)
    assert adapter(torch.randn(5, 16)).shape == (5, 1)
    assert [m.out_features for m in adapter.mlp if isinstance(m, torch.nn.Linear)] == [64, 32, 1]
    with pytest.raises(CorrectionError):
        adapter(torch.randn(5, 7))


def test_given_the_tiny_unet_then_first_step_features_have_one_value_per_cross_attention_layer(generator) -> None:
    concepts = encode_concepts(generator, ["red", "star"])
    features = first_step_features(generator, ["a red star"], [3], concepts)
    assert features.shape == (2, 7) and bool((features > 0).all()) and bool((features < 1).all())


def test_given_labeled_pairs_when_training_then_the_adapter_fits_them_and_round_trips(tmp_path) -> None:
    torch.manual_seed(0)
    features = torch.rand(24, 7) * 0.05
    scales = -1.0 - 100.0 * features[:, 0]  # stronger attention on the concept -> stronger scale
    adapter = train_adapter(features, scales, epochs=400, learning_rate=1e-2)
    assert torch.nn.functional.mse_loss(adapter(features).view(-1), scales) < 0.05
    loaded = load_adapter(save_adapter(adapter, tmp_path / "adapter.safetensors"))
    assert torch.allclose(loaded(features), adapter(features))
    with pytest.raises(ModelNotFoundError, match="missing.safetensors"):
        load_adapter(tmp_path / "missing.safetensors")


def test_given_callables_when_labeling_then_the_weakest_erasing_and_faithful_scale_wins() -> None:
    seen: list[float] = []

    def render(scale: float) -> Image.Image:
        seen.append(scale)
        return Image.new("L", (1, 1), int(-scale))

    erased = lambda image: image.getpixel((0, 0)) >= 3
    faithful = lambda image: image.getpixel((0, 0)) <= 4
    assert smallest_erasing_scale(render, erased, faithful, [-1, -2, -3, -4, -5]) == -3.0 and seen == [-1, -2, -3]
    assert smallest_erasing_scale(render, erased, lambda image: False, [-1, -2]) is None


def test_given_a_model_when_labeling_examples_then_features_and_labels_pair_up(generator) -> None:
    examples = label_examples(generator, ["a red star", "a red circle"], [1], "red",
                              concept_present=lambda prompt, image: False, faithful=lambda prompt, image: True,
                              scales=[-2.0, -4.0])
    assert examples.features.shape == (2, 7) and examples.scales.tolist() == [-2.0, -2.0] and not examples.skipped


def test_given_close_concepts_then_dedupe_keeps_the_stronger_one(generator) -> None:
    concepts = encode_concepts(generator, ["red", "red", "star"])
    keep = dedupe_concepts(concepts, torch.tensor([-2.0, -6.0, -1.0]), max_distance=0.01)
    assert keep == [1, 2]


def request(generator, concepts=("red",)) -> CorrectionRequest:
    image = generator.generate(["a red star"], [5])[0]
    return CorrectionRequest("r-gie", "a red star", image, [Finding("concept", {"concepts": list(concepts)})], seed=5)


def test_given_a_flagged_concept_when_gie_proposes_then_it_erases_it_and_escalates_the_scale(generator) -> None:
    corrector = GieCorrector(generator=generator, scale=-2.0, escalation=1.5)
    assert isinstance(corrector, Corrector)
    first, second = corrector.propose(request(generator), 1), corrector.propose(request(generator), 2)
    assert isinstance(first, Candidate) and first.method == "gie" and first.parameters["concepts"] == ["red"]
    assert (first.parameters["scales"], second.parameters["scales"]) == ([-2.0], [-3.0])
    assert first.parameters["scale_source"] == "fixed" and first.parameters["steps"] == 3


def test_given_an_adapter_when_gie_proposes_then_the_scale_comes_from_it(generator) -> None:
    adapter = SuppressionScaleAdapter(7)
    torch.nn.init.zeros_(adapter.mlp[4].weight)
    torch.nn.init.constant_(adapter.mlp[4].bias, -4.0)
    candidate = GieCorrector(generator=generator, adapter=adapter, concepts=["star"]).propose(request(generator, ()), 1)
    assert candidate.parameters["scales"] == [-4.0] and candidate.parameters["scale_source"] == "adapter"


def test_given_no_concept_anywhere_then_gie_raises_a_correction_error(generator) -> None:
    with pytest.raises(CorrectionError, match="no concept"):
        GieCorrector(generator=generator).propose(request(generator, ()), 1)
