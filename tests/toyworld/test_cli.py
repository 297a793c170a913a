"""`swerve toyworld dataset` and `swerve toyworld generate`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from swerve.cli.toyworld import app


def test_given_a_limit_when_exporting_the_dataset_then_the_manifest_lists_each_png_with_its_hash(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["dataset", "--out", str(tmp_path), "--limit", "20"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert len(lines) == 20
    assert sum(line["memorized"] for line in lines) == 16  # memorized scenes come first
    first = lines[0]
    path = Path(first["uri"].removeprefix("file://"))
    assert first["uri"].startswith("file:///") and path.is_file()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == first["sha256"]
    assert first["duplicates"] >= 100 and lines[-1]["duplicates"] == 1
    assert path.with_suffix(".txt").read_text().strip() == first["caption"]


def test_given_a_prompt_and_seed_when_generating_then_a_64px_png_is_written(tmp_path: Path) -> None:
    out = tmp_path / "image.png"
    result = CliRunner().invoke(app, ["generate", "--prompt", "a small red circle at the center on a black background",
                                      "--seed", "3", "--out", str(out), "--steps", "10"])
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (64, 64)
