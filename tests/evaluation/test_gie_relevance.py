"""`swerve eval gie-maps`: the M* probe observes without changing anything, and reports every layer and colour."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from swerve.correctors.generator import DiffusersGenerator
from swerve.correctors.gie.attention_processor import cross_attention_layers
from swerve.correctors.gie.algorithm import encode_concepts
from swerve.evaluation.gie_relevance import (
    GieMapSettings,
    captions_by_colour,
    concept_map_probes,
    evaluate_gie_maps,
    object_cells,
)
from swerve.cli.main import app
from swerve.toyworld import load_pipeline
from swerve.toyworld.vocabulary import SHAPE_COLOURS

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def toy_generator() -> DiffusersGenerator:
    return DiffusersGenerator(load_pipeline("cpu"), "toyworld", steps=4, guidance_scale=3.0)


def test_given_a_red_square_in_the_top_left_then_only_its_cells_are_the_object() -> None:
    # Given: 64 x 64, black, a red 32 x 32 square in the top-left quarter
    pixels = np.zeros((64, 64, 3), dtype=np.uint8)
    pixels[:32, :32] = (230, 25, 25)
    # When
    cells = object_cells(Image.fromarray(pixels), grid=4, distance=0.25).reshape(4, 4)
    # Then
    assert cells[:2, :2].all() and cells.sum() == 4


def test_given_a_tiny_object_then_the_fullest_cell_still_counts() -> None:
    pixels = np.zeros((64, 64, 3), dtype=np.uint8)
    pixels[40:44, 8:12] = (25, 25, 230)  # 4 x 4 pixels: a sixteenth of one 16 x 16 cell
    cells = object_cells(Image.fromarray(pixels), grid=4, distance=0.25).reshape(4, 4)
    assert cells.sum() == 1 and cells[2, 0]


def test_given_a_seed_then_every_colour_gets_its_captions_deterministically() -> None:
    first, second = captions_by_colour(3, seed=11), captions_by_colour(3, seed=11)
    assert first == second and set(first) == set(SHAPE_COLOURS)
    assert all(len(captions) == 3 and all(f" {colour} " in f" {c} " for c in captions)
               for colour, captions in first.items())


@pytest.mark.slow
def test_given_the_probe_installed_then_images_are_unchanged_and_processors_are_restored(toy_generator) -> None:
    unet = toy_generator.pipeline.unet
    before = dict(unet.attn_processors)
    prompts = ["a large red circle at the center on a black background", "a small blue star at the top left on a gray background"]
    plain = toy_generator.generate(prompts, [0, 1])
    concepts = encode_concepts(toy_generator, ["red"])
    # When: the same generation with the probe, then a generation that raises inside it
    with concept_map_probes(toy_generator, concepts, window=4) as record:
        probed = toy_generator.generate(prompts, [0, 1])
    with pytest.raises(RuntimeError, match="boom"), concept_map_probes(toy_generator, concepts, window=4):
        raise RuntimeError("boom")
    # Then: identical pixels, one record per cross-attention layer and step, originals back
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(plain, probed))
    assert sorted(record) == list(range(len(cross_attention_layers(unet))))
    assert all(len(calls) == 4 and calls[0].shape[0] == 2 for calls in record.values())
    assert dict(unet.attn_processors) == before


@pytest.mark.slow
def test_given_the_committed_model_then_every_layer_reports_every_colour(toy_generator) -> None:
    result = evaluate_gie_maps(toy_generator, GieMapSettings(prompts_per_colour=1, steps_window=3))
    assert len(result["layers"]) == len(cross_attention_layers(toy_generator.pipeline.unet))
    for layer in result["layers"]:
        assert set(layer["on_objects"]) == set(SHAPE_COLOURS)
        assert all(0.0 <= v <= 1.0 for v in [*layer["on_objects"].values(), layer["on_background"]])
        assert layer["selectivity"] == pytest.approx(
            layer["on_objects"]["red"] / np.mean([v for c, v in layer["on_objects"].items() if c != "red"]))
    assert result["settings"]["steps"] == 4 and result["seeds"] == [0]


def test_given_a_concept_that_is_no_shape_colour_then_it_is_refused(toy_generator) -> None:
    with pytest.raises(ValueError, match="shape colour"):
        evaluate_gie_maps(toy_generator, GieMapSettings(concept="nude"))


def test_given_a_window_longer_than_the_steps_then_it_is_refused(toy_generator) -> None:
    with pytest.raises(ValueError, match="steps_window"):
        evaluate_gie_maps(toy_generator, GieMapSettings(steps_window=5))


@pytest.mark.slow
def test_given_the_cli_then_one_json_object_holds_every_layer() -> None:
    result = CliRunner().invoke(app, ["eval", "gie-maps", "--json", "--prompts-per-colour", "1", "--steps-window", "2"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["concept"] == "red" and len(figures["layers"]) == 7  # the toy UNet's cross-attention layers
    assert figures["max_localization"] >= max(layer["localization"] for layer in figures["layers"])
