"""Fixtures for tests/index: a tiny open_clip model saved as a local checkpoint. Nothing here
touches the network."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from .builders import save_random_checkpoint

TINY_MODEL = "swerve-test-tiny-clip"
TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}


@dataclass(frozen=True)
class TinyModel:
    """A tiny open_clip config file and a random-weight checkpoint for it, saved with torch.save."""

    name: str
    config: Path
    checkpoint: Path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    directory = tmp_path_factory.mktemp("tiny-clip")
    config = directory / f"{TINY_MODEL}.json"
    config.write_text(json.dumps(TINY_CONFIG))
    checkpoint = save_random_checkpoint(config, TINY_MODEL, directory / "tiny.pt", seed=0)
    return TinyModel(name=TINY_MODEL, config=config, checkpoint=checkpoint)
