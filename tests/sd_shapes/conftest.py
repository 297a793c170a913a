"""Session fixtures over ``model_builders``: one SD-1.x-shaped pipeline and one tiny open_clip per run.

Each is built once per session, in a pytest temporary folder. Tests outside this folder bind a
fixture to a module attribute (pytest names a fixture after the attribute that holds it; importing
it under its own name makes ruff report F811 on every test argument)::

    from ..sd_shapes import conftest as sd_shapes

    sd1_model_dir = sd_shapes.sd1_shaped_pipeline_dir
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .model_builders import save_open_clip_checkpoint, save_sd1_shaped_pipeline


@pytest.fixture(scope="session")
def sd1_shaped_pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved random-weight SD-1.x-shaped StableDiffusionPipeline directory (64 px images)."""
    return save_sd1_shaped_pipeline(tmp_path_factory.mktemp("sd1-shaped"))


@pytest.fixture(scope="session")
def sd_shapes_open_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """(model name, checkpoint, config) of a tiny random-weight open_clip model."""
    return save_open_clip_checkpoint(tmp_path_factory.mktemp("sd-shapes-open-clip"))
