"""`swerve eval correct`: the correctors' figures on the toy world (see swerve.evaluation.correction)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def correct(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    seeds: int = typer.Option(32, help="seeds per memorized caption for the flagged set"),
    baseline_seeds: int = typer.Option(8, help="seeds per memorized caption (a prefix) the other methods are compared on"),
    methods: str = typer.Option("prompt_mitigation,nudging,nudging_with_prompt_mitigation,reseed,negative_prompt,delayed_guidance",
                                 help="comma-separated methods; the first runs on every flagged output"),
    gie_target: str = typer.Option("red", help="the colour GIE erases in the ORR measurement"),
    params: Optional[str] = typer.Option(None, help='JSON of per-method corrector params, e.g. {"nudging": {"beta": 4}}'),
    contact_sheet: Optional[Path] = typer.Option(None, "--contact-sheet", help="also write a contact sheet PNG here"),
) -> None:
    """Success, blocked and fidelity of each correction method and baseline; GIE's removal rates."""
    from swerve.evaluation.correction import CorrectionEvaluationSettings, evaluate_correction
    from swerve.streams.settings import Settings

    chosen = tuple(m.strip() for m in methods.split(",") if m.strip())
    if not chosen:
        raise typer.BadParameter("name at least one method", param_hint="--methods")
    settings = CorrectionEvaluationSettings(
        seeds=seeds, baseline_seeds=baseline_seeds, methods=chosen,
        gie_target=gie_target, method_params=json.loads(params) if params else {}, primary_method=chosen[0],
    )
    result = evaluate_correction(Settings.from_env().data_dir, settings, contact_sheet=contact_sheet)
    if as_json:
        typer.echo(json.dumps(result, sort_keys=True))
        return
    for key in ("correction_success_rate", "blocked_rate", "fidelity_ratio", "gie_orr_target", "gie_orr_nontarget"):
        typer.echo(f"{key:>24}: {result[key]}")
    for method, figures in result["methods"].items():
        typer.echo(f"{method:>24}: success {figures['correction_success_rate']}, blocked {figures['blocked_rate']}, fidelity {figures['fidelity_ratio']}")
