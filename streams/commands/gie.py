"""`swerve gie ...`: train GIE's suppression-scale adapter on the toy world (or any local model).

Thin: the labels come from ``swerve.correctors.gie.scale_labels`` with two callables built here from the
toy world's tiny CLIP (zero-shot colour and shape readings):
- the concept is present when the reading of its kind (colour or shape) still names it;
- the image is faithful when the reading of the other kind still matches the prompt.
The adapter is then fitted by ``swerve.correctors.gie.scale_predictor.train_adapter`` and saved.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer
from PIL import Image

app = typer.Typer(help="GIE: growth inhibitors that erase a concept at inference time.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """GIE commands."""


ImageCheck = Callable[[str, Image.Image], bool]


def _toy_checks(concept: str, clip_checkpoint: Path | None) -> tuple[ImageCheck, ImageCheck]:
    from swerve.toyworld.tiny_clip import load_tiny_clip
    from swerve.toyworld.vocabulary import SHAPE_COLOURS, SHAPES

    if concept not in SHAPE_COLOURS and concept not in SHAPES:
        raise typer.BadParameter(f"the toy-world checks know colours and shapes, not {concept!r}")
    clip = load_tiny_clip(clip_checkpoint)
    is_colour = concept in SHAPE_COLOURS
    others = list(SHAPES) if is_colour else list(SHAPE_COLOURS)

    def present(prompt: str, image: Image.Image) -> bool:
        reading = clip.classify([image])[0]
        return (reading.colour if is_colour else reading.shape) == concept

    def faithful(prompt: str, image: Image.Image) -> bool:
        reading = clip.classify([image])[0]
        expected = [word for word in prompt.split() if word in others]
        return not expected or (reading.shape if is_colour else reading.colour) in expected

    return present, faithful


@app.command("train-adapter")
def train_adapter_command(
    concept: str = typer.Option(..., "--concept", help="the concept to erase, e.g. red"),
    out: Path = typer.Option(..., "--out", help="adapter weights to write (.safetensors)"),
    model_dir: Path | None = typer.Option(None, "--model-dir", help="diffusers directory (default: the toy world's)"),
    prompts_file: Path | None = typer.Option(None, "--prompts", help="one prompt per line (default: toy captions)"),
    count: int = typer.Option(12, "--count", min=2, help="toy captions with the concept, when no --prompts"),
    seeds: int = typer.Option(2, "--seeds", min=1, help="seeds per prompt"),
    max_strength: int = typer.Option(15, "--max-strength", min=1, help="scales tried: -1 .. -max_strength"),
    steps: int = typer.Option(25, "--steps", help="denoising steps"),
    guidance_scale: float | None = typer.Option(
        None, "--guidance-scale", help="classifier-free guidance scale the corrector samples at "
                                       "(default: the toy world's; 7.5 with --model-dir)"),
    epochs: int = typer.Option(2000, "--epochs", help="adapter training epochs (Adam, lr 1e-3)"),
    clip_checkpoint: Path | None = typer.Option(None, "--clip-checkpoint", help="tiny CLIP (default: the toy's)"),
) -> None:
    """Label (prompt, seed) pairs with their smallest erasing scale, fit the adapter, save it."""
    from swerve.correctors.generator import DiffusersGenerator
    from swerve.correctors.gie.scale_predictor import save_adapter, train_adapter
    from swerve.correctors.gie.scale_labels import label_examples
    from swerve.toyworld.dataset import sample_ordinary_captions
    from swerve.toyworld.generation import DEFAULT_GUIDANCE_SCALE
    from swerve.toyworld.weights_paths import PIPELINE_DIR

    if prompts_file is not None:
        prompts = [line.strip() for line in prompts_file.read_text().splitlines() if line.strip()]
    else:
        prompts = [c for c in sample_ordinary_captions(count * 40) if concept in c.split()][:count]
    if len(prompts) < 2:
        raise typer.BadParameter(f"need at least 2 prompts for {concept!r}, got {len(prompts)}")
    if guidance_scale is None:
        guidance_scale = 7.5 if model_dir is not None else DEFAULT_GUIDANCE_SCALE
    generator = DiffusersGenerator.from_directory(model_dir or PIPELINE_DIR, steps=steps, guidance_scale=guidance_scale)
    present, faithful = _toy_checks(concept, clip_checkpoint)
    examples = label_examples(generator, prompts, list(range(seeds)), concept, present, faithful,
                              scales=[-float(w) for w in range(1, max_strength + 1)])
    if len(examples.scales) < 2:
        raise typer.BadParameter(f"only {len(examples.scales)} examples could be labeled; try more prompts or scales")
    adapter = train_adapter(examples.features, examples.scales, epochs=epochs)
    save_adapter(adapter, out)
    typer.echo(json.dumps({"adapter": str(out), "layers": adapter.layers, "labeled": len(examples.scales),
                           "skipped": len(examples.skipped), "mean_scale": float(examples.scales.mean())}))
