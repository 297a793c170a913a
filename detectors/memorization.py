"""Memorization: is this generation a near-copy of a training image?

1. embed the generation and find its ``k`` nearest training images in the FAISS index;
2. keep the candidates whose embedding similarity reaches ``candidate_similarity``;
3. confirm each candidate in pixel space with Carlini et al.'s tiled L2 (the largest per-tile
   RMS difference on a 4x4 grid): a near-copy is ``tiled_l2 < tiled_l2_threshold`` (0.1, as
   in the nudging paper; Carlini used 0.15 on SD 1.4).

A correction candidate (``Sample.replaces`` set) is held to the stricter ``clearance``
(``detectors/clearance.py``): it is flagged unless it reaches the clearance's tiled L2 against
every training image its original matched (looked up by id in this detector's own index, never
read from the evidence's URIs) and every candidate neighbour of its own.

An embedding match alone is never proof of a copy. When a candidate's pixels cannot be read,
it is judged on similarity alone against the stricter ``unconfirmed_similarity``, and the
evidence says so. The score is ``1 - min tiled L2`` over the neighbours whose pixels were read
(higher is closer), so it ranks every generation for calibration. This module never decides an
action.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from threading import Lock
from typing import Any, Mapping, Sequence

import numpy as np

from swerve.detectors.clearance import Clearance
from swerve.detectors.embedders import shared_embedder
from swerve.detectors.protocol import Sample, Score
from swerve.detectors.tiled_l2 import as_unit_array, tiled_l2_one_to_many
from swerve.errors import DetectorError, MediaError
from swerve.index import Neighbour, TrainingIndex, read_training_image
from swerve.index.training_image import TrainingImage
from swerve.media import ImageRef

_MEDIA_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


def media_type_of(uri: str) -> str:
    """The media type a training image's file extension names (PNG when it names none)."""
    suffix = uri[uri.rfind(".") :].lower() if "." in uri.rsplit("/", 1)[-1] else ""
    return _MEDIA_TYPES.get(suffix, "image/png")


class MemorizationDetector:
    """Index kNN, then pixel confirmation.

    Args:
        name: the detector's name in the policy.
        index_dir: the training-image index bundle (``swerve index build``).
        embedder: open_clip embedder params (``detectors/embedders.py``); it must be the one
            that built the index.
        k: neighbours retrieved per generation.
        candidate_similarity: cosine similarity a neighbour needs to be checked on pixels.
        tiled_l2_threshold: below this tiled L2 a candidate is a near-copy.
        unconfirmed_similarity: similarity that flags a candidate whose pixels are unreadable.
        compare_size: side both images are resized to before tiled L2.
        cache_size: training images kept decoded in memory for pixel checks.
        clearance: what a correction candidate must reach, ``{tiled_l2, max_cosine}``
            (``Clearance``); its tiled L2 must exceed ``tiled_l2_threshold``.
    """

    def __init__(
        self,
        name: str = "memorization",
        index_dir: str | None = None,
        embedder: Mapping[str, Any] | None = None,
        k: int = 5,
        candidate_similarity: float = 0.8,
        tiled_l2_threshold: float = 0.1,
        unconfirmed_similarity: float = 0.97,
        compare_size: int = 64,
        cache_size: int = 4096,
        index: TrainingIndex | None = None,
        clearance: Mapping[str, Any] | None = None,
    ):
        if index is None:
            if index_dir is None or embedder is None:
                raise DetectorError(f"{name}: needs index_dir and embedder", stage="detect")
            index = TrainingIndex.open(Path(index_dir), embedder=shared_embedder(embedder, name), read_only=True)
        if index.embedder is None:
            raise DetectorError(f"{name}: the index must be opened with its embedder", stage="detect")
        self.name = name
        self.index = index
        self.k = k
        self.candidate_similarity = candidate_similarity
        self.tiled_l2_threshold = tiled_l2_threshold
        self.unconfirmed_similarity = unconfirmed_similarity
        self.compare_size = compare_size
        self.clearance = Clearance.from_params(clearance, tiled_l2_threshold, name)
        self.index_version = index.index_version
        self.version = (f"mem-1+{index.embedder.version}+l2<{tiled_l2_threshold}+sim>={candidate_similarity}"
                        f"+clear:{self.clearance.describe()}")
        self._cache: OrderedDict[int, tuple[np.ndarray, dict[str, Any]] | None] = OrderedDict()
        self._cache_size = cache_size
        self._lock = Lock()

    def training_pixels(self, neighbour: Neighbour) -> tuple[np.ndarray, dict[str, Any]] | None:
        """The training image as (size, size, 3) in [0, 1] with its ImageRef JSON, or None when unreadable."""
        with self._lock:
            if neighbour.id in self._cache:
                self._cache.move_to_end(neighbour.id)
                return self._cache[neighbour.id]
        record = TrainingImage(uri=neighbour.uri, caption=neighbour.caption, sha256=neighbour.sha256, extra=neighbour.extra)
        entry: tuple[np.ndarray, dict[str, Any]] | None
        try:
            image, read = read_training_image(record)
            # By reference, so the corrector can read the matched image (claim check) without
            # the verdict carrying its bytes.
            assert read.sha256 is not None, "read_training_image hashes what it read"
            ref = ImageRef(media_type=media_type_of(neighbour.uri), sha256=read.sha256,
                           width=image.width, height=image.height, uri=neighbour.uri)
            entry = (as_unit_array(image, self.compare_size), ref.model_dump(mode="json"))
        except MediaError:
            entry = None
        with self._lock:
            self._cache[neighbour.id] = entry
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return entry

    def score(self, batch: Sequence[Sample]) -> list[Score]:
        images = [sample.image for sample in batch]
        if any(image is None for image in images):
            raise DetectorError(f"{self.name} judges images; it cannot run on prompt-only samples", stage="detect")
        neighbours = self.index.query(images, self.k)  # type: ignore[arg-type]
        return [self._judge(sample, found) if sample.replaces is None else self._judge_replacement(sample, found)
                for sample, found in zip(batch, neighbours)]

    def _prior_matches(self, sample: Sample) -> list[Neighbour]:
        """The training images the original copied, from this index by id (similarity unknown: nan)."""
        evidence = (sample.replaces or {}).get(self.name) or {}
        matches = evidence.get("matches", [])
        ids = {m["id"] for m in matches if isinstance(m, Mapping) and m.get("near_copy") and isinstance(m.get("id"), int)}
        records = self.index.metadata.lookup(ids) if ids else {}
        return [Neighbour(id=i, similarity=float("nan"), uri=r.uri, caption=r.caption, sha256=r.sha256, extra=r.extra)
                for i, r in sorted(records.items())]

    def _judge_replacement(self, sample: Sample, found: list[Neighbour]) -> Score:
        """Flag a correction candidate unless it clears every matched image and close neighbour."""
        assert sample.image is not None
        query = as_unit_array(sample.image, self.compare_size)
        own = {n.id for n in found}
        prior = [n for n in self._prior_matches(sample) if n.id not in own]
        clearance = self.clearance
        checks: list[dict[str, Any]] = []
        cleared = True
        for neighbour, is_prior in [*((n, False) for n in found), *((n, True) for n in prior)]:
            entry = self.training_pixels(neighbour)
            distance = float(tiled_l2_one_to_many(query, entry[0][None])[0]) if entry is not None else None
            close = is_prior or neighbour.similarity >= self.candidate_similarity
            if distance is None:
                too_near = close and (is_prior or neighbour.similarity >= self.unconfirmed_similarity)
            else:
                too_near = close and distance < clearance.tiled_l2
            too_alike = not is_prior and clearance.max_cosine is not None and neighbour.similarity > clearance.max_cosine
            cleared &= not (too_near or too_alike)
            checks.append({"id": neighbour.id, "caption": neighbour.caption, "prior_match": is_prior,
                           "similarity": None if is_prior else neighbour.similarity, "tiled_l2": distance,
                           "too_near": too_near, "too_alike": too_alike})
        distances = [c["tiled_l2"] for c in checks if c["tiled_l2"] is not None]
        min_l2 = min(distances) if distances else None
        return Score(
            value=1.0 - min_l2 if min_l2 is not None else max((n.similarity for n in found), default=0.0),
            flagged=not cleared,
            threshold=1.0 - clearance.tiled_l2,
            evidence={
                "index_version": self.index_version,
                "judged_as": "replacement",
                "clearance": clearance.to_json(),
                "min_tiled_l2": min_l2,
                "nearest_similarity": found[0].similarity if found else None,
                "checked": checks,
            },
        )

    def _judge(self, sample: Sample, found: list[Neighbour]) -> Score:
        assert sample.image is not None
        query = as_unit_array(sample.image, self.compare_size)  # (size, size, 3)
        # Pixels are compared for all k neighbours (cheap), so the score ranks every generation;
        # only candidates above the similarity bar can flag.
        readable = [(n, entry) for n in found if (entry := self.training_pixels(n)) is not None]
        distances = tiled_l2_one_to_many(query, np.stack([e[0] for _, e in readable])) if readable else np.empty(0)  # (m,)
        refs = {n.id: e[1] for n, e in readable}
        by_id = {n.id: float(d) for (n, _), d in zip(readable, distances)}
        matches: list[dict[str, Any]] = []
        flagged = False
        for neighbour in found:
            is_candidate = neighbour.similarity >= self.candidate_similarity
            distance = by_id.get(neighbour.id)
            if distance is not None:
                near_copy = is_candidate and distance < self.tiled_l2_threshold
            else:
                near_copy = neighbour.similarity >= self.unconfirmed_similarity
            flagged |= near_copy
            matches.append({**neighbour.to_json(), "tiled_l2": distance, "confirmed": distance is not None,
                            "candidate": is_candidate, "near_copy": near_copy})
        min_l2 = min(by_id.values()) if by_id else None
        near_copies = [m for m in matches if m["near_copy"] and m["id"] in refs]
        # 1 - min tiled L2 when any pixels were read; else the best similarity, marked unconfirmed.
        value = 1.0 - min_l2 if min_l2 is not None else max((n.similarity for n in found), default=0.0)
        return Score(
            value=value,
            flagged=flagged,
            threshold=1.0 - self.tiled_l2_threshold,
            evidence={
                "index_version": self.index_version,
                "pixels_confirmed": min_l2 is not None,
                "min_tiled_l2": min_l2,
                "nearest_similarity": found[0].similarity if found else None,
                "matches": matches,
                # What correctors push away from (correctors/findings.py reads this key).
                "matched_images": [refs[m["id"]] for m in near_copies],
            },
        )
