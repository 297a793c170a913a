"""The embedded defaults: what `make demo` and `swerve eval` run on when nothing is configured.

The toy world stands in for a deployment's generator and training set: its committed pipeline
is the generator, its tiny CLIP the embedder, its training images the index. This module
builds that index on first use (under ``$SWERVE_DATA_DIR``) and names the toy policy
(``streams/policies/toyworld.yaml``). Production deployments configure their own model
directories, index and policy; nothing here is on their path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from swerve.index.manifest import IndexManifest

TOY_POLICY = Path(__file__).resolve().parent / "policies" / "toyworld.yaml"
TOY_INDEX_NAME = "toyworld-index"
TOY_TRAINING_NAME = "toyworld-training"
TOY_WORLD_STAMP = "toyworld-world.txt"  # the world_fingerprint the index was built from


def toy_embedder_params() -> dict[str, Any]:
    """Embedder params (``detectors/embedders.py``) of the toy world's tiny CLIP."""
    from swerve.toyworld.tiny_clip import CONFIG_DIR, MODEL_NAME
    from swerve.toyworld.weights_paths import TINY_CLIP_CHECKPOINT

    return {"model": MODEL_NAME, "checkpoint": str(TINY_CLIP_CHECKPOINT), "model_config_path": str(CONFIG_DIR / f"{MODEL_NAME}.json")}


def ensure_toy_index(data_dir: Path, *, rebuild: bool = False) -> Path:
    """The toy world's training-image index under ``data_dir``, built when missing or stale.

    Stale means built with another embedder version (the tiny CLIP was retrained) or from another
    world (the dataset's drawing constants changed: ``world_fingerprint``, kept beside the index).
    """
    from swerve.detectors.embedders import shared_embedder
    from swerve.index import TrainingIndex, training_images_from
    from swerve.toyworld.dataset import world_fingerprint
    from swerve.toyworld.export import export_training_set

    directory = data_dir / TOY_INDEX_NAME
    embedder = shared_embedder(toy_embedder_params(), "toy index")
    manifest_file, world_file = directory / "manifest.json", directory / TOY_WORLD_STAMP
    world = world_fingerprint()
    if (not rebuild and manifest_file.exists() and IndexManifest.read(manifest_file).embedder.version == embedder.version
            and world_file.exists() and world_file.read_text().strip() == world):
        return directory
    manifest = export_training_set(data_dir / TOY_TRAINING_NAME)
    TrainingIndex.build(directory, training_images_from(manifest), embedder, overwrite=True).close()
    world_file.write_text(world + "\n")
    return directory
