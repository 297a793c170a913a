"""`swerve calibrate`: choose a detector's threshold from labeled examples for a target FPR."""

from __future__ import annotations

from pathlib import Path

import typer


def calibrate(
    examples: Path = typer.Argument(..., exists=True, dir_okay=False, help='JSONL: {"label": 1, "image": "a.png", "prompt": "...", "seed": 3} per line.'),
    policy: Path = typer.Option(..., exists=True, dir_okay=False, help="Policy whose detector to calibrate."),
    detector: str = typer.Option(..., help="The detector's name in the policy (image or prompt detector)."),
    target_fpr: float = typer.Option(0.01, help="False-positive rate to allow on the negatives."),
) -> None:
    """Score labeled examples with a policy's detector; print AUC, TPR at the target FPR, and the threshold to set."""
    from swerve.detectors.registry import build_detector
    from swerve.evaluation.calibration import calibrate as run_calibration
    from swerve.evaluation.calibration import read_examples, report_json
    from swerve.streams.policy import load_policy

    loaded = load_policy(policy)
    specs = {spec.name: spec for spec in [*loaded.detectors, *loaded.prompt_detectors]}
    if detector not in specs:
        raise typer.BadParameter(f"no detector named {detector!r} in {policy}; it has: {', '.join(specs) or 'none'}")
    spec = specs[detector]
    report = run_calibration(build_detector(spec.kind, spec.name, dict(spec.params)), read_examples(examples), target_fpr)
    typer.echo(report_json(report))
