"""Audit events as the detect stage makes them, keys, and signed wire bodies, for the audit tests."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image

from swerve.audit.signing import AuditSigner, generate_key_pair
from swerve.media import ImageRef
from swerve.streams.detect_stage import DecodedGeneration, detect
from swerve.streams.events import AuditEvent, GenerationEvent
from swerve.streams.judging import Judge
from swerve.streams.policy import parse_policy

from ..streams.builders import tiny_png


def blocklist_policy(digests: list[str]) -> str:
    """A policy whose one detector flags the listed images (real scores, floats included)."""
    return f'version: "audit"\ndetectors:\n  - name: takedowns\n    kind: hash_blocklist\n    on_flag: correct\n    params: {{digests: {json.dumps(digests)}}}\n'


def audit_events(count: int, prefix: str = "", seed: int | None = None) -> list[AuditEvent]:
    """One real AuditEvent per generation, every third one flagged for correction (its record carries the prompt and image); tenants alternate."""
    batch = []
    for index in range(count):
        data = tiny_png((index, 10, 10))
        event = GenerationEvent(id=f"{prefix}g{index}", request_id=f"{prefix}r{index}", tenant="acme" if index % 2 else "default",
                                prompt=f"a prompt {index}", seed=seed, image=ImageRef.from_bytes(data))
        batch.append(DecodedGeneration(event, Image.open(io.BytesIO(data)).convert("RGB")))
    listed = [item.event.image.sha256 for index, item in enumerate(batch) if index % 3 == 2]
    return [outputs[-1].event for outputs in detect(Judge(), parse_policy(blocklist_policy(listed)), batch)]  # type: ignore[misc]


def wire(event: AuditEvent) -> dict[str, Any]:
    return json.loads(event.model_dump_json())


def key_pair(directory: Path, name: str = "audit") -> tuple[AuditSigner, Path]:
    """A fresh signer and the path of its public key."""
    private, public = generate_key_pair(directory, name)
    return AuditSigner.from_file(private), public


def signed_wires(events: list[AuditEvent], signer: AuditSigner) -> list[dict[str, Any]]:
    return [wire(signer.sign_event(event)) for event in events]
