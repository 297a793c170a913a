"""People's decisions as labeled data: the export `swerve calibrate` reads, and the threshold it finds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from swerve.evaluation.calibration import calibrate_recorded, policy_params_for_kind, read_examples
from swerve.streams.events import DetectorScore
from swerve.streams.review_labels import labeled_examples
from swerve.streams.review_timeout import timeout_decision

from .review_builders import decision, item


def decided(scores_and_decisions: list[tuple[float, str]]):  # type: ignore[no-untyped-def]
    pairs = []
    for index, (score, verdict) in enumerate(scores_and_decisions):
        it = item(f"req-{index}", scores={"memorization": score, "no-red": 0.1}, flagged=["memorization"], with_candidate=True)
        pairs.append((it, decision(it, verdict, "alice")))  # type: ignore[arg-type]
    return pairs


def test_given_decided_items_then_block_and_approve_replacement_are_positives_and_approve_original_negatives() -> None:
    pairs = decided([(0.9, "block"), (0.7, "approve_original"), (0.8, "approve_replacement")])
    timed_out = item("req-timeout")
    pairs.append((timed_out, timeout_decision(timed_out, timed_out.deadline)))
    rows = list(labeled_examples(pairs))
    assert [(r["request_id"], r["label"]) for r in rows] == [("req-0", 1), ("req-1", 0), ("req-2", 1)]  # the timeout is no human label
    assert rows[1]["scores"] == {"memorization": 0.7, "no-red": 0.1} and rows[1]["flagged_by"] == ["memorization"]
    assert (rows[0]["decision"], rows[0]["reviewer"], rows[0]["prompt"], rows[0]["seed"]) == ("block", "alice", "a red star", 7)


def test_given_a_detector_that_failed_then_its_missing_score_is_left_out() -> None:
    it = item()
    failed = DetectorScore(detector="broken", version="1", status="error", error="boom", action="block")
    it = it.model_copy(update={"verdict": it.verdict.model_copy(update={"scores": [*it.verdict.scores, failed]})})
    [row] = labeled_examples([(it, decision(it))])
    assert row["scores"] == {"takedowns": 1.0}


def export(tmp_path: Path) -> Path:
    # Reviewers cleared the flags at 0.55-0.7 and confirmed those at 0.75 and above.
    pairs = decided([(0.55, "approve_original"), (0.6, "approve_original"), (0.7, "approve_original"),
                     (0.75, "block"), (0.8, "approve_replacement"), (0.95, "block")])
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in labeled_examples(pairs)))
    return path


def test_given_the_export_then_calibration_finds_the_threshold_above_the_false_positives(tmp_path: Path) -> None:
    examples = read_examples(export(tmp_path))
    report = calibrate_recorded("memorization", examples, 0.0, lambda t: policy_params_for_kind("memorization", t))
    assert (report.positives, report.negatives, report.auc, report.tpr_at_target_fpr) == (3, 3, 1.0, 1.0)
    assert 0.7 < report.score_threshold < 0.7001
    assert report.policy_params == {"tiled_l2_threshold": round(1 - report.score_threshold, 6)}


def test_given_the_export_then_swerve_calibrate_reports_the_threshold_without_scoring_images(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    # The memorization detector's index does not exist here: recorded scores must not need it.
    policy.write_text('version: "c"\ndetectors: [{name: memorization, kind: memorization, params: {index_dir: /nonexistent}}]\n')
    done = subprocess.run([sys.executable, "-m", "swerve.cli.main", "calibrate", str(export(tmp_path)), "--policy", str(policy),
                           "--detector", "memorization", "--target-fpr", "0.0"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["detector"] == "memorization" and report["auc"] == 1.0 and 0.7 < report["score_threshold"] < 0.7001
    assert report["examples_without_score"] == 0 and "tiled_l2_threshold" in report["policy_params"]


def test_given_an_export_with_only_blocks_then_calibrate_says_it_needs_both_labels(tmp_path: Path) -> None:
    path = tmp_path / "blocks.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in labeled_examples(decided([(0.9, "block"), (0.8, "block")]))))
    policy = tmp_path / "policy.yaml"
    policy.write_text('version: "c"\ndetectors: [{name: memorization, kind: memorization, params: {index_dir: /nonexistent}}]\n')
    done = subprocess.run([sys.executable, "-m", "swerve.cli.main", "calibrate", str(path), "--policy", str(policy),
                           "--detector", "memorization"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "need both classes" in done.stderr
