"""Builds the embedders that detectors share, from the policy's ``embedder`` parameters.

Two detectors configured with the same embedder (the memorization detector and the concept
detector usually are) get the same instance, so one model is loaded once per worker.
Weights load from local files only; a hub download needs ``allow_hub_download: true``.
"""

from __future__ import annotations

import json
from pathlib import Path
from threading import Lock
from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, ValidationError

from swerve.errors import PolicyError
from swerve.index import TextEmbedder


class EmbedderSpec(BaseModel):
    """An open_clip embedder: architecture name, local checkpoint, optional custom config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    checkpoint: str
    model_config_path: str | None = None
    device: str | None = None
    batch_size: int = 64
    allow_hub_download: bool = False


_SHARED: dict[str, TextEmbedder] = {}
_LOCK = Lock()


def shared_embedder(params: Mapping[str, Any], owner: str) -> TextEmbedder:
    """The embedder described by ``params`` (one instance per distinct spec in this process)."""
    try:
        spec = EmbedderSpec.model_validate(dict(params))
    except ValidationError as exc:
        raise PolicyError(f"{owner}: bad embedder params: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from exc
    key = json.dumps(spec.model_dump(), sort_keys=True)
    with _LOCK:
        if key not in _SHARED:
            from swerve.index.open_clip_embedder import OpenClipEmbedder

            _SHARED[key] = OpenClipEmbedder(
                spec.model,
                spec.checkpoint,
                model_config=Path(spec.model_config_path) if spec.model_config_path else None,
                device=spec.device,
                batch_size=spec.batch_size,
                allow_hub_download=spec.allow_hub_download,
            )
        return _SHARED[key]
