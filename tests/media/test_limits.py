"""Tests for swerve.media.limits.MediaLimits."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from swerve.media import MediaLimits


def test_given_no_arguments_when_built_then_the_documented_defaults() -> None:
    limits = MediaLimits()
    assert limits.max_inline_bytes == 512 * 1024
    assert limits.max_bytes == 16 * 1024 * 1024
    assert limits.max_pixels == 4096 * 4096
    assert limits.allowed_media_types == ("image/png", "image/jpeg", "image/webp")
    assert limits.allowed_uri_schemes == ("file", "s3", "gs", "az", "memory")
    assert limits.allowed_uri_bases is None, "unset: confined to the store a reader is given"
    assert limits.fetch_timeout_s == 10.0


def test_given_limits_when_a_field_is_assigned_then_it_is_refused_as_frozen() -> None:
    limits = MediaLimits()
    with pytest.raises(ValidationError):
        limits.max_bytes = 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"max_inline_bytes": 0},
        {"max_bytes": -1},
        {"max_pixels": 0},
        {"fetch_timeout_s": 0},
        {"fetch_timeout_s": float("inf")},
        {"allowed_media_types": ()},
        {"allowed_media_types": ("image/gif",)},
        {"allowed_uri_schemes": ("s3://",)},
        {"allowed_uri_schemes": ("S3",)},
        {"max_inline_bytes": 2048, "max_bytes": 1024},
        {"allowed_uri_bases": ("/srv/images",)},
        {"allowed_uri_bases": ("file:///",)},
        {"allowed_uri_bases": ("s3://bucket/../other",)},
        {"allowed_uri_bases": ("http://example.com/images",)},
        {"allowed_uri_bases": ("s3://bucket/prefix",), "allowed_uri_schemes": ("file",)},
        {"max_pixel": 10},
    ],
)
def test_given_an_invalid_setting_when_built_then_validation_fails(
    overrides: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError):
        MediaLimits(**overrides)


def test_given_inline_over_max_when_built_then_the_message_names_both_values() -> None:
    with pytest.raises(ValidationError, match=r"max_inline_bytes \(2048\).*max_bytes \(1024\)"):
        MediaLimits(max_inline_bytes=2048, max_bytes=1024)


def test_given_no_schemes_when_built_then_inline_only_limits_are_valid() -> None:
    assert MediaLimits(allowed_uri_schemes=()).allowed_uri_schemes == ()


def test_given_bases_when_built_then_they_are_kept_normalized() -> None:
    limits = MediaLimits(allowed_uri_bases=("S3://bucket/prefix/", "file:///srv/swerve/images/"))
    assert limits.allowed_uri_bases == ("s3://bucket/prefix", "file:///srv/swerve/images")


def test_given_no_bases_when_built_then_inline_only_limits_are_valid() -> None:
    assert MediaLimits(allowed_uri_bases=()).allowed_uri_bases == ()


def test_given_a_base_whose_scheme_is_not_allowed_when_built_then_the_message_names_it() -> None:
    with pytest.raises(ValidationError, match=r"\['s3://bucket'\], whose schemes are not in allowed_uri_schemes \(file\)"):
        MediaLimits(allowed_uri_bases=("s3://bucket",), allowed_uri_schemes=("file",))
