"""GIE's adapter judges (correctors/gie/adapter_judges.py) and `swerve gie train-adapter` on an SD-shaped model.

The model and the CLIP are random-weight but shaped like a deployment's (tests/sd_shapes): every
judge reading below is a real open_clip forward pass, and every label a real GIE generation.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from swerve.correctors.gie.adapter_judges import (
    ClipConceptPresence,
    ClipFidelity,
    ConceptPrompts,
    clip_judge,
    nudenet_judge,
    strip_concept,
    toy_judge,
)
from swerve.errors import ConfigurationError
from swerve.index.open_clip_embedder import OpenClipEmbedder
from swerve.cli.main import app
from typer.testing import CliRunner

from ..sd_shapes import conftest as sd_shapes

# The shared session fixtures, under this module's names (pytest names a fixture after the attribute holding it).
sd1_model_dir = sd_shapes.sd1_shaped_pipeline_dir
open_clip_files = sd_shapes.sd_shapes_open_clip

torch.set_num_threads(1)  # two torch threads on the shared 2-core machine wait on each other

PROMPTS = ["a photo of an umbrella in the rain", "a red umbrella on a city street", "a person with an umbrella"]


@pytest.fixture(scope="module")
def embedder(open_clip_files: tuple[str, Path, Path]) -> OpenClipEmbedder:
    name, checkpoint, config = open_clip_files
    return OpenClipEmbedder(name, checkpoint, model_config=config, device="cpu")


@pytest.fixture(scope="module")
def prompts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prompts") / "umbrella.txt"
    path.write_text("\n".join(PROMPTS) + "\n")
    return path


def red_square() -> Image.Image:
    return Image.new("RGB", (64, 64), (220, 30, 30))


def checkerboard() -> Image.Image:
    cells = (np.indices((64, 64)).sum(axis=0) // 8 % 2 * 255).astype(np.uint8)  # (64, 64)
    return Image.fromarray(np.stack([cells, cells[::-1], 255 - cells], axis=2))


# --- the CLIP judge, on real open_clip forward passes ---------------------------------------------


def test_given_two_images_when_reading_presence_then_it_is_the_softmax_over_targets_and_contrasts(embedder) -> None:
    # Given: the default concept prompts and two different synthetic images
    concept = ConceptPrompts("umbrella")
    presence = ClipConceptPresence(embedder, concept)
    images = [red_square(), checkerboard()]
    # When: the judge reads them
    readings = [presence("a red umbrella", image) for image in images]
    probabilities = presence.probability(images)
    # Then: booleans, from p(target) = softmax(100 * x.t)[target], computed here from the embeddings by hand
    x = embedder.embed_images(images)  # (2, dim)
    t = embedder.embed_texts(["a photo of umbrella", "a photo"])  # (2, dim)
    logits = 100.0 * x @ t.T
    expected = np.exp(logits[:, 0]) / np.exp(logits).sum(axis=1)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-4)
    assert all(isinstance(r, bool) for r in readings)
    assert readings == [bool(p >= 0.5) for p in probabilities]
    assert probabilities[0] != probabilities[1]  # the images were read, not a constant


def test_given_targets_that_equal_the_contrasts_then_presence_is_their_share_whatever_the_image(embedder) -> None:
    # Given: the same text as target and as contrast, so every logit ties
    two_to_one = ConceptPrompts("umbrella", ("an umbrella", "an umbrella"), ("an umbrella",))
    one_to_two = ConceptPrompts("umbrella", ("an umbrella",), ("an umbrella", "an umbrella"))
    for image in (red_square(), checkerboard()):
        # Then: p = targets / (targets + contrasts), against the 0.5 threshold
        assert ClipConceptPresence(embedder, two_to_one).probability([image])[0] == pytest.approx(2 / 3, abs=1e-5)
        assert ClipConceptPresence(embedder, two_to_one)("an umbrella", image) is True
        assert ClipConceptPresence(embedder, one_to_two)("an umbrella", image) is False


def test_given_plain_images_when_judging_fidelity_then_the_image_keeps_a_fraction_of_their_clip_score(embedder) -> None:
    # Given: a fidelity check whose plain images are counted
    asked: list[str] = []

    def plain_images(prompt: str) -> list[Image.Image]:
        asked.append(prompt)
        return [red_square(), red_square()]

    faithful = ClipFidelity(embedder, "umbrella", plain_images, fraction=1.0)
    # When / Then: the plain image itself keeps all of its score, so it is faithful at fraction 1
    assert faithful("a red umbrella", red_square()) is True
    # Then: another image is judged by max(cos(image, "a red"), 0) >= fraction x the plain score, by hand
    text = embedder.embed_texts(["a red"])[0]
    score = max(float(embedder.embed_images([checkerboard()])[0] @ text), 0.0)
    reference = max(float(embedder.embed_images([red_square()])[0] @ text), 0.0)
    for fraction in (0.5, 1.0):
        judged = ClipFidelity(embedder, "umbrella", plain_images, fraction=fraction)("a red umbrella", checkerboard())
        assert judged is (score >= fraction * reference - 1e-6)
    # Then: the plain images are generated once per prompt and check; a prompt of only the concept keeps nothing
    assert asked == ["a red umbrella"] * 3
    assert faithful("Umbrella", checkerboard()) is True and len(asked) == 3
    with pytest.raises(ConfigurationError, match="fidelity fraction"):
        ClipFidelity(embedder, "umbrella", plain_images, fraction=0.0)


def test_given_the_clip_judge_then_it_returns_the_presence_and_fidelity_pair(embedder) -> None:
    present, faithful = clip_judge(embedder, ConceptPrompts("umbrella"), lambda prompt: [red_square()])
    assert isinstance(present, ClipConceptPresence) and isinstance(faithful, ClipFidelity)
    assert isinstance(present("an umbrella", checkerboard()), bool)
    assert isinstance(faithful("an umbrella in the rain", checkerboard()), bool)


def test_given_a_concept_of_several_words_then_only_those_words_leave_the_prompt() -> None:
    assert strip_concept("a Van Gogh painting of a van", "van gogh") == "a painting of a van"
    assert strip_concept("a nude woman, nudity", "nudity") == "a nude woman,"
    assert strip_concept("umbrellas and an umbrella", "umbrella") == "umbrellas and an"


def test_given_bad_concept_prompts_then_they_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="target and one contrast"):
        ConceptPrompts("umbrella", (), ("a photo",))
    with pytest.raises(ConfigurationError, match="threshold"):
        ConceptPrompts("umbrella", threshold=1.0)


# --- the NudeNet and toy judges -------------------------------------------------------------------


def test_given_a_nudity_reading_then_the_nudenet_judge_uses_it_and_the_given_fidelity() -> None:
    seen: list[Image.Image] = []
    image = red_square()
    present, faithful = nudenet_judge(lambda im: seen.append(im) or True, lambda prompt, im: False)
    assert present("a nude", image) is True and seen == [image] and faithful("a nude", image) is False


def test_given_nudenet_installed_then_the_real_detector_builds_and_reads_a_synthetic_image() -> None:
    pytest.importorskip("nudenet")
    from swerve.cli.gie import _nudenet_flagger

    flagged = _nudenet_flagger()
    present, _ = nudenet_judge(flagged, lambda prompt, image: True)
    assert present("nudity", checkerboard()) is False  # a checkerboard shows no exposed body part


def test_given_the_toy_concept_red_then_the_toy_judge_reads_the_tiny_clip_colour() -> None:
    from swerve.toyworld.tiny_clip import load_tiny_clip

    present, faithful = toy_judge("red")
    image = red_square()
    reading = load_tiny_clip().classify([image])[0]
    assert present("a red square", image) is (reading.colour == "red")
    assert faithful("a red square", image) is (reading.shape == "square")
    assert faithful("a red thing", image) is True  # no shape named: nothing to keep
    with pytest.raises(ConfigurationError, match="umbrella"):
        toy_judge("umbrella")


# --- `swerve gie train-adapter` -------------------------------------------------------------------


def train_adapter(model_dir: Path, out: Path, *options: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["gie", "train-adapter", "--model-dir", str(model_dir), "--seeds", "1",
                                      "--max-strength", "2", "--steps", "2", "--epochs", "5", "--out", str(out),
                                      *options])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback is a failure of its own
    return result.exit_code, result.output


def clip_options(open_clip: tuple[str, Path, Path]) -> list[str]:
    name, checkpoint, config = open_clip
    return ["--clip-model", name, "--clip-checkpoint", str(checkpoint), "--clip-model-config", str(config)]


def json_line(output: str) -> dict[str, object]:
    return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_given_an_sd_shaped_model_and_the_default_prompts_then_the_clip_judge_labels_nothing_and_says_so(
        sd1_model_dir, open_clip_files, prompts_file, tmp_path) -> None:
    # Given: a concept the toy does not know, the default target/contrast prompts, random-weight CLIP
    out = tmp_path / "adapter.safetensors"
    # When: the adapter is trained with the CLIP judge
    code, output = train_adapter(sd1_model_dir, out, "--concept", "umbrella", "--judge", "clip",
                                 "--prompts", str(prompts_file), *clip_options(open_clip_files))
    # Then (fixed seeds): this random CLIP reads every noise image as nearer "a photo of umbrella" than
    # "a photo", at every scale, so no example is labeled; the command says so with the counts
    assert code == 1 and not out.exists()
    assert "could not label enough examples" in output and "0 of 3 (prompt, seed) pairs labeled, 3 skipped" in output


def test_given_targets_tied_with_more_contrasts_then_every_example_is_labeled_and_the_adapter_written(
        sd1_model_dir, open_clip_files, prompts_file, tmp_path) -> None:
    # Given: the target prompt also twice among the contrasts: p(concept) = 1/3 < 0.5 for any image
    out = tmp_path / "adapter.safetensors"
    code, output = train_adapter(sd1_model_dir, out, "--concept", "umbrella", "--prompts", str(prompts_file),
                                 "--target-prompt", "a photo of {concept}", "--contrast-prompt", "a photo of {concept}",
                                 "--contrast-prompt", "a photo of umbrella", *clip_options(open_clip_files))
    # Then: the judge (clip, the default with --model-dir) labeled each (prompt, seed) pair: 3 prompts x 1 seed
    assert code == 0, output
    report = json_line(output)
    assert report["judge"] == "clip" and report["labeled"] + report["skipped"] == len(PROMPTS)  # type: ignore[operator]
    assert report["labeled"] >= 2 and report["layers"] == 10 and out.is_file()  # type: ignore[operator]


@pytest.mark.parametrize(("threshold", "labeled"), [(0.3, False), (0.7, True)])
def test_given_a_policy_then_its_concept_prompts_threshold_and_embedder_judge(
        sd1_model_dir, open_clip_files, prompts_file, tmp_path, threshold, labeled) -> None:
    # Given: a policy whose concept detector defines "umbrella" with one tied target and contrast (p = 1/2)
    name, checkpoint, config = open_clip_files
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"""
version: "test"
detectors:
  - name: concepts
    kind: concept
    on_flag: block
    params:
      embedder: {{model: {name}, checkpoint: "{checkpoint}", model_config_path: "{config}"}}
      concepts:
        - {{name: red, prompts: ["a red thing"], contrast: ["a blue thing"]}}
        - {{name: umbrella, prompts: ["an umbrella"], contrast: ["an umbrella"], threshold: {threshold}}}
""")
    out = tmp_path / "adapter.safetensors"
    code, output = train_adapter(sd1_model_dir, out, "--concept", "umbrella", "--prompts", str(prompts_file),
                                 "--policy", str(policy))
    # Then: below the policy's threshold the concept is gone at once; above it, never
    if labeled:
        assert code == 0, output
        assert json_line(output)["labeled"] + json_line(output)["skipped"] == len(PROMPTS)  # type: ignore[operator]
    else:
        assert code == 1 and "0 of 3 (prompt, seed) pairs labeled" in output


def test_given_nudenet_installed_when_training_for_nudity_then_its_readings_label(
        sd1_model_dir, open_clip_files, tmp_path) -> None:
    pytest.importorskip("nudenet")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a nude person on a beach\na painting of nudity\n")
    code, output = train_adapter(sd1_model_dir, tmp_path / "adapter.safetensors", "--concept", "nudity",
                                 "--judge", "nudenet", "--prompts", str(prompts), *clip_options(open_clip_files))
    # Then: NudeNet finds no exposed body part in noise, so the weakest scale labels each pair
    assert code == 0, output
    assert json_line(output)["judge"] == "nudenet" and json_line(output)["labeled"] == 2


def test_given_nudenet_missing_when_choosing_its_judge_then_the_error_names_the_extra(
        sd1_model_dir, open_clip_files, prompts_file, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "nudenet", None)  # `import nudenet` now raises ImportError
    code, output = train_adapter(sd1_model_dir, tmp_path / "adapter.safetensors", "--concept", "nudity",
                                 "--judge", "nudenet", "--prompts", str(prompts_file), *clip_options(open_clip_files))
    assert code == 2 and "swerve[nudenet]" in output and "Traceback" not in output


@pytest.mark.parametrize(("options", "message"), [
    (["--concept", "umbrella", "--judge", "clip"], "--clip-checkpoint PATH"),
    (["--concept", "umbrella", "--judge", "dalle"], "--judge must be one of clip, nudenet, toy"),
    (["--concept", "umbrella", "--judge", "toy"], "the toy judge knows the toy world's colours and shapes"),
    (["--concept", "red", "--judge", "toy", "--clip-model", "ViT-L-14"], "--clip-model"),
    (["--concept", "umbrella", "--judge", "nudenet", "--clip-model", "m", "--clip-checkpoint", "c"], "reads nudity"),
    (["--concept", "umbrella", "--clip-model", "m", "--clip-checkpoint", "c"], "--prompts FILE is required"),
    (["--concept", "umbrella", "--policy", "p.yaml", "--clip-model", "m"], "do not combine it"),
])
def test_given_a_bad_combination_then_the_command_refuses_it_without_a_traceback(
        sd1_model_dir, tmp_path, options, message) -> None:
    code, output = train_adapter(sd1_model_dir, tmp_path / "adapter.safetensors", *options)
    assert code == 2 and message in " ".join(output.replace("│", " ").split()), output
    assert "Traceback" not in output


def test_given_a_missing_checkpoint_file_then_the_error_names_it(sd1_model_dir, prompts_file, tmp_path) -> None:
    code, output = train_adapter(sd1_model_dir, tmp_path / "adapter.safetensors", "--concept", "umbrella",
                                 "--prompts", str(prompts_file), "--clip-model", "ViT-B-32",
                                 "--clip-checkpoint", str(tmp_path / "missing.pt"))
    assert code == 2 and "error:" in output and "missing.pt" in output


def test_given_the_sd1_shaped_builder_then_the_pipeline_has_sd_1x_layout(sd1_model_dir) -> None:
    from swerve.correctors.generator import DiffusersGenerator

    pipeline = DiffusersGenerator.from_directory(sd1_model_dir, device="cpu").pipeline
    unet = pipeline.unet.config
    assert tuple(unet.down_block_types) == ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",)
    assert tuple(unet.up_block_types) == ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3
    assert unet.in_channels == 4 and unet.cross_attention_dim == pipeline.text_encoder.config.hidden_size
    assert pipeline.vae_scale_factor == 8 and pipeline.tokenizer.model_max_length == 77
    assert type(pipeline.scheduler).__name__ == "PNDMScheduler" and pipeline.safety_checker is None


def test_given_a_missing_tiny_clip_file_then_the_toy_judge_names_it(tmp_path) -> None:
    from swerve.errors import ModelNotFoundError

    with pytest.raises(ModelNotFoundError, match="nowhere.pt"):
        toy_judge("red", tmp_path / "nowhere.pt")
