"""`swerve eval correct`: the correctors' figures on the toy world (see swerve.evaluation.correction)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from swerve.cli.eval_extra import eval_extra


def correct(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    seeds: int = typer.Option(32, help="seeds per memorized caption (and per paraphrase) for the flagged sets"),
    baseline_seeds: int = typer.Option(8, help="seeds per memorized caption (a prefix) the other methods are compared on"),
    methods: str = typer.Option("prompt_mitigation,nudging,nudging_with_prompt_mitigation,reseed,negative_prompt,delayed_guidance",
                                 help="comma-separated methods; the first runs on every flagged output. "
                                      "A variant is '<method>:<label>' with its params under that name in --params"),
    clearance: float = typer.Option(0.15, help="tiled L2 a replacement must reach against every matched training image"),
    max_attempts: int = typer.Option(3, "--max-attempts", min=1, max=10, help="correction attempts before a block, as the policy's max_attempts"),
    max_cosine: Optional[float] = typer.Option(None, "--max-cosine", help="ceiling on a replacement's embedding cosine to its neighbours"),
    paraphrases: int = typer.Option(2, help="paraphrases of each memorized caption in the implicit set"),
    old_behaviour: bool = typer.Option(True, "--old-behaviour/--no-old-behaviour",
                                       help="also run the first method re-verified at the detection threshold, for its fidelity"),
    gie: bool = typer.Option(True, "--gie/--no-gie", help="measure GIE's removal rates"),
    gie_target: str = typer.Option("red", help="the colour GIE erases in the ORR measurement"),
    params: Optional[str] = typer.Option(None, help='JSON of per-method corrector params, e.g. {"nudging": {"beta": 4}}'),
    contact_sheet: Optional[Path] = typer.Option(None, "--contact-sheet", help="also write a contact sheet PNG here"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="also write the histogram of replacements' distances (PNG) here"),
) -> None:
    """Success at the clearance and at fixed tiled L2, SSIM, blocked, writer's block and fidelity
    of each method, on verbatim and paraphrased memorized prompts; GIE's removal rates."""
    with eval_extra("swerve eval correct"):
        from swerve.evaluation.correction import CorrectionEvaluationSettings, evaluate_correction
    from swerve.streams.settings import Settings

    chosen = tuple(m.strip() for m in methods.split(",") if m.strip())
    if not chosen:
        raise typer.BadParameter("name at least one method", param_hint="--methods")
    settings = CorrectionEvaluationSettings(
        seeds=seeds, baseline_seeds=baseline_seeds, methods=chosen, clearance_tiled_l2=clearance, max_attempts=max_attempts, clearance_max_cosine=max_cosine,
        paraphrases_per_caption=paraphrases, compare_old_behaviour=old_behaviour, run_gie=gie,
        gie_target=gie_target, method_params=json.loads(params) if params else {}, primary_method=chosen[0],
    )
    result = evaluate_correction(Settings.from_env().data_dir, settings, contact_sheet=contact_sheet, plot=plot)
    if as_json:
        typer.echo(json.dumps(result, sort_keys=True))
        return
    for key in ("success_at_clearance", "success_at_tiled_l2", "blocked_rate", "fidelity_ratio", "fidelity_ratio_old_behaviour",
                "writer_block_rate", "ssim_to_matched_mean", "gie_orr_target", "gie_orr_nontarget"):
        typer.echo(f"{key:>30}: {result.get(key)}")
    typer.echo(f"{'paraphrased':>30}: {result['paraphrased']['detection']} -> {result['paraphrased']['correction']}")
    for method, figures in result["methods"].items():
        typer.echo(f"{method:>30}: success at clearance {figures['success_at_clearance']}, blocked {figures['blocked_rate']}, "
                   f"fidelity {figures['fidelity_ratio']}")
