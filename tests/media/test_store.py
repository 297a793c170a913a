"""Tests for swerve.media.store.ImageStore: the content-addressed claim-check store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import fsspec
import pytest
from swerve.errors import (
    ConfigurationError,
    MediaIntegrityError,
    SchemaViolationError,
    StoreUnavailableError,
    UnsupportedMediaTypeError,
)
from swerve.media import ImageStore, sha256_hex
from swerve.media.store import tenant_segment, uri_scheme

if TYPE_CHECKING:
    from tests.media.conftest import Build


def test_given_a_file_store_when_put_then_a_content_addressed_file_with_the_bytes(
    build: type[Build], tmp_path: Path
) -> None:
    store = ImageStore((tmp_path / "images").as_uri())
    data = build.png()
    digest = sha256_hex(data)

    uri = store.put(data, sha256=digest, media_type="image/png")

    path = tmp_path / "images" / digest[:2] / f"{digest}.png"
    assert uri == path.as_uri()
    assert path.read_bytes() == data


def test_given_a_file_store_when_the_same_bytes_are_put_twice_then_same_uri_one_file(
    build: type[Build], tmp_path: Path
) -> None:
    store = ImageStore((tmp_path / "images").as_uri() + "/")
    data = build.jpeg()
    digest = sha256_hex(data)

    first = store.put(data, sha256=digest, media_type="image/jpeg")
    second = store.put(data, sha256=digest, media_type="image/jpeg")

    assert first == second and first.endswith(f"/{digest[:2]}/{digest}.jpg")
    assert [p.name for p in (tmp_path / "images" / digest[:2]).iterdir()] == [f"{digest}.jpg"]


def test_given_a_memory_store_when_put_then_readable_through_fsspec(
    build: type[Build], memory_store: ImageStore
) -> None:
    data = build.webp()
    digest = sha256_hex(data)

    uri = memory_store.put(data, sha256=digest, media_type="image/webp")

    assert uri == f"{memory_store.base_uri}/{digest[:2]}/{digest}.webp"
    with fsspec.open(uri, "rb") as stream:
        assert stream.read() == data
    assert memory_store.put(data, sha256=digest, media_type="image/webp") == uri


def test_given_bytes_that_do_not_match_the_sha256_when_put_then_refused(
    build: type[Build], memory_store: ImageStore
) -> None:
    with pytest.raises(MediaIntegrityError, match="declared sha256 '0000"):
        memory_store.put(build.png(), sha256="0" * 64, media_type="image/png")


def test_given_an_unsupported_media_type_when_put_then_refused(
    build: type[Build], memory_store: ImageStore
) -> None:
    data = build.gif()
    with pytest.raises(UnsupportedMediaTypeError, match="image/gif"):
        memory_store.put(data, sha256=sha256_hex(data), media_type="image/gif")


@pytest.mark.parametrize(
    "base_uri", ["/var/lib/swerve", "", "simplecache::file:///tmp/x", "nosuchproto://x"]
)
def test_given_a_bad_base_uri_when_the_store_is_built_then_configuration_error(
    base_uri: str,
) -> None:
    with pytest.raises(ConfigurationError, match="image store URI"):
        ImageStore(base_uri)


def test_given_an_unwritable_base_when_put_then_configuration_error_names_the_store(
    build: type[Build], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"not a directory")
    store = ImageStore(blocker.as_uri())
    data = build.png()
    with pytest.raises(ConfigurationError, match="cannot write image"):
        store.put(data, sha256=sha256_hex(data), media_type="image/png")


@pytest.mark.parametrize(
    ("uri", "scheme"),
    [
        ("file:///x", "file"),
        ("S3://bucket/key", "s3"),
        ("memory://a", "memory"),
        ("/x", None),
        ("file:///x::memory://y", None),
        ("file://", None),
    ],
)
def test_given_a_uri_when_its_scheme_is_read_then_lowercase_or_none(
    uri: str, scheme: str | None
) -> None:
    assert uri_scheme(uri) == scheme


def test_given_an_established_store_whose_root_vanished_when_put_then_unavailable_and_root_not_recreated(
    build: type[Build], tmp_path: Path
) -> None:
    # Given a worker's store, established at start-up, whose volume is then unmounted
    root = tmp_path / "images"
    store = ImageStore(root.as_uri(), create_root=False)
    store.ensure_root()
    root.rmdir()
    data = build.png()
    # When a replacement is written, then the write is refused as transient
    with pytest.raises(StoreUnavailableError, match="root .* is missing"):
        store.put(data, sha256=sha256_hex(data), media_type="image/png")
    # ... and nothing was written where no consumer would look
    assert not root.exists()


def test_given_an_unwritable_root_when_ensured_then_configuration_error_names_it(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"not a directory")
    with pytest.raises(ConfigurationError, match="cannot be written"):
        ImageStore((blocker / "images").as_uri()).ensure_root()


# -- per-tenant folders ---------------------------------------------------------------------


@pytest.mark.parametrize("store_fixture", ["file_store", "memory_store"])
def test_given_a_tenant_when_put_then_the_object_goes_under_its_folder(
    build: type[Build], store_fixture: str, request: pytest.FixtureRequest
) -> None:
    store: ImageStore = request.getfixturevalue(store_fixture)
    data = build.png()
    digest = sha256_hex(data)

    uri = store.put(data, sha256=digest, media_type="image/png", tenant="acme-prod_1")

    assert uri == f"{store.base_uri}/acme-prod_1/{digest[:2]}/{digest}.png"
    with fsspec.open(uri, "rb") as stream:
        assert stream.read() == data
    assert store.put(data, sha256=digest, media_type="image/png", tenant="acme-prod_1") == uri
    assert store.put(data, sha256=digest, media_type="image/png", tenant="other") != uri


def test_given_an_established_store_when_a_new_tenant_writes_then_its_folder_is_created(
    build: type[Build], tmp_path: Path
) -> None:
    # Given a worker's store that may not create its root, but whose root exists
    store = ImageStore((tmp_path / "images").as_uri(), create_root=False)
    store.ensure_root()
    data = build.png()
    uri = store.put(data, sha256=sha256_hex(data), media_type="image/png", tenant="new-tenant")
    assert Path(uri.removeprefix("file://")).read_bytes() == data


@pytest.mark.parametrize(
    "tenant", ["", "..", ".", ".hidden", "a/b", "../etc", "a\\b", "a%2fb", "a b", "tenant\x00", "é", "x" * 65]
)
def test_given_a_tenant_that_is_not_a_safe_folder_name_when_put_then_refused_and_nothing_written(
    build: type[Build], tmp_path: Path, tenant: str
) -> None:
    store = ImageStore((tmp_path / "images").as_uri())
    data = build.png()
    with pytest.raises(SchemaViolationError, match="cannot name a folder in the image store"):
        store.put(data, sha256=sha256_hex(data), media_type="image/png", tenant=tenant)
    assert not (tmp_path / "images").exists() or not any((tmp_path / "images").rglob("*"))


def test_given_a_safe_tenant_when_checked_then_it_is_its_own_folder_name() -> None:
    assert tenant_segment("default") == "default"
    assert tenant_segment("A" * 64) == "A" * 64
