"""`swerve eval ...`: measured figures of the project. Thin wrappers around swerve.evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(help="Measure the project's claims on the toy world.", no_args_is_help=True)


@app.callback()
def evaluate() -> None:
    """Measured figures of the project (a group, so `eval toyworld` stays a named sub-command)."""
    from swerve.cli.faiss_threads import apply_faiss_threads
    from swerve.cli.reported_errors import reported_errors

    with reported_errors():
        apply_faiss_threads()


@app.command()
def toyworld(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    memorized_seeds: int = typer.Option(32, "--memorized-seeds", help="seeds per memorized caption"),
    ordinary_captions: int = typer.Option(200, "--ordinary-captions", help="fresh ordinary captions, one seed each"),
    threshold: float = typer.Option(0.1, "--threshold", help="tiled L2 below this is a near-copy"),
    steps: int = typer.Option(25, "--steps", help="denoising steps"),
    guidance_scale: float | None = typer.Option(None, "--guidance-scale",
                                                help="classifier-free guidance scale (default: the toy world's)"),
    contact_sheet: Path | None = typer.Option(None, "--contact-sheet", help="also write the contact sheet PNG here"),
) -> None:
    """Memorization, novelty, zero-shot fidelity, Wen AUC and speed of the toy generator."""
    from swerve.evaluation.toyworld import ToyEvaluationSettings, evaluate_toyworld
    from swerve.toyworld import DEFAULT_GUIDANCE_SCALE

    guidance_scale = DEFAULT_GUIDANCE_SCALE if guidance_scale is None else guidance_scale
    settings = ToyEvaluationSettings(memorized_seeds=memorized_seeds, ordinary_captions=ordinary_captions,
                                     threshold=threshold, steps=steps, guidance_scale=guidance_scale)
    result = evaluate_toyworld(settings)
    if contact_sheet is not None:
        from swerve.evaluation.toyworld_sheet import toyworld_contact_sheet
        from swerve.toyworld import load_pipeline

        contact_sheet.parent.mkdir(parents=True, exist_ok=True)
        toyworld_contact_sheet(load_pipeline(), steps=steps, guidance_scale=guidance_scale).save(contact_sheet)
        result["contact_sheet"] = str(contact_sheet)
    if as_json:
        typer.echo(json.dumps(result, sort_keys=True))
        return
    for key in ("memorized_copy_rate", "novel_copy_rate", "zero_shot_accuracy", "wen_auc", "seconds_per_image"):
        typer.echo(f"{key:>22}: {result[key]:.4f}")
