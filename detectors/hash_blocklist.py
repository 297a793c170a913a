"""Flags images whose exact bytes are on a list of known-bad sha256 digests.

The cheapest detector there is, and the one platforms already keep (takedown lists, images
they have been told never to serve). It matches exact bytes only: any re-encode escapes it,
which is why memorization is judged by the embedding index, not by this list.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Sequence

from swerve.detectors.protocol import Sample, Score
from swerve.errors import ConfigurationError, DetectorError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class HashBlocklistDetector:
    """Score 1.0 for an image on the blocklist, 0.0 otherwise.

    Args:
        name: the detector's name in the policy.
        path: a text file with one lowercase sha256 per line; ``#`` starts a comment.
        digests: digests given inline in the policy, added to those in ``path``.
    """

    def __init__(self, name: str = "hash_blocklist", path: str | None = None, digests: Sequence[str] = ()):
        lines = list(digests)
        if path is not None:
            try:
                lines += Path(path).read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigurationError(f"cannot read hash blocklist {path}: {exc}") from exc
        entries = [line.split("#", 1)[0].strip().lower() for line in lines]
        entries = [entry for entry in entries if entry]
        invalid = [entry for entry in entries if not _SHA256.match(entry)]
        if invalid:
            raise ConfigurationError(f"hash blocklist {path or name} has invalid digests: {invalid[:3]}")
        self.name = name
        self.blocked = frozenset(entries)
        list_digest = hashlib.sha256("\n".join(sorted(self.blocked)).encode()).hexdigest()[:12]
        self.version = f"1+list.{list_digest}"

    def score(self, batch: Sequence[Sample]) -> list[Score]:
        if any(sample.image_sha256 is None for sample in batch):
            raise DetectorError(f"{self.name} judges image bytes; it cannot run on prompt-only samples")
        return [
            Score(
                value=1.0 if sample.image_sha256 in self.blocked else 0.0,
                flagged=sample.image_sha256 in self.blocked,
                threshold=1.0,
                evidence={"sha256": sample.image_sha256, "listed": sample.image_sha256 in self.blocked},
            )
            for sample in batch
        ]
