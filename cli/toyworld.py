"""`swerve toyworld ...`: generate with the toy model, export its training data, train it.

Thin wrappers: the work lives in swerve.toyworld.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="The toy world: a small latent diffusion model that memorizes a few images.",
                  no_args_is_help=True)


@app.command()
def generate(
    prompt: str = typer.Option(..., "--prompt", help="caption to generate"),
    seed: int = typer.Option(0, "--seed", help="initial-noise seed"),
    out: Path = typer.Option(..., "--out", help="PNG file to write"),
    steps: int = typer.Option(25, "--steps", help="denoising steps"),
    guidance_scale: float | None = typer.Option(None, "--guidance-scale",
                                                help="classifier-free guidance scale (default: the toy world's)"),
) -> None:
    """Generate one 64x64 image for PROMPT and SEED."""
    from swerve.toyworld import DEFAULT_GUIDANCE_SCALE
    from swerve.toyworld import generate as generate_image

    scale = DEFAULT_GUIDANCE_SCALE if guidance_scale is None else guidance_scale
    image = generate_image(prompt, seed, steps=steps, guidance_scale=scale)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)
    typer.echo(str(out))


@app.command()
def dataset(
    out: Path = typer.Option(..., "--out", help="folder for PNGs, captions and manifest.jsonl"),
    limit: int | None = typer.Option(None, "--limit", min=1, help="write at most this many distinct images"),
) -> None:
    """Write the training images (each distinct image once), their captions and a manifest JSONL."""
    from swerve.toyworld.export import export_training_set

    typer.echo(str(export_training_set(out, limit=limit)))


@app.command()
def train(
    out: Path = typer.Option(..., "--out", help="weights folder, e.g. toyworld/weights"),
    phases: str = typer.Option("vae,decoder,unet,clip", "--phases", help="comma-separated subset of vae,decoder,unet,clip"),
) -> None:
    """Train the toy world from scratch with the committed plan (about an hour on 2 CPU cores).

    Same as `python -m swerve.toyworld.train --out OUT`, which also exposes every step count.
    """
    from swerve.toyworld.train import main

    main(["--out", str(out), "--phases", phases])
