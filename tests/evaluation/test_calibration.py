"""Calibration picks the threshold a deployment needs for a target false-positive rate."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from PIL import Image

from swerve.detectors.protocol import Sample, Score
from swerve.evaluation.calibration import LabeledExample, calibrate, read_examples


class ValueByPrompt:
    """A detector whose score is the number in the prompt: calibration arithmetic made visible."""

    name, version = "by-prompt", "1"

    def score(self, batch: Sequence[Sample]) -> list[Score]:
        return [Score(float(s.prompt), float(s.prompt) >= 0.5) for s in batch]


def test_given_separable_scores_then_auc_is_one_and_the_threshold_sits_above_every_negative() -> None:
    examples = [LabeledExample(False, prompt=str(v)) for v in (0.1, 0.2, 0.3)] + [LabeledExample(True, prompt=str(v)) for v in (0.7, 0.9)]
    report = calibrate(ValueByPrompt(), examples, target_fpr=0.0)
    assert report.auc == 1.0 and report.tpr_at_target_fpr == 1.0
    assert 0.3 < report.score_threshold < 0.31
    assert (report.positives, report.negatives) == (2, 3)


def test_given_examples_jsonl_with_relative_images_then_they_resolve_next_to_the_file(tmp_path: Path) -> None:
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    lines = [json.dumps({"label": 1, "image": "a.png"}), "", json.dumps({"label": 0, "prompt": "p"})]
    (tmp_path / "examples.jsonl").write_text("\n".join(lines) + "\n")
    examples = read_examples(tmp_path / "examples.jsonl")
    assert examples[0].image == tmp_path / "a.png" and examples[1].image is None and examples[1].prompt == "p"


def test_given_the_cli_then_it_prints_the_report_for_a_policy_detector(tmp_path: Path) -> None:
    listed, other = tmp_path / "listed.png", tmp_path / "other.png"
    Image.new("RGB", (4, 4), (1, 2, 3)).save(listed)
    Image.new("RGB", (4, 4), (9, 9, 9)).save(other)
    digest = hashlib.sha256(listed.read_bytes()).hexdigest()
    (tmp_path / "policy.yaml").write_text(f'version: "c"\ndetectors: [{{name: takedowns, kind: hash_blocklist, params: {{digests: ["{digest}"]}}}}]\n')
    lines = [json.dumps({"label": 1, "image": "listed.png"}), json.dumps({"label": 0, "image": "other.png"})]
    (tmp_path / "examples.jsonl").write_text("\n".join(lines) + "\n")
    done = subprocess.run([sys.executable, "-m", "swerve.cli.main", "calibrate", str(tmp_path / "examples.jsonl"),
                           "--policy", str(tmp_path / "policy.yaml"), "--detector", "takedowns"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["auc"] == 1.0 and report["detector"] == "takedowns"
