"""Tests for swerve.media.confinement: references confined to allow-listed base URIs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from swerve.errors import ConfigurationError, MediaUnreachableError
from swerve.media.confinement import (
    Target,
    confine,
    covers,
    normalize_base,
    reference_problem,
    resolve_local,
)


@pytest.mark.parametrize(
    ("base", "normalized"),
    [
        ("s3://bucket/prefix/", "s3://bucket/prefix"),
        ("S3://bucket/prefix", "s3://bucket/prefix"),
        ("file:///srv/swerve/images/", "file:///srv/swerve/images"),
        ("memory://swerve", "memory://swerve"),
        (" gs://bucket ", "gs://bucket"),
    ],
)
def test_given_a_base_when_normalized_then_lowercase_scheme_and_no_trailing_slash(base: str, normalized: str) -> None:
    assert normalize_base(base) == normalized


@pytest.mark.parametrize(
    "base",
    ["", "/srv/images", "file:///", "s3://", "s3:///", "file://relative/images", "s3://b/../x", "s3://b/%2e%2e",
     "s3://b/./x", "s3://b//x", "simplecache::s3://b/x", "s3://b/x?versionId=1"],
)
def test_given_a_base_that_is_not_a_clean_folder_when_normalized_then_refused(base: str) -> None:
    with pytest.raises(ValueError, match="allowed base"):
        normalize_base(base)


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("file:///srv/images/../../etc/passwd", "'..' path segment"),
        ("file:///srv/images/./a.png", "'.' path segment"),
        ("file:///srv/images//a.png", "empty"),
        ("file:///srv/images/%2e%2e/%2e%2e/etc/passwd", "'%'"),
        ("file:///srv/images/..%2fetc", "'%'"),
        ("file:///srv/images/a\\..\\b", r"'\\'"),
        ("file:///srv/images/a.png?x=1", "'?'"),
        ("file:///srv/images/a.png#x", "'#'"),
        ("file:///srv/images/a\x00.png", r"'\x00'"),
        ("file://srv/images/a.png", "absolute path"),
        ("s3://bucket/prefix/../other/a.png", "'..' path segment"),
        ("simplecache::file:///srv/images/a.png", "chained"),
    ],
)
def test_given_a_reference_with_a_trick_in_its_text_when_checked_then_the_problem_is_named(uri: str, problem: str) -> None:
    found = reference_problem(uri)
    assert found is not None and problem in found, found


@pytest.mark.parametrize("uri", ["file:///srv/images/ab/abc.png", "s3://bucket/prefix/a.png", "memory://swerve/a/b.png"])
def test_given_a_clean_reference_when_checked_then_no_problem(uri: str) -> None:
    assert reference_problem(uri) is None


def test_given_bases_when_a_memory_reference_is_confined_then_only_strictly_under_a_base_passes() -> None:
    bases = (normalize_base("memory://swerve-store"),)
    assert confine("memory://swerve-store/ab/x.png", bases) == Target("/swerve-store/ab/x.png")
    # fsspec reads memory:///a and memory://a as the same object: the canonical path is compared
    assert confine("memory:///swerve-store/ab/x.png", bases) == Target("/swerve-store/ab/x.png")
    for outside in ("memory://swerve-store-evil/x.png", "memory://swerve-store", "memory://other/swerve-store/x.png"):
        with pytest.raises(MediaUnreachableError, match="outside the allowed locations"):
            confine(outside, bases)


def test_given_a_local_base_when_confined_then_the_target_remembers_the_base_for_the_real_path_check(tmp_path: Path) -> None:
    base = normalize_base((tmp_path / "images").as_uri())
    target = confine((tmp_path / "images" / "ab" / "x.png").as_uri(), (base,))
    assert target == Target(str(tmp_path / "images" / "ab" / "x.png"), str(tmp_path / "images"))
    with pytest.raises(MediaUnreachableError, match="outside"):
        confine((tmp_path / "images-evil" / "x.png").as_uri(), (base,))


def test_given_a_reference_on_another_filesystem_than_every_base_then_outside() -> None:
    with pytest.raises(MediaUnreachableError, match="outside"):
        confine("memory://srv/images/a.png", (normalize_base("file:///srv/images"),))


def test_given_a_scheme_whose_backend_is_missing_when_confined_then_configuration_error() -> None:
    pytest.importorskip("fsspec")
    try:
        import s3fs  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigurationError, match="package is missing"):
            confine("s3://bucket/prefix/a.png", ("s3://bucket/prefix",))
    else:  # pragma: no cover - where s3fs is installed, the place check applies instead
        with pytest.raises(MediaUnreachableError, match="outside"):
            confine("s3://bucket/other/a.png", ("s3://bucket/prefix",))


def test_given_a_symlink_inside_the_base_pointing_out_when_resolved_then_outside(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not for you")
    (images / "link.png").symlink_to(secret)
    (images / "inside.png").write_bytes(b"ok")
    (images / "alias.png").symlink_to(images / "inside.png")
    base = normalize_base(images.as_uri())

    link = (images / "link.png").as_uri()
    with pytest.raises(MediaUnreachableError, match="outside the allowed locations"):
        resolve_local(link, confine(link, (base,)))
    # A link that stays inside the base is read at its real path
    alias = (images / "alias.png").as_uri()
    assert resolve_local(alias, confine(alias, (base,))) == os.path.realpath(images / "inside.png")


def test_given_a_base_that_is_itself_a_symlink_when_resolved_then_files_under_it_pass(tmp_path: Path) -> None:
    (tmp_path / "volume").mkdir()
    (tmp_path / "volume" / "a.png").write_bytes(b"ok")
    (tmp_path / "images").symlink_to(tmp_path / "volume")
    uri = (tmp_path / "images" / "a.png").as_uri()
    target = confine(uri, (normalize_base((tmp_path / "images").as_uri()),))
    assert resolve_local(uri, target) == os.path.realpath(tmp_path / "volume" / "a.png")


@pytest.mark.parametrize(
    ("base", "uri", "expected"),
    [
        ("s3://bucket/prefix", "s3://bucket/prefix", True),
        ("s3://bucket/prefix", "s3://bucket/prefix/", True),
        ("s3://bucket/prefix", "S3://bucket/prefix/tenant", True),
        ("s3://bucket/prefix", "s3://bucket/prefix-evil", False),
        ("s3://bucket/prefix", "s3://bucket", False),
        ("s3://bucket/prefix", "not a uri", False),
    ],
)
def test_given_a_store_uri_when_covered_by_a_base_then_only_the_base_or_below(base: str, uri: str, expected: bool) -> None:
    assert covers(base, uri) is expected


def test_given_a_scheme_without_backend_that_no_base_uses_when_confined_then_simply_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    import fsspec

    def no_backend(protocol: str) -> object:
        if protocol == "gs":
            raise ImportError("Please install gcsfs to access Google Storage")
        return real(protocol)

    real = fsspec.get_filesystem_class
    monkeypatch.setattr(fsspec, "get_filesystem_class", no_backend)
    with pytest.raises(MediaUnreachableError, match="outside the allowed locations"):
        confine("gs://bucket/x.png", ("memory://swerve",))
    with pytest.raises(ConfigurationError, match="gcsfs"):
        confine("gs://bucket/prefix/x.png", ("gs://bucket/prefix",))
