"""The concept detector: CLIP zero-shot probability of each concept against its contrast."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pytest
from PIL import Image

from swerve.detectors.concepts import ConceptDetector
from swerve.detectors.protocol import Sample
from swerve.errors import PolicyError


class ColourEmbedder:
    """A stand-in text/image embedder whose space is literally RGB: exact, readable probabilities."""

    name, version, dim = "rgb", "1", 3
    words = {"red": (1.0, 0, 0), "green": (0, 1.0, 0), "blue": (0, 0, 1.0)}

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.array([self.words[next(w for w in self.words if w in t)] for t in texts], dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        vectors = np.array([np.asarray(i, dtype=np.float32).mean(axis=(0, 1)) + 1e-3 for i in images])
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


CONCEPTS = [
    {"name": "red", "prompts": ["a red thing", "something red"], "contrast": ["a green thing", "a blue thing"], "threshold": 0.6},
    {"name": "blue", "prompts": ["a blue thing"], "contrast": ["a red thing", "a green thing"], "threshold": 0.6},
]


def test_given_a_red_image_then_red_fires_with_its_probability_and_blue_does_not() -> None:
    detector = ConceptDetector(concepts=CONCEPTS, text_embedder=ColourEmbedder(), temperature=10)
    red, green = detector.score([Sample("r", Image.new("RGB", (4, 4), (250, 5, 5)), "0" * 64),
                                 Sample("g", Image.new("RGB", (4, 4), (5, 250, 5)), "0" * 64)])
    assert red.flagged and red.evidence["concepts"] == ["red"]
    assert red.evidence["probabilities"]["red"] > 0.99 > red.evidence["probabilities"]["blue"]
    assert not green.flagged and green.evidence["concepts"] == []


def test_given_the_real_open_clip_embedder_then_probabilities_are_valid(tiny_open_clip: dict[str, str]) -> None:
    detector = ConceptDetector(concepts=[{"name": "star", "prompts": ["a star"], "contrast": ["a circle", "a square"]}],
                               embedder=tiny_open_clip)
    table = detector.probabilities([Image.new("RGB", (32, 32), (10, 20, 30))])
    assert table.shape == (1, 1) and 0.0 < float(table[0, 0]) < 1.0
    assert detector.version.startswith("concepts-1+")


@pytest.mark.parametrize("concepts", [[], [{"name": "x", "prompts": [], "contrast": ["y"]}]])
def test_given_bad_concept_sets_then_a_policy_error_says_so(concepts: list) -> None:
    with pytest.raises(PolicyError):
        ConceptDetector(concepts=concepts, text_embedder=ColourEmbedder())
