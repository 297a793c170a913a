"""`swerve eval detect`: the detectors' figures on the toy world (see swerve.evaluation.detection)."""

from __future__ import annotations

import json

import typer


def detect(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    seeds: int = typer.Option(32, help="seeds per caption, memorized and ordinary alike"),
    candidate_similarity: float = typer.Option(0.8, help="embedding similarity a neighbour needs for the pixel check"),
    tiled_l2_threshold: float = typer.Option(0.1, help="tiled L2 below this is a near-copy"),
) -> None:
    """AUC and TPR at 1% FPR of the image- and prompt-level memorization detectors, and concept accuracy."""
    from swerve.evaluation.detection import DetectionEvaluationSettings, evaluate_detection
    from swerve.streams.settings import Settings

    settings = DetectionEvaluationSettings(seeds=seeds, candidate_similarity=candidate_similarity, tiled_l2_threshold=tiled_l2_threshold)
    result = evaluate_detection(Settings.from_env().data_dir, settings)
    if as_json:
        typer.echo(json.dumps(result, sort_keys=True))
        return
    for key in ("auc", "tpr_at_1pct_fpr", "prompt_auc", "prompt_tpr_at_1pct_fpr", "concept_accuracy"):
        typer.echo(f"{key:>24}: {result[key]:.4f}")
