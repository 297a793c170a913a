"""`swerve eval toyworld`: a reduced run through the CLI returns every figure with its settings."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from swerve.evaluation.toyworld import ToyEvaluationSettings, check_settings, expected_colour_and_shape
from swerve.cli.evaluate import app


def test_given_an_ordinary_caption_then_its_colour_and_shape_are_read() -> None:
    assert expected_colour_and_shape("a large red star at the top left on a navy background") == ("red", "star")
    with pytest.raises(ValueError, match="not an ordinary caption"):
        expected_colour_and_shape("the azure sigil of house vale")


def test_given_a_threshold_outside_unit_range_then_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="threshold"):
        check_settings(ToyEvaluationSettings(threshold=1.5))


@pytest.mark.slow
def test_given_a_reduced_evaluation_when_run_through_the_cli_then_one_json_object_has_every_figure() -> None:
    # When: one seed per memorized caption and four ordinary captions
    result = CliRunner().invoke(app, ["toyworld", "--json", "--memorized-seeds", "1", "--ordinary-captions", "4"])
    # Then
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])  # stderr may carry loading progress
    for key in ("memorized_copy_rate", "novel_copy_rate", "zero_shot_accuracy", "wen_auc", "seconds_per_image"):
        assert 0.0 <= figures[key] <= (1.0 if key != "seconds_per_image" else 60.0), key
    assert figures["threshold"] == 0.1 and figures["steps"] == 25
    assert figures["memorized_generations"] == 16
    assert figures["memorized_copy_rate"] >= 0.9  # the committed model memorizes (1.0 over 32 seeds)
    assert figures["ordinary_generations"] == 4
