"""Every generating corrector kind, built from a policy's params on an SD-1.x-shaped model, gives
its candidate the flagged original's size: portrait, landscape, and one off the model's 8 px grid
(generated near it, then resized)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from swerve.correctors.protocol import CorrectionRequest, Finding
from swerve.correctors.registry import build_corrector

from . import conftest as sd_shapes

sd1_model_dir = sd_shapes.sd1_shaped_pipeline_dir

KINDS = {
    "prompt_mitigation": {"max_iterations": 1},
    "nudging": {"iterations": 1},
    "gie": {"concepts": ["red"]},
    "baseline.reseed": {},
    "baseline.negative_prompt": {"copy_terms": ["copy"]},
    "baseline.delayed_guidance": {},
}


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("size", [(48, 80), (80, 48), (50, 70)])
def test_given_an_sd_shaped_model_then_each_corrector_kind_proposes_at_the_originals_size(
        sd1_model_dir: Path, kind: str, size: tuple[int, int]) -> None:
    corrector = build_corrector(kind, kind, {"model_dir": str(sd1_model_dir), "device": "cpu", "steps": 2,
                                             "scheduler": "DDIMScheduler", **KINDS[kind]})
    request = CorrectionRequest("r-1", "a photo of a red umbrella", Image.new("RGB", size, (200, 30, 30)),
                                [Finding("memorization", {})], seed=3)
    candidate = corrector.propose(request, 1)
    assert candidate.image.size == size
    parameters = candidate.parameters
    assert parameters["model_id"] == str(sd1_model_dir) and parameters["scheduler"] == "DDIMScheduler"
    resized = size[0] % 8 or size[1] % 8
    assert (parameters.get("delivered") == list(size)) == bool(resized)
