"""`swerve index ...`: build, extend, query and describe the training-image index.

Thin wrappers: the work lives in swerve.index. The default embedder is the toy world's tiny
CLIP (its model config and committed checkpoint); any other open_clip model is chosen with
--embedder-model, --checkpoint and, for a custom architecture, --model-config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from swerve.cli.faiss_threads import apply_faiss_threads
from swerve.cli.reported_errors import reported_errors

if TYPE_CHECKING:
    from swerve.index import TrainingImageSizes
    from swerve.index.open_clip_embedder import OpenClipEmbedder

app = typer.Typer(help="The FAISS index of training-image embeddings that memorization detectors search.",
                  no_args_is_help=True)

_MODEL_HELP = "open_clip model name (default: the toy world's tiny CLIP)"
_CHECKPOINT_HELP = "local weights file of that model"
_CONFIG_HELP = "JSON model config to register first, named <model>.json"


def _embedder(model: str | None, checkpoint: Path | None, model_config: Path | None, device: str | None,
              batch_size: int) -> OpenClipEmbedder:
    """The embedder the options name, or the toy world's tiny CLIP when they name none."""
    from swerve.errors import ModelNotFoundError
    from swerve.index.open_clip_embedder import OpenClipEmbedder

    if model is None and checkpoint is None and model_config is None:
        from swerve.toyworld.tiny_clip import CONFIG_DIR, MODEL_NAME
        from swerve.toyworld.weights_paths import TINY_CLIP_CHECKPOINT

        if not TINY_CLIP_CHECKPOINT.is_file():
            raise ModelNotFoundError(f"the toy world's tiny CLIP is not trained yet (expected at "
                                     f"{TINY_CLIP_CHECKPOINT}); train it, or pass --embedder-model and --checkpoint")
        model, checkpoint, model_config = MODEL_NAME, TINY_CLIP_CHECKPOINT, CONFIG_DIR / f"{MODEL_NAME}.json"
    if model is None or checkpoint is None:
        raise typer.BadParameter("--embedder-model and --checkpoint go together")
    return OpenClipEmbedder(model, checkpoint, model_config=model_config, device=device, batch_size=batch_size)


@app.command()
def build(
    source: Path = typer.Argument(..., help="image folder (captions in sibling .txt), or a .jsonl/.parquet manifest "
                                           "of uri, caption, sha256"),
    out: Path = typer.Option(..., "--out", help="bundle folder to write"),
    embedder_model: str | None = typer.Option(None, "--embedder-model", help=_MODEL_HELP),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", help=_CHECKPOINT_HELP),
    model_config: Path | None = typer.Option(None, "--model-config", help=_CONFIG_HELP),
    memory_budget_mb: float = typer.Option(4096, "--memory-budget-mb", help="memory the index may keep resident"),
    threads: int | None = typer.Option(None, "--threads", min=1, help="faiss threads (default: SWERVE_FAISS_THREADS, else the CPU quota)"),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="images embedded per batch"),
    device: str | None = typer.Option(None, "--device", help="torch device (default: cuda if available)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing bundle"),
) -> None:
    """Embed the training images and write index.faiss, metadata.sqlite and manifest.json to --out."""
    from swerve.index import TrainingIndex, training_images_from
    from tqdm import tqdm  # type: ignore[import-untyped]

    with reported_errors():
        apply_faiss_threads()
        images = training_images_from(source)
        embedder = _embedder(embedder_model, checkpoint, model_config, device, batch_size)
        with tqdm(total=len(images), unit="img", desc="embedding") as bar:
            index = TrainingIndex.build(out, images, embedder, memory_budget_mb=memory_budget_mb, threads=threads,
                                        overwrite=overwrite, batch_size=batch_size, on_embedded=bar.update)
        with index:
            manifest = index.manifest
            typer.echo(f"{manifest.count} images -> {out} ({manifest.index_kind}: "
                       f"{manifest.build_params['reason']}), index_version {index.index_version}")
            if manifest.image_sizes is not None:
                typer.echo(_describe_sizes(manifest.image_sizes))


def _describe_sizes(sizes: TrainingImageSizes) -> str:
    """One line on the training images' sizes, which set the memorization detector's default compare size."""
    width, height = sizes.most_common
    spread = (f"sizes vary: short sides {min(sizes.short_sides)}-{max(sizes.short_sides)} px" if sizes.varies
              else "all one size")
    return (f"training images: typical short side {sizes.typical_short_side} px, most common {width}x{height} "
            f"({sizes.sizes[sizes.most_common]} of {sizes.count}), {spread}")


@app.command()
def add(
    index_dir: Path = typer.Argument(..., help="bundle folder"),
    source: Path = typer.Argument(..., help="image folder, or a .jsonl/.parquet manifest"),
    embedder_model: str | None = typer.Option(None, "--embedder-model", help=_MODEL_HELP),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", help=_CHECKPOINT_HELP),
    model_config: Path | None = typer.Option(None, "--model-config", help=_CONFIG_HELP),
    threads: int | None = typer.Option(None, "--threads", min=1, help="faiss threads (default: SWERVE_FAISS_THREADS, else the CPU quota)"),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="images embedded per batch"),
    device: str | None = typer.Option(None, "--device", help="torch device (default: cuda if available)"),
) -> None:
    """Embed more training images and append them to an existing bundle (same embedder)."""
    from swerve.index import TrainingIndex, training_images_from
    from tqdm import tqdm

    with reported_errors():
        apply_faiss_threads()
        images = training_images_from(source)
        embedder = _embedder(embedder_model, checkpoint, model_config, device, batch_size)
        with TrainingIndex.open(index_dir, embedder=embedder, threads=threads) as index:
            with tqdm(total=len(images), unit="img", desc="embedding") as bar:
                ids = index.add(images, batch_size=batch_size, on_embedded=bar.update)
            typer.echo(f"added ids {ids.start}..{ids.stop - 1}; {index.count} images, "
                       f"index_version {index.index_version}")


@app.command()
def query(
    image: Path = typer.Argument(..., exists=True, dir_okay=False, help="image file to look up"),
    index_dir: Path = typer.Option(..., "--index", help="bundle folder"),
    k: int = typer.Option(5, "-k", "--k", min=1, help="neighbours to return"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    embedder_model: str | None = typer.Option(None, "--embedder-model", help=_MODEL_HELP),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", help=_CHECKPOINT_HELP),
    model_config: Path | None = typer.Option(None, "--model-config", help=_CONFIG_HELP),
    nprobe: int | None = typer.Option(None, "--nprobe", min=1, help="inverted lists to visit (IVF kinds)"),
    ef_search: int | None = typer.Option(None, "--ef-search", min=1, help="HNSW quantizer beam width"),
    rerank: int | None = typer.Option(None, "--rerank", min=1, help="candidates re-ranked exactly (IVF-PQ)"),
    device: str | None = typer.Option(None, "--device", help="torch device (default: cuda if available)"),
) -> None:
    """Print the K training images nearest to IMAGE. Similarity is a candidate score, not proof of a copy."""
    from swerve.index import TrainingIndex
    from swerve.media import decode_bytes

    with reported_errors():
        apply_faiss_threads()
        picture = decode_bytes(image.read_bytes())
        embedder = _embedder(embedder_model, checkpoint, model_config, device, 1)
        with TrainingIndex.open(index_dir, embedder=embedder, read_only=True) as index:
            settings = index.vectors.settings.replace(nprobe=nprobe, ef_search=ef_search, rerank_candidates=rerank)
            neighbours = index.query([picture], k, settings=settings)[0]
            version = index.index_version
    if as_json:
        typer.echo(json.dumps({"image": str(image), "index_version": version,
                               "neighbours": [n.to_json() for n in neighbours]}, sort_keys=True))
        return
    typer.echo(f"{'rank':>4}  {'id':>8}  {'similarity':>10}  caption / uri")
    for rank, neighbour in enumerate(neighbours, 1):
        typer.echo(f"{rank:>4}  {neighbour.id:>8}  {neighbour.similarity:>10.4f}  {neighbour.caption}")
        typer.echo(f"{'':>26}  {neighbour.uri}")


@app.command()
def info(index_dir: Path = typer.Argument(..., help="bundle folder")) -> None:
    """Print the bundle's manifest (with its index_version) as JSON."""
    from swerve.index import IndexManifest
    from swerve.index.manifest import MANIFEST_NAME

    with reported_errors():
        manifest = IndexManifest.read(index_dir / MANIFEST_NAME)
    typer.echo(json.dumps(manifest.to_json(), indent=2, sort_keys=True))
