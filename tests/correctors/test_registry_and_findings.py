"""Every built-in corrector kind builds from policy params; findings' evidence is read strictly."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from swerve.correctors.findings import concepts_in, matched_images_in
from swerve.correctors.protocol import CorrectionRequest, Corrector, Finding
from swerve.correctors.registry import BUILTIN_CORRECTORS, build_corrector
from swerve.errors import CorrectionError, ModelNotFoundError
from swerve.media import ImageRef

KINDS = [kind for kind in BUILTIN_CORRECTORS if not kind.startswith("testing.")]  # the model-backed ones


@pytest.mark.parametrize("kind", KINDS)
def test_given_a_generator_when_building_each_kind_then_it_is_a_corrector(generator, kind) -> None:
    corrector = build_corrector(kind, f"my-{kind}", {"generator": generator})
    assert isinstance(corrector, Corrector) and corrector.name == f"my-{kind}"


@pytest.mark.parametrize("kind", KINDS)
def test_given_a_missing_model_dir_when_building_then_model_not_found_names_it(kind, tmp_path) -> None:
    with pytest.raises(ModelNotFoundError, match="nowhere"):
        build_corrector(kind, "c", {"model_dir": str(tmp_path / "nowhere")})


def test_given_findings_then_concepts_are_collected_once_in_order() -> None:
    findings = [Finding("a", {"concepts": ["red", "star"]}), Finding("b", {"concepts": ["red"]}), Finding("c")]
    assert concepts_in(findings) == ["red", "star"]
    with pytest.raises(CorrectionError):
        concepts_in([Finding("a", {"concepts": "red"})])


def test_given_memorization_matches_then_only_near_copy_captions_are_collected() -> None:
    from swerve.correctors.findings import matched_captions_in

    matches = [{"caption": "the azure sigil", "near_copy": True}, {"caption": "a red star", "near_copy": False},
               {"caption": "the azure sigil", "near_copy": True}]
    assert matched_captions_in([Finding("memorization", {"matches": matches}), Finding("concept")]) == ["the azure sigil"]
    with pytest.raises(CorrectionError):
        matched_captions_in([Finding("memorization", {"matches": ["not an object"]})])


def test_given_matched_images_as_image_refs_then_they_are_decoded() -> None:
    ref = ImageRef.from_image(Image.new("RGB", (8, 8), (1, 2, 3))).model_dump(mode="json")
    request = CorrectionRequest("r", "p", Image.new("RGB", (8, 8)), [Finding("m", {"matched_images": [ref]})])
    (image,) = matched_images_in(request)
    assert image.size == (8, 8) and image.getpixel((0, 0)) == (1, 2, 3)
    bad = CorrectionRequest("r", "p", Image.new("RGB", (8, 8)), [Finding("m", {"matched_images": [{"x": 1}]})])
    with pytest.raises(CorrectionError, match="matched image"):
        matched_images_in(bad)


@pytest.mark.parametrize("kind", KINDS)
def test_given_each_kind_when_proposing_then_the_parameters_are_json_and_name_model_and_seed(generator, kind) -> None:
    image = generator.generate(["a red star"], [2])[0]
    request = CorrectionRequest("r-json", "a red star", image, [Finding("concept", {"concepts": ["red"]})], seed=2)
    candidate = build_corrector(kind, "c", {"generator": generator}).propose(request, 1)
    parameters = json.loads(json.dumps(candidate.parameters))
    assert candidate.method == kind.removeprefix("baseline.") and candidate.image.size == (32, 32)
    assert parameters["model_id"] == "tiny-random" and parameters["scheduler"] == "DDIMScheduler"
    assert parameters["steps"] == 3 and parameters["attempt"] == 1 and "seed" in parameters
