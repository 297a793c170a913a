"""The corrector contract: given a flagged generation, propose a replacement image.

A corrector is any object with ``name``, ``version`` and ``propose(request, attempt)``.
``attempt`` counts from 1; a corrector escalates its strength with it. Correctors never
judge their own output: the adaptive loop re-runs the policy's detectors on every
candidate. They never import faust or aiokafka.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from PIL import Image


@dataclass(frozen=True)
class Finding:
    """Why the original was flagged: which detector fired, with its evidence."""

    detector: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CorrectionRequest:
    """Everything a corrector may use to regenerate one flagged output."""

    request_id: str
    prompt: str
    image: Image.Image
    findings: Sequence[Finding]
    seed: int | None = None
    negative_prompt: str | None = None
    model_id: str | None = None


@dataclass(frozen=True)
class Candidate:
    """A proposed replacement, with the method and parameters that made it."""

    image: Image.Image
    method: str
    parameters: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Corrector(Protocol):
    """Proposes a replacement for a flagged output; stronger with each attempt."""

    name: str
    version: str

    def propose(self, request: CorrectionRequest, attempt: int) -> Candidate:
        """Return a candidate replacement for ``request`` at ``attempt`` (1-based)."""
        ...
