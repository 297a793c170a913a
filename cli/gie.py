"""`swerve gie ...`: train GIE's suppression-scale adapter for a concept, on the toy world or any local model.

Thin: the labels come from ``swerve.correctors.gie.scale_labels.label_examples``, with the two
callables (concept present, faithful) of a judge from ``swerve.correctors.gie.adapter_judges``:

- ``--judge toy`` (default for the toy world's model): the toy's tiny CLIP reads colour and shape;
  the concept must be a toy colour or shape.
- ``--judge clip`` (default with ``--model-dir``): CLIP zero-shot with the deployment's own
  open_clip checkpoint (``--clip-model``, ``--clip-checkpoint``, ``--clip-model-config``), loaded
  the way the detectors load it (``swerve.detectors.embedders``). The concept's prompts come from
  ``--target-prompt`` / ``--contrast-prompt`` (default "a photo of {concept}" / "a photo"), or,
  with ``--policy``, from the policy's concept detector that defines the concept, with its threshold
  and embedder. Faithful: the erased image keeps ``--fidelity-fraction`` of the plain image's CLIP
  score against the prompt without the concept.
- ``--judge nudenet``: NudeNet (``swerve[nudenet]``) reads nudity, CLIP judges fidelity as above.

A concept the toy world does not know needs ``--prompts``. The adapter is then fitted by
``swerve.correctors.gie.scale_predictor.train_adapter`` and saved; one JSON line reports it. A bad
combination of options is a usage error, and a run that labels fewer than two examples fails with
the counts, never a traceback. This module must never judge images itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from swerve.cli.reported_errors import reported_errors

if TYPE_CHECKING:
    from PIL import Image

app = typer.Typer(help="GIE: growth inhibitors that erase a concept at inference time.", no_args_is_help=True)

JUDGES = ("clip", "nudenet", "toy")


@app.callback()
def main() -> None:
    """GIE commands."""


def _check_inputs(judge: str | None, concept: str, model_dir: Path | None, prompts_file: Path | None,
                  clip_model: str | None, clip_checkpoint: Path | None, clip_model_config: Path | None,
                  target_prompts: list[str], contrast_prompts: list[str], policy: Path | None,
                  fidelity_fraction: float) -> str:
    """Refuse every combination that cannot work, before any model loads; returns the judge's name."""
    from swerve.correctors.gie.adapter_judges import NUDITY_CONCEPTS, is_toy_concept

    if judge is None:
        judge = "clip" if model_dir is not None else "toy"
    if judge not in JUDGES:
        raise typer.BadParameter(f"--judge must be one of {', '.join(JUDGES)}, got {judge!r}")
    if not concept.strip():
        raise typer.BadParameter("--concept must name a concept")
    prompt_options = bool(target_prompts or contrast_prompts)
    if judge == "toy":
        if not is_toy_concept(concept):
            raise typer.BadParameter(f"the toy judge knows the toy world's colours and shapes, not {concept!r}; "
                                     "use --judge clip (with --clip-model and --clip-checkpoint) for other concepts")
        if clip_model is not None or clip_model_config is not None or prompt_options or policy is not None:
            raise typer.BadParameter("the toy judge reads the toy world's tiny CLIP (--clip-checkpoint may replace "
                                     "its weights); --clip-model, --clip-model-config, --target-prompt, "
                                     "--contrast-prompt and --policy are for --judge clip")
    elif policy is not None:
        if judge != "clip":
            raise typer.BadParameter("--policy gives the concept's prompts to --judge clip; "
                                     f"--judge {judge} takes --clip-model and --clip-checkpoint")
        if clip_model is not None or clip_checkpoint is not None or clip_model_config is not None or prompt_options:
            raise typer.BadParameter("--policy gives both the concept's prompts and the CLIP model: do not combine it "
                                     "with --clip-model, --clip-checkpoint, --clip-model-config or --*-prompt")
    elif clip_model is None or clip_checkpoint is None:
        raise typer.BadParameter(f"--judge {judge} needs the deployment's open_clip model: --clip-model NAME "
                                 "--clip-checkpoint PATH (and --clip-model-config PATH for a custom architecture), "
                                 "or --policy for --judge clip")
    if judge == "nudenet":
        if concept.lower() not in NUDITY_CONCEPTS:
            raise typer.BadParameter(f"--judge nudenet reads nudity; --concept must be one of "
                                     f"{', '.join(NUDITY_CONCEPTS)}, got {concept!r}")
        if prompt_options:
            raise typer.BadParameter("--target-prompt and --contrast-prompt are for --judge clip; NudeNet reads nudity")
    if prompts_file is None and not is_toy_concept(concept):
        raise typer.BadParameter(f"--prompts FILE is required for {concept!r}: the default prompts are toy-world "
                                 "captions, which only name the toy's colours and shapes")
    if not 0.0 < fidelity_fraction <= 1.0:
        raise typer.BadParameter(f"--fidelity-fraction must be within (0, 1], got {fidelity_fraction}")
    return judge


def _policy_concept(policy: Path, concept: str) -> tuple[Any, dict[str, Any]]:
    """The policy's concept set named ``concept`` (a ``ConceptSet``) and its detector's embedder params."""
    from pydantic import ValidationError
    from swerve.detectors.concepts import ConceptSet
    from swerve.errors import PolicyError
    from swerve.streams.policy import load_policy

    found: list[tuple[ConceptSet, dict[str, Any]]] = []
    names: list[str] = []
    for detector in load_policy(policy).detectors:
        if detector.kind != "concept":
            continue
        for entry in detector.params.get("concepts", []):
            try:
                concept_set = ConceptSet.model_validate(entry)
            except ValidationError as exc:
                raise PolicyError(f"{policy}: detector {detector.name!r} has a bad concept set: "
                                  f"{exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from exc
            names.append(concept_set.name)
            if concept_set.name == concept:
                if "embedder" not in detector.params:
                    raise PolicyError(f"{policy}: detector {detector.name!r} defines {concept!r} but no embedder")
                found.append((concept_set, dict(detector.params["embedder"])))
    if not found:
        raise typer.BadParameter(f"{policy} defines no concept {concept!r} in a `kind: concept` detector "
                                 f"(it defines: {', '.join(names) or 'none'}); pass --target-prompt instead")
    if any(other != found[0] for other in found[1:]):
        raise typer.BadParameter(f"{policy} defines {concept!r} differently in several detectors")
    return found[0]


@app.command("train-adapter")
def train_adapter_command(
    concept: str = typer.Option(..., "--concept", help="the concept to erase, e.g. red, umbrella, nudity"),
    out: Path = typer.Option(..., "--out", help="adapter weights to write (.safetensors)"),
    model_dir: Path | None = typer.Option(None, "--model-dir", help="diffusers directory (default: the toy world's)"),
    prompts_file: Path | None = typer.Option(
        None, "--prompts", exists=True, dir_okay=False,
        help="one prompt per line (default: toy captions; required for a non-toy concept)"),
    count: int = typer.Option(12, "--count", min=2, help="toy captions with the concept, when no --prompts"),
    seeds: int = typer.Option(2, "--seeds", min=1, help="seeds per prompt"),
    max_strength: int = typer.Option(15, "--max-strength", min=1, help="scales tried: -1 .. -max_strength"),
    steps: int = typer.Option(25, "--steps", help="denoising steps"),
    guidance_scale: float | None = typer.Option(
        None, "--guidance-scale", help="classifier-free guidance scale the corrector samples at "
                                       "(default: the toy world's; 7.5 with --model-dir)"),
    epochs: int = typer.Option(2000, "--epochs", help="adapter training epochs (Adam, lr 1e-3)"),
    judge: str | None = typer.Option(
        None, "--judge", help="who labels: clip, nudenet or toy (default: toy for the toy world's model, "
                              "clip with --model-dir)"),
    clip_model: str | None = typer.Option(None, "--clip-model", help="open_clip model name, e.g. ViT-L-14"),
    clip_checkpoint: Path | None = typer.Option(
        None, "--clip-checkpoint", help="local open_clip weights (for --judge toy: the tiny CLIP's, default the toy's)"),
    clip_model_config: Path | None = typer.Option(
        None, "--clip-model-config", help="JSON model config named <model>.json, for a custom architecture"),
    target_prompts: list[str] = typer.Option(
        [], "--target-prompt", help="CLIP prompt describing the concept, repeatable (default: 'a photo of {concept}')"),
    contrast_prompts: list[str] = typer.Option(
        [], "--contrast-prompt", help="what the image could be instead, repeatable (default: 'a photo')"),
    policy: Path | None = typer.Option(
        None, "--policy", help="read the concept's prompts, threshold and CLIP model from this policy's concept detector"),
    fidelity_fraction: float = typer.Option(
        0.9, "--fidelity-fraction", help="CLIP judges: share of the plain image's CLIP score an erased image keeps"),
) -> None:
    """Label (prompt, seed) pairs with their smallest erasing scale, fit the adapter, save it."""
    with reported_errors():
        _train_adapter(concept, out, model_dir, prompts_file, count, seeds, max_strength, steps, guidance_scale,
                       epochs, judge, clip_model, clip_checkpoint, clip_model_config, target_prompts,
                       contrast_prompts, policy, fidelity_fraction)


def _train_adapter(concept: str, out: Path, model_dir: Path | None, prompts_file: Path | None, count: int,
                   seeds: int, max_strength: int, steps: int, guidance_scale: float | None, epochs: int,
                   judge: str | None, clip_model: str | None, clip_checkpoint: Path | None,
                   clip_model_config: Path | None, target_prompts: list[str], contrast_prompts: list[str],
                   policy: Path | None, fidelity_fraction: float) -> None:
    from swerve.correctors.generator import DiffusersGenerator
    from swerve.correctors.gie import adapter_judges
    from swerve.correctors.gie.scale_labels import label_examples
    from swerve.correctors.gie.scale_predictor import save_adapter, train_adapter
    from swerve.detectors.embedders import shared_embedder
    from swerve.toyworld.dataset import sample_ordinary_captions
    from swerve.toyworld.generation import DEFAULT_GUIDANCE_SCALE
    from swerve.toyworld.weights_paths import PIPELINE_DIR

    # 1. check the options together, before any model loads
    judge = _check_inputs(judge, concept, model_dir, prompts_file, clip_model, clip_checkpoint, clip_model_config,
                          target_prompts, contrast_prompts, policy, fidelity_fraction)
    if prompts_file is not None:
        prompts = [line.strip() for line in prompts_file.read_text().splitlines() if line.strip()]
    else:
        prompts = [c for c in sample_ordinary_captions(count * 40) if concept in c.split()][:count]
    if len(prompts) < 2:
        raise typer.BadParameter(f"need at least 2 prompts for {concept!r}, got {len(prompts)}")

    # 2. the judge's own models (CLIP, NudeNet), so a missing file or extra fails before the generator loads
    concept_prompts = adapter_judges.ConceptPrompts(
        concept, tuple(target_prompts) or adapter_judges.DEFAULT_TARGETS,
        tuple(contrast_prompts) or adapter_judges.DEFAULT_CONTRASTS)
    embedder_params: dict[str, Any] | None = None
    if policy is not None:
        concept_set, embedder_params = _policy_concept(policy, concept)
        concept_prompts = adapter_judges.ConceptPrompts(concept, tuple(concept_set.prompts),
                                                        tuple(concept_set.contrast), concept_set.threshold)
    elif judge != "toy":
        assert clip_model is not None and clip_checkpoint is not None  # _check_inputs
        embedder_params = {"model": clip_model, "checkpoint": str(clip_checkpoint),
                           "model_config_path": str(clip_model_config) if clip_model_config else None}
    embedder = shared_embedder(embedder_params, "gie train-adapter") if embedder_params is not None else None
    nudity_flagged = _nudenet_flagger() if judge == "nudenet" else None

    # 3. the generator the adapter is for
    if guidance_scale is None:
        guidance_scale = 7.5 if model_dir is not None else DEFAULT_GUIDANCE_SCALE
    generator = DiffusersGenerator.from_directory(model_dir or PIPELINE_DIR, steps=steps, guidance_scale=guidance_scale)
    seed_list = list(range(seeds))

    def plain_images(prompt: str) -> list[Image.Image]:
        return generator.generate([prompt] * len(seed_list), seed_list)

    # 4. the judge: (concept_present, faithful)
    if judge == "toy":
        present, faithful = adapter_judges.toy_judge(concept, clip_checkpoint)
    else:
        assert embedder is not None
        present, faithful = adapter_judges.clip_judge(embedder, concept_prompts, plain_images, fidelity_fraction)
        if nudity_flagged is not None:
            present, faithful = adapter_judges.nudenet_judge(nudity_flagged, faithful)

    # 5. label, fit, save
    examples = label_examples(generator, prompts, seed_list, concept, present, faithful,
                              scales=[-float(w) for w in range(1, max_strength + 1)])
    labeled, skipped = len(examples.scales), len(examples.skipped)
    if labeled < 2:
        typer.echo(f"error: could not label enough examples to fit the adapter: {labeled} of {labeled + skipped} "
                   f"(prompt, seed) pairs labeled, {skipped} skipped because no scale in -1 .. -{max_strength} "
                   f"erased {concept!r} while staying faithful (judge: {judge}); try more prompts, seeds or a "
                   "larger --max-strength, or check the judge's prompts", err=True)
        raise typer.Exit(1)
    adapter = train_adapter(examples.features, examples.scales, epochs=epochs)
    save_adapter(adapter, out)
    typer.echo(json.dumps({"adapter": str(out), "judge": judge, "layers": adapter.layers, "labeled": labeled,
                           "skipped": skipped, "mean_scale": float(examples.scales.mean())}))


def _nudenet_flagger() -> Callable[[Image.Image], bool]:
    """image -> whether the deployment's NudeNet detector flags it (ConfigurationError without the extra)."""
    from swerve.detectors.nudenet_nudity import NudeNetDetector
    from swerve.detectors.protocol import Sample

    detector = NudeNetDetector(name="gie train-adapter")

    def flagged(image: Image.Image) -> bool:
        return detector.score([Sample("gie-train-adapter", image, None)])[0].flagged

    return flagged
