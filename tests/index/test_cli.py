"""`swerve index build | add | query | info` with an explicit tiny open_clip model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from swerve.index import file_sha256
from swerve.cli.index import app
from typer.testing import CliRunner

from .builders import save_random_checkpoint, write_image_folder
from .conftest import TinyModel


def _model_options(tiny_model: TinyModel) -> list[str]:
    return ["--embedder-model", tiny_model.name, "--checkpoint", str(tiny_model.checkpoint),
            "--model-config", str(tiny_model.config)]


def test_given_an_image_folder_when_building_adding_querying_and_describing_then_each_command_succeeds(
        tmp_path: Path, tiny_model: TinyModel) -> None:
    runner = CliRunner()
    paths = write_image_folder(tmp_path / "images", 8)
    bundle = tmp_path / "bundle"
    # When: build
    built = runner.invoke(app, ["build", str(tmp_path / "images"), "--out", str(bundle), "--threads", "1",
                                *_model_options(tiny_model)])
    assert built.exit_code == 0, built.output
    assert "8 images" in built.output and "index_version iv1-" in built.output
    # When: add from a JSONL manifest
    (tmp_path / "more.jsonl").write_text(json.dumps({"uri": paths[0].as_uri(), "caption": "again"}) + "\n")
    added = runner.invoke(app, ["add", str(bundle), str(tmp_path / "more.jsonl"), "--threads", "1",
                                *_model_options(tiny_model)])
    assert added.exit_code == 0, added.output
    assert "added ids 8..8" in added.output
    # When: query --json
    queried = runner.invoke(app, ["query", str(paths[3]), "--index", str(bundle), "-k", "2", "--json",
                                  *_model_options(tiny_model)])
    assert queried.exit_code == 0, queried.output
    result = json.loads(queried.output)
    assert result["neighbours"][0]["caption"] == "caption 3" and len(result["neighbours"]) == 2
    # When: query as a table
    table = runner.invoke(app, ["query", str(paths[3]), "--index", str(bundle), *_model_options(tiny_model)])
    assert table.exit_code == 0 and "caption 3" in table.output
    # When: info
    info = runner.invoke(app, ["info", str(bundle)])
    assert info.exit_code == 0, info.output
    manifest = json.loads(info.output)
    assert manifest["count"] == 9 and manifest["index_version"] == result["index_version"]


def test_given_a_missing_checkpoint_when_building_then_one_line_error_and_exit_2(
        tmp_path: Path, tiny_model: TinyModel) -> None:
    write_image_folder(tmp_path / "images", 2)
    result = CliRunner().invoke(app, ["build", str(tmp_path / "images"), "--out", str(tmp_path / "bundle"),
                                      "--embedder-model", tiny_model.name, "--checkpoint", str(tmp_path / "no.pt"),
                                      "--model-config", str(tiny_model.config)])
    assert result.exit_code == 2 and "not found" in result.output


def test_given_no_bundle_when_asking_for_info_then_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["info", str(tmp_path)])
    assert result.exit_code == 2 and "manifest not found" in result.output


def test_given_no_model_options_when_the_toy_clip_is_trained_then_it_is_the_default_embedder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given: toyworld's tiny CLIP config with a (random) checkpoint where toyworld says its weights are
    from swerve.toyworld import weights_paths
    from swerve.toyworld.tiny_clip import CONFIG_DIR, MODEL_NAME

    checkpoint = save_random_checkpoint(CONFIG_DIR / f"{MODEL_NAME}.json", MODEL_NAME, tmp_path / "toy.pt", seed=0)
    monkeypatch.setattr(weights_paths, "TINY_CLIP_CHECKPOINT", checkpoint)
    write_image_folder(tmp_path / "images", 3)
    # When: building without --embedder-model/--checkpoint
    result = CliRunner().invoke(app, ["build", str(tmp_path / "images"), "--out", str(tmp_path / "bundle"),
                                      "--threads", "1"])
    # Then: the manifest names the toy CLIP and its weights' hash
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["embedder"]["name"] == f"open_clip/{MODEL_NAME}"
    assert manifest["embedder"]["version"] == f"{MODEL_NAME}-{file_sha256(checkpoint)[:12]}"


def test_given_no_model_options_when_the_toy_clip_is_not_trained_then_exit_2_says_what_to_pass(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from swerve.toyworld import weights_paths

    monkeypatch.setattr(weights_paths, "TINY_CLIP_CHECKPOINT", tmp_path / "missing.pt")
    write_image_folder(tmp_path / "images", 1)
    result = CliRunner().invoke(app, ["build", str(tmp_path / "images"), "--out", str(tmp_path / "bundle")])
    assert result.exit_code == 2 and "--embedder-model and --checkpoint" in result.output
