"""A replacement at the original's size: which size is generated, which is delivered, and when a
size is refused. Plans only; test_generator.py generates at them."""

from __future__ import annotations

import pytest
from swerve.correctors.output_size import OutputSize
from swerve.errors import ConfigurationError, UnsupportedSizeError

SD = {"native": 512, "multiple": 8}


@pytest.mark.parametrize("original", [(512, 768), (768, 512), (1024, 1024), (384, 256), (8, 2048)])
def test_given_an_accepted_size_then_it_is_generated_and_delivered_as_is(original) -> None:
    plan = OutputSize().plan(original, **SD)
    assert plan.generate == plan.deliver == original and not plan.resized


@pytest.mark.parametrize(("original", "generated"), [((500, 750), (496, 752)), ((513, 769), (512, 768)), ((3, 900), (8, 896))])
def test_given_a_size_off_the_model_grid_when_resizing_is_allowed_then_the_nearest_same_aspect_size_is_generated(
        original, generated) -> None:
    plan = OutputSize().plan(original, **SD)
    assert plan.generate == generated and plan.deliver == original and plan.resized


def test_given_a_size_above_max_side_then_it_is_generated_smaller_with_its_aspect_and_delivered_at_its_own() -> None:
    plan = OutputSize(max_side=1024).plan((4096, 2048), **SD)
    assert plan.generate == (1024, 512) and plan.deliver == (4096, 2048)


def test_given_refuse_when_the_size_is_off_the_grid_then_unsupported_size_names_both() -> None:
    with pytest.raises(UnsupportedSizeError, match=r"500x750.*multiples of 8"):
        OutputSize(unsupported="refuse").plan((500, 750), **SD)
    assert OutputSize(unsupported="refuse").plan((512, 768), **SD).generate == (512, 768)


def test_given_native_or_a_fixed_size_then_that_is_generated_and_the_original_size_delivered() -> None:
    assert OutputSize(mode="native").plan((512, 768), **SD).generate == (512, 512)
    fixed = OutputSize(height=640, width=448).plan((512, 768), **SD)
    assert fixed.generate == (448, 640) and fixed.deliver == (512, 768)


@pytest.mark.parametrize(("settings", "message"), [
    ({"mode": "square"}, "size must be 'original' or 'native'"),
    ({"unsupported": "crop"}, "unsupported_size must be"),
    ({"height": 512}, "both height and width"),
    ({"height": 4, "width": 512}, "height must be within 8..2048"),
    ({"height": 512, "width": 4096}, "width must be within"),
])
def test_given_nonsense_settings_then_they_are_refused_with_the_reason(settings, message) -> None:
    with pytest.raises(ConfigurationError, match=message):
        OutputSize(**settings)


def test_given_a_fixed_size_off_the_models_grid_then_the_model_check_refuses_it() -> None:
    with pytest.raises(ConfigurationError, match="height 516 is not a multiple of the model's VAE scale factor 8"):
        OutputSize(height=516, width=512).check_model(8)
