"""Tests for swerve.media.fetch.read_image_bytes: bounded, allow-listed, verified reads."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import swerve.media.fetch as fetch_module
from fsspec.implementations.local import LocalFileSystem
from swerve.errors import (
    ConfigurationError,
    MediaIntegrityError,
    MediaTooLargeError,
    MediaUnreachableError,
    StoreUnavailableError,
)
from swerve.media import ImageRef, ImageStore, MediaLimits, read_image_bytes, sha256_hex

if TYPE_CHECKING:
    from tests.media.conftest import Build

_BY_REFERENCE = MediaLimits(max_inline_bytes=16)


def _uri_ref(data: bytes, uri: str) -> ImageRef:
    return ImageRef(media_type="image/png", sha256=sha256_hex(data), width=8, height=6, uri=uri)


def test_given_an_inline_ref_when_read_then_its_bytes(build: type[Build]) -> None:
    data = build.png()
    assert read_image_bytes(ImageRef.from_bytes(data)) == data


def test_given_inline_bytes_over_max_bytes_when_read_then_too_large(build: type[Build]) -> None:
    data = build.png(32, 32)
    ref = ImageRef.from_bytes(data)
    with pytest.raises(MediaTooLargeError, match=f"{len(data)} bytes, over the limit of 100"):
        read_image_bytes(ref, MediaLimits(max_inline_bytes=100, max_bytes=100))


@pytest.mark.parametrize("store_fixture", ["file_store", "memory_store"])
def test_given_a_stored_image_when_read_by_reference_then_its_bytes(
    build: type[Build], store_fixture: str, request: pytest.FixtureRequest
) -> None:
    store: ImageStore = request.getfixturevalue(store_fixture)
    data = build.png(32, 32)
    ref = ImageRef.from_bytes(data, limits=_BY_REFERENCE, store=store)
    assert read_image_bytes(ref) == data


def test_given_an_inline_ref_with_a_wrong_sha256_when_read_then_integrity_names_both(
    build: type[Build],
) -> None:
    data = build.png()
    ref = build.ref(data, sha256="f" * 64)
    with pytest.raises(
        MediaIntegrityError, match=f"sha256 {sha256_hex(data)}.*declares {'f' * 64}"
    ):
        read_image_bytes(ref)


def test_given_a_stored_object_tampered_with_when_read_then_integrity_error(
    build: type[Build], file_store: ImageStore
) -> None:
    data = build.png(32, 32)
    ref = ImageRef.from_bytes(data, limits=_BY_REFERENCE, store=file_store)
    assert ref.uri is not None
    Path(ref.uri.removeprefix("file://")).write_bytes(build.png(32, 31))
    with pytest.raises(MediaIntegrityError, match="declares"):
        read_image_bytes(ref)


def test_given_a_nonexistent_file_when_read_then_unreachable_names_the_uri(
    build: type[Build], tmp_path: Path
) -> None:
    uri = (tmp_path / "missing.png").as_uri()
    with pytest.raises(MediaUnreachableError, match=f"{uri}.*not found"):
        read_image_bytes(_uri_ref(build.png(), uri))


def test_given_a_missing_memory_object_when_read_then_unreachable(build: type[Build]) -> None:
    with pytest.raises(MediaUnreachableError, match="not found"):
        read_image_bytes(_uri_ref(build.png(), "memory://swerve-test-nothing/here.png"))


@pytest.mark.parametrize(
    "uri",
    ["http://example.com/x.png", "https://example.com/x.png", "ftp://h/x.png", "local:///x.png"],
)
def test_given_a_scheme_outside_the_allow_list_when_read_then_unreachable_without_io(
    build: type[Build], uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_io(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no filesystem may be opened for a forbidden scheme")

    monkeypatch.setattr(fetch_module, "url_to_fs", no_io)
    monkeypatch.setattr(fetch_module, "_read_bounded", no_io)
    with pytest.raises(MediaUnreachableError, match="not in the allow-list"):
        read_image_bytes(_uri_ref(build.png(), uri))


def test_given_limits_that_forbid_file_when_a_file_uri_is_read_then_unreachable(
    build: type[Build], file_store: ImageStore
) -> None:
    data = build.png(32, 32)
    ref = ImageRef.from_bytes(data, limits=_BY_REFERENCE, store=file_store)
    with pytest.raises(MediaUnreachableError, match="scheme 'file' is not in the allow-list"):
        read_image_bytes(ref, MediaLimits(allowed_uri_schemes=("s3",)))


def test_given_a_chained_fsspec_url_when_read_then_unreachable(
    build: type[Build], tmp_path: Path
) -> None:
    uri = (tmp_path / "x.png").as_uri() + "::memory://y"
    with pytest.raises(MediaUnreachableError, match="chained"):
        read_image_bytes(_uri_ref(build.png(), uri))


def test_given_a_directory_or_device_when_read_then_unreachable(
    build: type[Build], tmp_path: Path
) -> None:
    for uri in (tmp_path.as_uri(), "file:///dev/zero"):
        with pytest.raises(MediaUnreachableError, match="not a regular file"):
            read_image_bytes(_uri_ref(build.png(), uri))


def test_given_a_directory_a_device_or_a_fifo_in_the_store_when_read_then_refused_at_once(
    build: type[Build], file_store: ImageStore
) -> None:
    # Under a store, local files are read with the os: the same refusals, and a FIFO (which
    # would block an open until the deadline) is refused before it is opened.
    root = Path(file_store.base_uri.removeprefix("file://"))
    (root / "folder").mkdir(parents=True)
    os.mkfifo(root / "pipe")
    for name in ("folder", "pipe"):
        started = time.monotonic()
        with pytest.raises(MediaUnreachableError, match="not a regular file"):
            read_image_bytes(_uri_ref(build.png(), (root / name).as_uri()), store=file_store)
        assert time.monotonic() - started < 1.0


def test_given_a_file_listed_over_the_cap_when_read_then_too_large(
    tmp_path: Path,
) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(b"\x00" * 5000)
    with pytest.raises(MediaTooLargeError, match="5000 bytes, over the limit of 1024"):
        read_image_bytes(
            _uri_ref(b"", path.as_uri()), MediaLimits(max_inline_bytes=512, max_bytes=1024)
        )


def test_given_a_store_that_lists_no_size_when_read_then_at_most_cap_plus_one_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(b"\x00" * 50_000)
    real_info = LocalFileSystem.info
    requested: list[int] = []

    def info_without_size(self: LocalFileSystem, p: str, **kw: Any) -> dict[str, Any]:
        return {**real_info(self, p, **kw), "size": None}

    real_open = LocalFileSystem._open

    def recording_open(self: LocalFileSystem, *args: Any, **kw: Any) -> Any:
        stream = real_open(self, *args, **kw)
        real_read = stream.read

        def read(n: int = -1) -> bytes:
            requested.append(n)
            chunk: bytes = real_read(n)
            return chunk

        stream.read = read
        return stream

    monkeypatch.setattr(LocalFileSystem, "info", info_without_size)
    monkeypatch.setattr(LocalFileSystem, "_open", recording_open)
    with pytest.raises(MediaTooLargeError, match="over the limit of 1024 bytes"):
        read_image_bytes(
            _uri_ref(b"", path.as_uri()), MediaLimits(max_inline_bytes=512, max_bytes=1024)
        )
    assert requested and all(0 < n <= 1025 for n in requested)


def test_given_a_store_slower_than_the_timeout_when_read_then_store_unavailable_promptly(
    build: type[Build], monkeypatch: pytest.MonkeyPatch
) -> None:
    def stuck_read(uri: str, max_bytes: int, store: object, target: object = None) -> bytes:
        time.sleep(2)
        return b""

    monkeypatch.setattr(fetch_module, "_read_bounded", stuck_read)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match=r"timed out after 0\.05 s"):
        read_image_bytes(
            _uri_ref(build.png(), "memory://slow/x.png"), MediaLimits(fetch_timeout_s=0.05)
        )
    assert time.monotonic() - started < 1.0


def test_given_an_allowed_scheme_without_its_backend_when_read_then_configuration_error(
    build: type[Build], monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing_backend(uri: str) -> Any:
        raise ImportError("Install s3fs to access S3")

    monkeypatch.setattr(fetch_module, "url_to_fs", missing_backend)
    with pytest.raises(ConfigurationError, match="s3fs"):
        read_image_bytes(_uri_ref(build.png(), "s3://bucket/x.png"))


def test_given_a_ref_built_without_validation_when_read_then_schema_violation(
    build: type[Build],
) -> None:
    from swerve.errors import SchemaViolationError

    data = build.png()
    ref = ImageRef.model_construct(
        media_type="image/png", sha256=sha256_hex(data), width=8, height=6, data=None, uri=None
    )
    with pytest.raises(SchemaViolationError, match="neither data nor uri"):
        read_image_bytes(ref)


def test_given_a_missing_object_under_a_store_that_answers_when_read_then_unreachable(
    build: type[Build], tmp_path: Path
) -> None:
    # Given an established store whose root exists, and a reference to an object never written
    store = ImageStore((tmp_path / "images").as_uri(), create_root=False)
    store.ensure_root()
    uri = f"{store.base_uri}/ab/{'ab' * 32}.png"
    # Then the store answered "no such object": bad input, dead-lettered
    with pytest.raises(MediaUnreachableError, match="not found"):
        read_image_bytes(_uri_ref(build.png(), uri), store=store)


def test_given_a_store_whose_root_vanished_when_read_then_store_unavailable(
    build: type[Build], tmp_path: Path
) -> None:
    # Given an image stored by reference, and then the store's root gone (an unmounted volume)
    root = tmp_path / "images"
    store = ImageStore(root.as_uri(), create_root=False)
    store.ensure_root()
    ref = ImageRef.from_bytes(build.png(), limits=_BY_REFERENCE, store=store)
    root.rename(tmp_path / "elsewhere")
    # Then the store, not the reference, is broken: transient, retried, never dead-lettered
    with pytest.raises(StoreUnavailableError, match="root .* is missing"):
        read_image_bytes(ref, store=store)
    # ... and once the root is back, the same reference reads
    (tmp_path / "elsewhere").rename(root)
    assert read_image_bytes(ref, store=store) == build.png()


def test_given_an_io_error_while_reading_when_read_then_store_unavailable(
    build: type[Build], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = ImageStore((tmp_path / "images").as_uri())
    ref = ImageRef.from_bytes(build.png(), limits=_BY_REFERENCE, store=store)

    def failing_read(uri: str, path: str, max_bytes: int) -> Any:
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(fetch_module, "_read_local", failing_read)  # a local store reads with the os, not fsspec
    with pytest.raises(StoreUnavailableError, match="did not answer: ConnectionResetError"):
        read_image_bytes(ref, store=store)


def test_given_a_permission_error_when_read_then_unreachable_not_transient(
    build: type[Build], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = ImageStore((tmp_path / "images").as_uri())
    ref = ImageRef.from_bytes(build.png(), limits=_BY_REFERENCE, store=store)

    def denied(uri: str, path: str, max_bytes: int) -> Any:
        raise PermissionError("permission denied")

    monkeypatch.setattr(fetch_module, "_read_local", denied)
    with pytest.raises(MediaUnreachableError, match="PermissionError"):
        read_image_bytes(ref, store=store)


# Confinement: a reference may point only under the allowed bases (docs/security.md).


def _no_io(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_io(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no filesystem may be opened for a reference outside the allow-list")

    monkeypatch.setattr(fetch_module, "url_to_fs", no_io)
    monkeypatch.setattr(fetch_module, "_read_bounded", no_io)  # every read, local files' too, starts here


def test_given_a_store_and_no_bases_when_a_ref_under_the_store_is_read_then_its_bytes(
    build: type[Build], file_store: ImageStore
) -> None:
    data = build.png(32, 32)
    ref = ImageRef.from_bytes(data, limits=_BY_REFERENCE, store=file_store)
    assert read_image_bytes(ref, store=file_store) == data


def test_given_a_store_and_no_bases_when_a_ref_outside_the_store_is_read_then_refused_without_io(
    build: type[Build], file_store: ImageStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a real PNG next to the store, not in it
    data = build.png()
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(data)
    _no_io(monkeypatch)
    # Then the store is the allow-list: refused before any filesystem is opened
    with pytest.raises(MediaUnreachableError, match="outside the allowed locations"):
        read_image_bytes(_uri_ref(data, outside.as_uri()), store=file_store)


def test_given_bases_when_a_ref_is_read_then_the_bases_and_not_the_store_decide(
    build: type[Build], file_store: ImageStore, memory_store: ImageStore
) -> None:
    data = build.png(32, 32)
    in_memory = ImageRef.from_bytes(data, limits=_BY_REFERENCE, store=memory_store)
    in_files = ImageRef.from_bytes(data, limits=_BY_REFERENCE, store=file_store)
    limits = MediaLimits(allowed_uri_bases=(memory_store.base_uri,))
    assert read_image_bytes(in_memory, limits, store=file_store) == data
    with pytest.raises(MediaUnreachableError, match="outside the allowed locations"):
        read_image_bytes(in_files, limits, store=file_store)


def test_given_empty_bases_when_any_ref_is_read_then_refused(build: type[Build], memory_store: ImageStore) -> None:
    ref = ImageRef.from_bytes(build.png(32, 32), limits=_BY_REFERENCE, store=memory_store)
    with pytest.raises(MediaUnreachableError, match="outside the allowed locations"):
        read_image_bytes(ref, MediaLimits(allowed_uri_bases=()), store=memory_store)


@pytest.mark.parametrize(
    ("suffix", "problem"),
    [("/../images/ab/x.png", "'..' path segment"), ("/%2e%2e/x.png", "'%'"), ("//ab/x.png", "empty")],
)
def test_given_a_ref_with_a_path_trick_when_read_then_refused_naming_only_the_text(
    build: type[Build], file_store: ImageStore, monkeypatch: pytest.MonkeyPatch, suffix: str, problem: str
) -> None:
    _no_io(monkeypatch)
    uri = file_store.base_uri + suffix
    with pytest.raises(MediaUnreachableError, match="is refused") as caught:
        read_image_bytes(_uri_ref(build.png(), uri), store=file_store)
    assert problem in caught.value.message


def test_given_a_trusted_caller_without_store_or_bases_when_a_dotdot_ref_is_read_then_still_refused(
    build: type[Build], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_io(monkeypatch)
    with pytest.raises(MediaUnreachableError, match="'..' path segment"):
        read_image_bytes(_uri_ref(build.png(), (tmp_path / "a").as_uri() + "/../b.png"))


def test_given_a_symlink_in_the_store_pointing_out_when_read_then_refused_as_outside(
    build: type[Build], tmp_path: Path
) -> None:
    # Given a valid PNG outside the store, and a link to it planted inside the store
    data = build.png()
    (tmp_path / "secret.png").write_bytes(data)
    store = ImageStore((tmp_path / "images").as_uri())
    store.ensure_root()
    (tmp_path / "images" / "ab").mkdir()
    (tmp_path / "images" / "ab" / "link.png").symlink_to(tmp_path / "secret.png")
    ref = _uri_ref(data, f"{store.base_uri}/ab/link.png")
    # Then it is refused with the same words as any other outside reference
    with pytest.raises(MediaUnreachableError) as caught:
        read_image_bytes(ref, store=store)
    assert caught.value.message == f"image reference {ref.uri!r} is outside the allowed locations (SWERVE_MEDIA_ALLOWED_URI_BASES)"


def test_given_an_older_ref_without_a_tenant_folder_when_read_then_still_read(
    build: type[Build], file_store: ImageStore
) -> None:
    data = build.png(32, 32)
    old = ImageRef.from_bytes(data, limits=_BY_REFERENCE, store=file_store)
    new = ImageRef.from_bytes(data, limits=_BY_REFERENCE, store=file_store, tenant="acme")
    assert old.uri != new.uri and new.uri is not None and "/acme/" in new.uri
    limits = MediaLimits(allowed_uri_bases=(file_store.base_uri,))
    assert read_image_bytes(old, limits) == read_image_bytes(new, limits) == data
