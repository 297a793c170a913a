"""`swerve eval tradeoff`: each correction method over its strength knob (see swerve.evaluation.tradeoff)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from swerve.cli.eval_extra import eval_extra


def tradeoff(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    seeds: int = typer.Option(4, help="seeds per memorized caption for the flagged set"),
    methods: str = typer.Option("prompt_mitigation,nudging,nudging:prompt,nudging_with_prompt_mitigation",
                                help="comma-separated methods, each swept over its knob"),
    clearance: float = typer.Option(0.15, help="tiled L2 a replacement must reach against every matched training image"),
    max_attempts: int = typer.Option(3, "--max-attempts", min=1, max=10, help="correction attempts before a block, as the policy's max_attempts"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="also write the figure (PNG) here"),
) -> None:
    """Success at the clearance against fidelity, for each method at each strength."""
    with eval_extra("swerve eval tradeoff"):
        from swerve.evaluation.correction import CorrectionEvaluationSettings
        from swerve.evaluation.tradeoff import TradeoffSettings, evaluate_tradeoff
    from swerve.streams.settings import Settings

    chosen = tuple(m.strip() for m in methods.split(",") if m.strip())
    settings = TradeoffSettings(seeds=seeds, methods=chosen, correction=CorrectionEvaluationSettings(clearance_tiled_l2=clearance, max_attempts=max_attempts))
    try:
        result = evaluate_tradeoff(Settings.from_env().data_dir, settings, plot=plot)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--methods") from exc
    if as_json:
        typer.echo(json.dumps(result, sort_keys=True))
        return
    for method, points in result["curves"].items():
        for point in points:
            typer.echo(f"{method:>32} {point['knob']}={point['value']:<5g} success at clearance {point['success_at_clearance']}, "
                       f"fidelity {point['fidelity_ratio']}, blocked {point['blocked_rate']}")
