"""``OpenClipEmbedder``: any open_clip architecture as an ``Embedder``, weights from a local file.

The model is built with ``open_clip.create_model_and_transforms(model_name,
pretrained=<local path>)``, the same code path for the toy world's tiny CLIP and for a
ViT-L/14 checkpoint. A custom architecture comes as a JSON model config, registered with
``open_clip.add_model_config`` first (the file's stem is the model name). ``version`` is the
model name plus the short sha256 of the checkpoint file, so a verdict records exactly which
weights embedded the image.

This module must never download weights unless ``allow_hub_download`` is True (see
``swerve.index.checkpoint``), and never return vectors that are not unit rows. It imports
torch: import it as ``swerve.index.open_clip_embedder``, it is not pulled in by
``swerve.index``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import torch
from PIL import Image
from swerve.errors import ConfigurationError, ModelNotFoundError
from swerve.index.checkpoint import LocalCheckpoint, resolve_checkpoint

__all__ = ["OpenClipEmbedder", "register_model_config"]

DEFAULT_BATCH_SIZE = 64


def register_model_config(model_name: str, model_config: Path) -> None:
    """Register a JSON model config with open_clip and check that it defines ``model_name``.

    Raises:
        ModelNotFoundError: the config file does not exist.
        ConfigurationError: it is not a .json file, or its stem is not ``model_name``.
    """
    path = Path(model_config).expanduser().resolve()
    if not path.is_file():
        raise ModelNotFoundError(f"open_clip model config not found at {path}")
    if path.suffix != ".json" or path.stem != model_name:
        raise ConfigurationError(
            f"model config {path} must be a JSON file named {model_name}.json: open_clip names "
            "a registered config after its file stem"
        )
    open_clip.add_model_config(path)


class OpenClipEmbedder:
    """Image (and text) embeddings from an open_clip model loaded from a local checkpoint.

    Args:
        model_name (`str`): open_clip architecture name, e.g. ``"ViT-L-14"`` or
            ``"swerve-toy-clip"``.
        checkpoint (`str | Path | None`): local weights file (state dict, as ``torch.save``
            or safetensors writes it). A pretrained tag is a hub download, refused unless
            ``allow_hub_download``.
        model_config (`Path`, *optional*): JSON config to register before building, for
            architectures open_clip does not ship.
        device (`str`, *optional*): ``"cuda"`` when available, else ``"cpu"``.
        batch_size (`int`, defaults to 64): images per forward pass.
        allow_hub_download (`bool`, defaults to False): permit fetching a pretrained tag.

    Raises:
        ModelNotFoundError: the checkpoint or model config is missing.
        ConfigurationError: unknown model name, hub tag without opt-in, bad batch size, or a
            checkpoint that does not fit the architecture.
    """

    def __init__(
        self,
        model_name: str,
        checkpoint: str | Path | None,
        *,
        model_config: Path | None = None,
        device: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        allow_hub_download: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be >= 1, got {batch_size}")
        # 1. architecture: register a custom config, then insist open_clip knows the name
        if model_config is not None:
            register_model_config(model_name, model_config)
        if open_clip.get_model_config(model_name) is None:
            raise ConfigurationError(
                f"open_clip has no model config named {model_name!r}; pass model_config=<{model_name}.json>"
            )
        # 2. weights: a local file (or an opted-in download), hashed for the version
        self._checkpoint: LocalCheckpoint = resolve_checkpoint(
            model_name, checkpoint, allow_hub_download=allow_hub_download
        )
        # 3. device and precision: fp16 on CUDA, fp32 on CPU
        self._device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
        precision = "fp16" if self._device.type == "cuda" else "fp32"
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                model_name, pretrained=str(self._checkpoint.path), precision=precision, device=self._device
            )
        except RuntimeError as exc:  # open_clip reports a state dict that does not fit this way
            raise ConfigurationError(
                f"checkpoint {self._checkpoint.path} does not load into open_clip model {model_name!r}: {exc}"
            ) from exc
        model.eval()
        self._model: Any = model
        # open_clip's fp16 keeps some parameters (class and positional embeddings) in fp32, so the
        # inputs take the dtype that the precision names, not the first parameter's
        self._input_dtype: torch.dtype = open_clip.get_input_dtype(precision) or torch.float32
        self._preprocess: Callable[[Image.Image], torch.Tensor] = preprocess
        self._tokenizer: Callable[[list[str]], torch.Tensor] | None = None
        self._model_name = model_name
        self._batch_size = batch_size
        self._dim = int(open_clip.get_model_config(model_name)["embed_dim"])

    @property
    def name(self) -> str:
        """``"open_clip/<model_name>"``."""
        return f"open_clip/{self._model_name}"

    @property
    def version(self) -> str:
        """``"<model_name>-<first 12 hex of the checkpoint's sha256>"``."""
        return f"{self._model_name}-{self._checkpoint.short_sha}"

    @property
    def dim(self) -> int:
        """Embedding width (the model's ``embed_dim``)."""
        return self._dim

    @property
    def checkpoint(self) -> LocalCheckpoint:
        """The weights file this embedder was loaded from, with its full sha256."""
        return self._checkpoint

    @property
    def device(self) -> torch.device:
        """Where the model runs."""
        return self._device

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """L2-normalized image embeddings: float32, shape (len(images), dim)."""
        if len(images) == 0:
            raise ValueError("embed_images needs at least one image")
        chunks: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, len(images), self._batch_size):
                batch = images[start:start + self._batch_size]
                pixels = torch.stack([self._preprocess(image.convert("RGB")) for image in batch])  # (b, 3, H, W)
                pixels = pixels.to(self._device, dtype=self._input_dtype)
                features = self._model.encode_image(pixels)  # (b, dim)
                chunks.append(features.float().cpu().numpy())
        return _unit_rows(np.concatenate(chunks))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalized text embeddings: float32, shape (len(texts), dim)."""
        if len(texts) == 0:
            raise ValueError("embed_texts needs at least one text")
        if self._tokenizer is None:  # built on first use: image-only users never need it
            self._tokenizer = open_clip.get_tokenizer(self._model_name)
        chunks: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, len(texts), self._batch_size):
                tokens = self._tokenizer(list(texts[start:start + self._batch_size])).to(self._device)  # (b, ctx)
                chunks.append(self._model.encode_text(tokens).float().cpu().numpy())  # (b, dim)
        return _unit_rows(np.concatenate(chunks))

    def __repr__(self) -> str:
        return f"OpenClipEmbedder({self.version!r}, dim={self.dim}, device={self._device.type})"


def _unit_rows(features: np.ndarray) -> np.ndarray:
    # Normalize in float32 after the cast: an fp16 norm is off by up to ~1e-3.
    features = features.astype(np.float32, copy=False)  # (n, dim)
    norms = np.linalg.norm(features, axis=1, keepdims=True)  # (n, 1)
    if not np.all(norms > 0):
        raise ValueError("the model produced a zero embedding; it cannot be normalized")
    return np.ascontiguousarray(features / norms, dtype=np.float32)
