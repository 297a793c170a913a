"""Builders of keys files, images and settings for the gateway's tests: fixed keys, seeded images."""

from __future__ import annotations

import io
import json
from pathlib import Path

from swerve.gateway.api_keys import key_digest
from swerve.toyworld import memorized_captions, memorized_training_image

from ..client.builders import png

__all__ = ["KEYS", "MEMORIZED_CAPTION", "keys_file", "memorized_png", "png"]

#: The test keys (fixed, so a failing run can be replayed by hand): holder -> key text.
KEYS = {
    "acme": "swk_test-acme-producer",
    "beta": "swk_test-beta-producer",
    "reviewer": "swk_test-reviewer",
    "limited": "swk_test-acme-limited",
}

#: The toy world's first memorized caption: its training image is a memorized one.
MEMORIZED_CAPTION = memorized_captions()[0]


def keys_file(path: Path, *, limited_rate: str = "2/minute") -> Path:
    """A keys file (JSON, which the gateway reads as YAML) with a producer key each for the
    tenants acme and beta, a reviewer of both, and a producer of acme on a tight budget."""
    entries = [
        {"name": "acme-generator", "sha256": key_digest(KEYS["acme"]), "roles": ["producer"], "tenants": ["acme"]},
        {"name": "beta-generator", "sha256": key_digest(KEYS["beta"]), "roles": ["producer"], "tenants": ["beta"]},
        {"name": "reviewer", "sha256": key_digest(KEYS["reviewer"]), "roles": ["reviewer"], "tenants": ["acme", "beta"]},
        {"name": "acme-limited", "sha256": key_digest(KEYS["limited"]), "roles": ["producer"], "tenants": ["acme"],
         "rate_limit": limited_rate},
    ]
    path.write_text(json.dumps({"keys": entries}, indent=2), encoding="utf-8")
    return path


def memorized_png() -> bytes:
    """The training image of ``MEMORIZED_CAPTION`` (64 x 64, asymmetric), as PNG."""
    buffer = io.BytesIO()
    memorized_training_image(MEMORIZED_CAPTION).save(buffer, format="PNG")
    return buffer.getvalue()
