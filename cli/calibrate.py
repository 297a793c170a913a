"""`swerve calibrate`: choose a detector's threshold from labeled examples for a target FPR."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import typer


def calibrate(
    examples: Path = typer.Argument(..., exists=True, dir_okay=False, help=(
        'JSONL: {"label": 1, "image": "a.png", "prompt": "...", "seed": 3} per line, or recorded scores '
        '{"label": 0, "scores": {"<detector>": 0.93}} as `swerve review export` writes them.')),
    policy: Path = typer.Option(..., exists=True, dir_okay=False, help="Policy whose detector to calibrate."),
    detector: str = typer.Option(..., help="The detector's name in the policy (image or prompt detector)."),
    target_fpr: float = typer.Option(0.01, help="False-positive rate to allow on the negatives."),
) -> None:
    """Score labeled examples with a policy's detector (or take their recorded scores); print AUC,
    TPR at the target FPR, and the threshold to set."""
    from swerve.cli.faiss_threads import apply_faiss_threads
    from swerve.cli.reported_errors import reported_errors
    from swerve.detectors.registry import build_detector
    from swerve.evaluation.calibration import calibrate as run_calibration
    from swerve.evaluation.calibration import calibrate_recorded, policy_params_for_kind, read_examples, report_json
    from swerve.evaluation.metrics import MetricInputError
    from swerve.streams.policy import load_policy

    with reported_errors():
        apply_faiss_threads()
    loaded = load_policy(policy)
    specs = {spec.name: spec for spec in [*loaded.detectors, *loaded.prompt_detectors]}
    if detector not in specs:
        raise typer.BadParameter(f"no detector named {detector!r} in {policy}; it has: {', '.join(specs) or 'none'}")
    spec = specs[detector]
    labeled = read_examples(examples)
    recorded = [example for example in labeled if example.scores]
    if recorded and len(recorded) != len(labeled):
        raise typer.BadParameter(f"{examples}: {len(recorded)} of {len(labeled)} examples carry recorded scores; use one kind per file")
    try:
        if recorded:
            params = partial(policy_params_for_kind, spec.kind, concepts=spec.params.get("concepts", []))
            report = calibrate_recorded(detector, labeled, target_fpr, params)
        else:
            report = run_calibration(build_detector(spec.kind, spec.name, dict(spec.params)), labeled, target_fpr)
    except MetricInputError as exc:  # e.g. a review export where every decision was a block
        typer.echo(f"cannot calibrate {detector!r} on {examples}: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(report_json(report))
