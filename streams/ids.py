"""Deterministic event ids: a retry of the same input produces the same output id.

An output id is ``uuid5(SWERVE_NAMESPACE, f"{input_id}/{stage}/{attempt}")``. Consumers
dedupe by id, which makes at-least-once redelivery harmless (DESIGN.md, "Contracts").
"""

from __future__ import annotations

import uuid

SWERVE_NAMESPACE = uuid.UUID("6c0b8a62-4f7e-5d43-9a55-73776572766e")


def derive_id(input_id: str, stage: str, attempt: int = 0) -> str:
    """The id of the output that ``stage`` makes from ``input_id`` on ``attempt``.

    Args:
        input_id: the id of the event being processed.
        stage: the output kind, e.g. ``"verdict"``, ``"delivery"``, ``"replacement"``.
        attempt: the correction attempt, 0 for first-pass outputs.
    """
    if not input_id or not stage:
        raise ValueError(f"derive_id needs an input id and a stage, got {input_id!r}, {stage!r}")
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    return str(uuid.uuid5(SWERVE_NAMESPACE, f"{input_id}/{stage}/{attempt}"))
