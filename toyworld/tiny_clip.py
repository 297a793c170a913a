"""The toy world's tiny CLIP: an open_clip model trained on the toy pairs, loaded from a local file.

It stands in for OpenCLIP ViT-L/14 in three roles: the image embedder of the
training-image index, the zero-shot colour and shape classifier, and the CLIP
score of fidelity. The model config `swerve-toy-clip` is registered with
`open_clip.add_model_config`, and the weights load through
`open_clip.create_model_and_transforms(name, pretrained=<local path>)`: the same
code path as any local open_clip checkpoint. This module must never fetch from a hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import open_clip
import torch
from PIL import Image

from swerve.toyworld.vocabulary import SHAPE_COLOURS, SHAPES
from swerve.toyworld.weights_paths import TINY_CLIP_CHECKPOINT

MODEL_NAME = "swerve-toy-clip"
CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"
CHECKPOINT_FILENAME = "tiny_clip.pt"
ZERO_SHOT_TEMPLATE = "a {colour} {shape}"


class TinyClipMissing(FileNotFoundError):
    """The tiny CLIP checkpoint is not at the expected path (train it with `python -m swerve.toyworld.train`)."""


def register_config() -> None:
    """Make `swerve-toy-clip` known to open_clip (idempotent)."""
    if MODEL_NAME not in open_clip.list_models():
        open_clip.add_model_config(CONFIG_DIR)


@dataclass(frozen=True)
class ZeroShotReading:
    """What the classifier reads in one image: the most likely colour and shape, with their probabilities."""

    colour: str
    shape: str
    colour_probability: float
    shape_probability: float


@dataclass
class TinyClip:
    """A loaded tiny CLIP: model, preprocessing transform and tokenizer."""

    model: Any
    preprocess: Callable[[Image.Image], torch.Tensor]
    tokenizer: Callable[[list[str]], torch.Tensor]
    device: torch.device

    @torch.no_grad()
    def embed_images(self, images: list[Image.Image], batch_size: int = 256) -> np.ndarray:
        """L2-normalized image embeddings: (n, embed_dim) float32."""
        if not images:
            raise ValueError("embed_images needs at least one image")
        chunks = []
        for i in range(0, len(images), batch_size):
            pixels = torch.stack([self.preprocess(image.convert("RGB")) for image in images[i:i + batch_size]])
            features = self.model.encode_image(pixels.to(self.device), normalize=True)  # (batch, embed_dim)
            chunks.append(features.float().cpu().numpy())
        return np.concatenate(chunks).astype(np.float32)

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """L2-normalized text embeddings: (n, embed_dim) float32."""
        if not texts:
            raise ValueError("embed_texts needs at least one text")
        features = self.model.encode_text(self.tokenizer(texts).to(self.device), normalize=True)
        embeddings: np.ndarray = features.float().cpu().numpy().astype(np.float32)
        return embeddings

    def clip_scores(self, images: list[Image.Image], texts: list[str]) -> np.ndarray:
        """Cosine similarity of each image to its own text: (n,)."""
        if len(images) != len(texts):
            raise ValueError(f"clip_scores needs one text per image, got {len(images)} images and {len(texts)} texts")
        scores: np.ndarray = np.sum(self.embed_images(images) * self.embed_texts(texts), axis=1)
        return scores

    def classify(self, images: list[Image.Image]) -> list[ZeroShotReading]:
        """Zero-shot colour and shape of each image, from the prompts 'a {colour} {shape}'.

        The joint probabilities over every (colour, shape) prompt are marginalized to
        read colour and shape separately.
        """
        colours, shapes = list(SHAPE_COLOURS), list(SHAPES)
        prompts = [ZERO_SHOT_TEMPLATE.format(colour=c, shape=s) for c in colours for s in shapes]
        text = self.embed_texts(prompts)  # (colours * shapes, d)
        image = self.embed_images(images)  # (n, d)
        scale = float(self.model.logit_scale.exp().item())
        logits = scale * image @ text.T  # (n, colours * shapes)
        logits -= logits.max(axis=1, keepdims=True)
        joint = np.exp(logits).reshape(len(images), len(colours), len(shapes))
        joint /= joint.sum(axis=(1, 2), keepdims=True)
        colour_p, shape_p = joint.sum(axis=2), joint.sum(axis=1)  # (n, colours), (n, shapes)
        return [ZeroShotReading(colours[int(cp.argmax())], shapes[int(sp.argmax())], float(cp.max()), float(sp.max()))
                for cp, sp in zip(colour_p, shape_p)]


def create_untrained() -> tuple[Any, Callable[[Image.Image], torch.Tensor]]:
    """A fresh, randomly initialized tiny CLIP and its eval transform (for training)."""
    register_config()
    model, _, preprocess = open_clip.create_model_and_transforms(MODEL_NAME, pretrained=None)
    return model, preprocess


def load_tiny_clip(checkpoint: Path | str | None = None, device: str | torch.device | None = None) -> TinyClip:
    """Load the trained tiny CLIP from a local checkpoint file (default: the committed weights)."""
    checkpoint = Path(checkpoint) if checkpoint is not None else TINY_CLIP_CHECKPOINT
    if not checkpoint.is_file():
        raise TinyClipMissing(f"tiny CLIP checkpoint not found at {checkpoint}")
    register_config()
    resolved = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, _, preprocess = open_clip.create_model_and_transforms(MODEL_NAME, pretrained=str(checkpoint), device=resolved)
    model.eval()
    return TinyClip(model=model, preprocess=preprocess, tokenizer=open_clip.get_tokenizer(MODEL_NAME), device=resolved)
