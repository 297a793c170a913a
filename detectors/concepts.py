"""Unwanted concepts, read by CLIP zero-shot over named concept sets.

Each concept set names a concept (``nudity``, ``van gogh``, ``red``...) by a few prompts, and
the ``contrast`` prompts it competes with (what the image could be instead). For an image
embedding x, with e_c the mean of the concept's prompt embeddings and e_1..e_m the contrast
embeddings (all unit vectors),

    p(concept | x) = softmax(tau * [x.e_c, x.e_1, ..., x.e_m])_0

and the concept fires when p reaches its threshold. tau is CLIP's logit scale (100 for
released CLIP models). The evidence lists every probability and the concepts that fired, which
the GIE corrector reads to know what to erase. This module never decides an action.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from swerve.detectors.embedders import shared_embedder
from swerve.detectors.protocol import Sample, Score
from swerve.errors import DetectorError, PolicyError
from swerve.index import TextEmbedder


class ConceptSet(BaseModel):
    """One concept as the policy defines it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    prompts: list[str] = Field(min_length=1)
    contrast: list[str] = Field(min_length=1, description="What the image could be instead.")
    threshold: float = Field(default=0.5, gt=0, lt=1)


class ConceptDetector:
    """CLIP zero-shot over the policy's concept sets.

    Args:
        name: the detector's name in the policy.
        concepts: the concept sets (name, prompts, contrast, threshold).
        embedder: open_clip embedder params (``detectors/embedders.py``), with text support.
        temperature: tau, the logit scale.
    """

    names_concepts = True  # its findings carry "concepts": a GIE corrector may take its targets from them

    def __init__(
        self,
        name: str = "concepts",
        concepts: Sequence[Mapping[str, Any]] = (),
        embedder: Mapping[str, Any] | None = None,
        temperature: float = 100.0,
        text_embedder: TextEmbedder | None = None,
    ):
        try:
            self.concepts = [ConceptSet.model_validate(dict(c)) for c in concepts]
        except ValidationError as exc:
            raise PolicyError(f"{name}: bad concept set: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from exc
        if not self.concepts:
            raise PolicyError(f"{name}: needs at least one concept set")
        if text_embedder is None:
            if embedder is None:
                raise PolicyError(f"{name}: needs embedder params")
            text_embedder = shared_embedder(embedder, name)
        self.name = name
        self.embedder = text_embedder
        self.temperature = temperature
        self.version = f"concepts-1+{text_embedder.version}+" + ",".join(f"{c.name}>={c.threshold}" for c in self.concepts)
        # 1. per concept: its prompts' mean direction, then the contrast directions
        self._directions: list[np.ndarray] = []
        for concept in self.concepts:
            concept_mean = text_embedder.embed_texts(concept.prompts).mean(axis=0)  # (dim,)
            concept_mean /= np.linalg.norm(concept_mean)
            contrast = text_embedder.embed_texts(concept.contrast)  # (m, dim)
            self._directions.append(np.vstack([concept_mean[None], contrast]))  # (1 + m, dim)

    def probabilities(self, images: Sequence[Any]) -> np.ndarray:
        """p(concept | image) for every image and concept: (n_images, n_concepts)."""
        x = self.embedder.embed_images(images)  # (n, dim)
        columns = []
        for directions in self._directions:
            logits = self.temperature * (x @ directions.T)  # (n, 1 + m)
            logits -= logits.max(axis=1, keepdims=True)
            weights = np.exp(logits)
            columns.append(weights[:, 0] / weights.sum(axis=1))
        return np.stack(columns, axis=1)

    def score(self, batch: Sequence[Sample]) -> list[Score]:
        if any(sample.image is None for sample in batch):
            raise DetectorError(f"{self.name} judges images; it cannot run on prompt-only samples", stage="detect")
        table = self.probabilities([sample.image for sample in batch])  # (n, concepts)
        scores = []
        for row in table:
            fired = [c.name for c, p in zip(self.concepts, row) if p >= c.threshold]
            strongest = int(np.argmax(row))
            scores.append(
                Score(
                    value=float(row[strongest]),
                    flagged=bool(fired),
                    threshold=self.concepts[strongest].threshold,
                    evidence={"concepts": fired, "probabilities": {c.name: float(p) for c, p in zip(self.concepts, row)}},
                )
            )
        return scores
