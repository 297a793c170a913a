"""`swerve eval gie-maps`: is GIE's M* a relevance map on the toy model? (see swerve.evaluation.gie_relevance)"""

from __future__ import annotations

import json

import typer


def gie_maps(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    concept: str = typer.Option("red", help="the shape colour whose M* is measured"),
    prompts_per_colour: int = typer.Option(6, help="ordinary captions per shape colour (seed = index)"),
    steps_window: int = typer.Option(20, help="average M* over the first N denoising steps (GIE's active steps)"),
) -> None:
    """Per cross-attention layer: M* of the concept on objects of each colour, and on the background."""
    from swerve.correctors.generator import DiffusersGenerator
    from swerve.evaluation.gie_relevance import GieMapSettings, evaluate_gie_maps
    from swerve.toyworld import DEFAULT_GUIDANCE_SCALE, DEFAULT_STEPS, load_pipeline

    generator = DiffusersGenerator(load_pipeline(None), "toyworld", steps=DEFAULT_STEPS,
                                   guidance_scale=DEFAULT_GUIDANCE_SCALE)
    settings = GieMapSettings(concept=concept, prompts_per_colour=prompts_per_colour, steps_window=steps_window)
    try:
        result = evaluate_gie_maps(generator, settings)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    if as_json:
        typer.echo(json.dumps(result, sort_keys=True))
        return
    colours = list(result["layers"][0]["on_objects"])
    typer.echo(f"M* on '{concept}' (mean over the first {steps_window} steps), by object colour:")
    typer.echo("layer grid  selectivity localization  " + " ".join(f"{c:>7}" for c in colours) + "  background")
    for layer in result["layers"]:
        cells = " ".join(f"{layer['on_objects'][c]:7.3f}" for c in colours)
        typer.echo(f"{layer['layer']:>5} {layer['grid']:>4}  {layer['selectivity']:11.3f} {layer['localization']:12.3f}  "
                   f"{cells}  {layer['on_background']:10.3f}")
