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

Pixels are compared at ``compare_size`` when the policy sets it. Otherwise the size follows the
resolution of both images: the smaller of the training images' typical (median) short side,
which ``swerve index build`` records in the manifest, and the generation's short side, capped at
512 px (``tiled_l2.default_compare_size``; docs/index.md, "Pixel check: compare size"). SD at
512, 768 or 1024 px against a 512 px training set is thus compared at 512; the toy world at its
64 px. An index built before the sizes were recorded falls back to 64 px, with one warning.
Non-square images are compared on their centred square (``tiled_l2``'s docstring says why).

An embedding match alone is never proof of a copy. When a candidate's pixels cannot be read,
it is judged on similarity alone against the stricter ``unconfirmed_similarity``, and the
evidence says so. The score is ``1 - min tiled L2`` over the neighbours whose pixels were read
(higher is closer), so it ranks every generation for calibration. This module never decides an
action.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path
from threading import Lock
from typing import Any, Mapping, Sequence

import numpy as np
from PIL import Image

from swerve.detectors.clearance import Clearance
from swerve.detectors.embedders import shared_embedder
from swerve.detectors.protocol import Sample, Score
from swerve.detectors.tiled_l2 import (
    COMPARE_SIZE_CAP,
    DEFAULT_SIZE,
    TiledL2InputError,
    as_unit_array,
    check_compare_size,
    default_compare_size,
    square_pixels,
    tiled_l2_one_to_many,
    unit_pixels,
)
from swerve.errors import DetectorError, MediaError, PolicyError
from swerve.index import Neighbour, TrainingIndex, read_training_image
from swerve.index.training_image import TrainingImage
from swerve.media import ImageRef

_log = logging.getLogger(__name__)
_warned_unsized: set[str] = set()  # index versions already warned about (once per process)
_warned_lock = Lock()

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
        compare_size: side of the square both images are compared at (pixels, a multiple of 4 in
            [4, 4096]); None (the default) follows the rule in the module docstring.
        cache_size: training images kept decoded in memory for pixel checks.
        cache_mb: memory those decoded pixels may take (a 512 px square is 0.75 MiB).
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
        compare_size: int | None = None,
        cache_size: int = 4096,
        cache_mb: float = 512.0,
        index: TrainingIndex | None = None,
        clearance: Mapping[str, Any] | None = None,
    ):
        # 1. check the params that need no index, before opening one
        if compare_size is not None:
            try:
                check_compare_size(compare_size)
            except TiledL2InputError as exc:
                raise PolicyError(f"{name}: {exc}; or leave compare_size out to follow the training images' and "
                                  "the generation's resolution", stage="detect") from exc
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 1:
            raise PolicyError(f"{name}: cache_size must be an integer >= 1, got {cache_size!r}", stage="detect")
        if isinstance(cache_mb, bool) or not isinstance(cache_mb, (int, float)) or not cache_mb > 0:
            raise PolicyError(f"{name}: cache_mb must be a number > 0, got {cache_mb!r}", stage="detect")
        # 2. the index, and the training images' sizes it recorded
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
        sizes = index.manifest.image_sizes
        self.training_short_side = None if sizes is None else sizes.typical_short_side
        if compare_size is None and sizes is None:
            _warn_unsized(name, index)
        self.clearance = Clearance.from_params(clearance, tiled_l2_threshold, name)
        self.index_version = index.index_version
        self.version = (f"mem-1+{index.embedder.version}+l2<{tiled_l2_threshold}+sim>={candidate_similarity}"
                        f"+clear:{self.clearance.describe()}+px:{self.describe_compare_size()}")
        self._cache: OrderedDict[tuple[int, int], tuple[np.ndarray, dict[str, Any]] | None] = OrderedDict()
        self._cache_size = cache_size
        self._cache_bytes = 0
        self._cache_max_bytes = int(cache_mb * 2**20)
        self._lock = Lock()

    def describe_compare_size(self) -> str:
        """The compare size for the version: the policy's, the rule's bound, or the fallback."""
        if self.compare_size is not None:
            return str(self.compare_size)
        if self.training_short_side is None:
            return str(DEFAULT_SIZE)  # the fallback behaves exactly as a policy setting compare_size: 64
        return f"auto<={default_compare_size(self.training_short_side, COMPARE_SIZE_CAP)}"

    def compare_size_for(self, image: Image.Image) -> int:
        """The side ``image`` and its neighbours are compared at (see the module docstring)."""
        if self.compare_size is not None:
            return self.compare_size
        if self.training_short_side is None:
            return DEFAULT_SIZE
        return default_compare_size(self.training_short_side, min(image.size))

    def training_pixels(self, neighbour: Neighbour, size: int) -> tuple[np.ndarray, dict[str, Any]] | None:
        """The training image's centred square as (size, size, 3) uint8 with its ImageRef JSON, or None when unreadable."""
        key = (neighbour.id, size)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        record = TrainingImage(uri=neighbour.uri, caption=neighbour.caption, sha256=neighbour.sha256, extra=neighbour.extra)
        entry: tuple[np.ndarray, dict[str, Any]] | None
        try:
            image, read = read_training_image(record)
            # By reference, so the corrector can read the matched image (claim check) without
            # the verdict carrying its bytes.
            assert read.sha256 is not None, "read_training_image hashes what it read"
            ref = ImageRef(media_type=media_type_of(neighbour.uri), sha256=read.sha256,
                           width=image.width, height=image.height, uri=neighbour.uri)
            # uint8 in the cache: a quarter of float32's memory at the same size
            entry = (square_pixels(image, size), ref.model_dump(mode="json"))
        except MediaError:
            entry = None
        with self._lock:
            if key not in self._cache:  # another thread may have read it meanwhile
                self._cache[key] = entry
                self._cache_bytes += _nbytes(entry)
            while self._cache and (len(self._cache) > self._cache_size or self._cache_bytes > self._cache_max_bytes):
                self._cache_bytes -= _nbytes(self._cache.popitem(last=False)[1])
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
        size = self.compare_size_for(sample.image)
        query = as_unit_array(sample.image, size)  # (size, size, 3)
        own = {n.id for n in found}
        prior = [n for n in self._prior_matches(sample) if n.id not in own]
        clearance = self.clearance
        checks: list[dict[str, Any]] = []
        cleared = True
        for neighbour, is_prior in [*((n, False) for n in found), *((n, True) for n in prior)]:
            entry = self.training_pixels(neighbour, size)
            distance = float(tiled_l2_one_to_many(query, unit_pixels(entry[0][None]))[0]) if entry is not None else None
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
                "compare_size": size,
                "clearance": clearance.to_json(),
                "min_tiled_l2": min_l2,
                "nearest_similarity": found[0].similarity if found else None,
                "checked": checks,
            },
        )

    def _judge(self, sample: Sample, found: list[Neighbour]) -> Score:
        assert sample.image is not None
        size = self.compare_size_for(sample.image)
        query = as_unit_array(sample.image, size)  # (size, size, 3)
        # Pixels are compared for all k neighbours (cheap), so the score ranks every generation;
        # only candidates above the similarity bar can flag.
        readable = [(n, entry) for n in found if (entry := self.training_pixels(n, size)) is not None]
        references = unit_pixels(np.stack([e[0] for _, e in readable])) if readable else None  # (m, size, size, 3)
        distances = tiled_l2_one_to_many(query, references) if references is not None else np.empty(0)  # (m,)
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
                "compare_size": size,
                "min_tiled_l2": min_l2,
                "nearest_similarity": found[0].similarity if found else None,
                "matches": matches,
                # What correctors push away from (correctors/findings.py reads this key).
                "matched_images": [refs[m["id"]] for m in near_copies],
            },
        )


def _nbytes(entry: tuple[np.ndarray, dict[str, Any]] | None) -> int:
    return 0 if entry is None else entry[0].nbytes


def _warn_unsized(name: str, index: TrainingIndex) -> None:
    """Warn once per index version that its training images' sizes are unknown."""
    with _warned_lock:
        if index.index_version in _warned_unsized:
            return
        _warned_unsized.add(index.index_version)
    _log.warning("%s: the index %s (%s) records no training image sizes (built before swerve recorded them); "
                 "pixels are compared at the old default of %d px. Rebuild it with `swerve index build`, or set "
                 "compare_size in the policy", name, index.directory, index.index_version, DEFAULT_SIZE)
