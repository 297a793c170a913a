"""Tests for the swerve.media package surface and its import boundary."""

from __future__ import annotations

import subprocess
import sys

import swerve.media


def test_given_the_package_when_imported_then_it_exports_the_public_api() -> None:
    assert sorted(swerve.media.__all__) == sorted(
        [
            "MediaLimits",
            "ImageRef",
            "ImageStore",
            "read_image_bytes",
            "decode_image",
            "decode_bytes",
            "sha256_hex",
        ]
    )
    for name in swerve.media.__all__:
        assert getattr(swerve.media, name) is not None


def test_given_a_fresh_interpreter_when_media_is_imported_then_no_streaming_or_ml_stack() -> None:
    code = (
        "import sys, swerve.media; "
        "print(sorted(m for m in ('faust', 'aiokafka', 'torch', 'diffusers') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
