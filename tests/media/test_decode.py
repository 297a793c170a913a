"""Tests for swerve.media.decode: decoding only within every bound.

Bomb tests also prove that nothing is allocated: they make Pillow's ``Image.open`` and
``ImageFile.load`` fail the test if they are reached at all.
"""

from __future__ import annotations

import base64
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from PIL import Image, ImageFile
from swerve.errors import (
    CorruptMediaError,
    DecompressionBombError,
    MediaIntegrityError,
    MediaTooLargeError,
    MediaUnreachableError,
    UnsupportedMediaTypeError,
)
from swerve.media import ImageRef, ImageStore, MediaLimits, decode_bytes, decode_image, sha256_hex

if TYPE_CHECKING:
    from tests.media.conftest import Build


@pytest.fixture
def no_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if Pillow is asked to open or load anything."""

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("Pillow was reached; the check must come first")

    monkeypatch.setattr(Image, "open", forbidden)
    monkeypatch.setattr(ImageFile.ImageFile, "load", forbidden)


# -- what decodes -------------------------------------------------------------------------


@pytest.mark.parametrize("builder", ["png", "webp"])
def test_given_a_lossless_inline_ref_when_decoded_then_the_exact_rgb_pixels(
    build: type[Build], builder: str
) -> None:
    data = getattr(build, builder)(13, 7, lossless=True) if builder == "webp" else build.png(13, 7)
    image = decode_image(ImageRef.from_bytes(data))
    assert (image.mode, image.size) == ("RGB", (13, 7))
    assert np.array_equal(np.asarray(image), np.asarray(build.image(13, 7)))


def test_given_a_jpeg_ref_when_decoded_then_rgb_of_the_declared_size(build: type[Build]) -> None:
    image = decode_image(ImageRef.from_bytes(build.jpeg(13, 7, progressive=True)))
    assert (image.mode, image.size) == ("RGB", (13, 7))


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGBA", "I;16"])
def test_given_a_png_in_any_mode_when_decoded_then_rgb(build: type[Build], mode: str) -> None:
    image = decode_bytes(build.png(5, 4, mode=mode))
    assert (image.mode, image.size) == ("RGB", (5, 4))


@pytest.mark.parametrize("store_fixture", ["file_store", "memory_store"])
def test_given_a_ref_by_reference_when_decoded_then_read_through_the_store(
    build: type[Build], store_fixture: str, request: pytest.FixtureRequest
) -> None:
    store: ImageStore = request.getfixturevalue(store_fixture)
    ref = ImageRef.from_bytes(
        build.png(32, 32), limits=MediaLimits(max_inline_bytes=16), store=store
    )
    assert not ref.is_inline
    assert decode_image(ref).size == (32, 32)


def test_given_a_decode_when_done_then_pillow_globals_are_untouched(build: type[Build]) -> None:
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    decode_bytes(build.png())
    with pytest.raises(DecompressionBombError):
        decode_bytes(build.png_bomb())
    assert before == (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)


# -- truncated and corrupt ----------------------------------------------------------------


@pytest.mark.parametrize("builder", ["png", "jpeg", "webp"])
@pytest.mark.parametrize("load_truncated_images", [False, True])
def test_given_a_truncated_image_when_decoded_then_corrupt_whatever_pillow_is_told(
    build: type[Build], builder: str, load_truncated_images: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Some library in the process may have set Pillow's global to pad truncated images.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", load_truncated_images)
    data = getattr(build, builder)(64, 48)
    truncated = data[: len(data) * 2 // 3]
    with pytest.raises(CorruptMediaError, match="truncated"):
        decode_bytes(truncated)
    ref = ImageRef.from_bytes(data).model_copy(
        update={"data": truncated, "sha256": sha256_hex(truncated)}
    )
    with pytest.raises(CorruptMediaError, match="truncated"):
        decode_image(ref)


def test_given_a_png_whose_pixel_stream_is_garbage_when_decoded_then_corrupt(
    build: type[Build],
) -> None:
    data = build.png_from_parts(8, 8, b"this is not a zlib stream")
    with pytest.raises(CorruptMediaError, match="cannot be decoded") as caught:
        decode_bytes(data)
    assert isinstance(caught.value.__cause__, OSError)


# -- decompression bombs ------------------------------------------------------------------


def test_given_a_tiny_png_declaring_30000x30000_when_decoded_then_bomb_before_pillow(
    build: type[Build], no_pillow: None
) -> None:
    data = build.png_bomb(30000, 30000)
    assert len(data) < 100
    with pytest.raises(DecompressionBombError, match=r"30000x30000 = 900000000 pixels.*16777216"):
        decode_bytes(data)


@pytest.mark.parametrize("builder", ["png_bomb", "webp_bomb", "jpeg_bomb"])
def test_given_a_bomb_of_each_format_when_pillow_has_no_limit_then_still_refused(
    build: type[Build], builder: str, no_pillow: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with pytest.raises(DecompressionBombError, match="over the limit"):
        decode_bytes(getattr(build, builder)())


def test_given_an_image_over_a_tight_pixel_limit_when_decoded_then_bomb(build: type[Build]) -> None:
    ref = ImageRef.from_bytes(build.png(64, 64))
    with pytest.raises(DecompressionBombError, match=r"64x64 = 4096 pixels.*limit of 4000"):
        decode_image(ref, MediaLimits(max_pixels=4000))


def test_given_pillow_refuses_a_header_when_decoded_then_our_bomb_error(
    build: type[Build], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(DecompressionBombError, match="Pillow refused") as caught:
        decode_bytes(build.png(64, 64), MediaLimits(max_pixels=10**9))
    assert isinstance(caught.value.__cause__, Image.DecompressionBombError)


def test_given_pillow_warnings_are_errors_when_its_warning_fires_then_our_bomb_error(
    build: type[Build], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # 4096 > 3000, under 2 * 3000
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(DecompressionBombError, match="Pillow refused"):
            decode_bytes(build.png(64, 64), MediaLimits(max_pixels=10**9))


# -- limits, formats and integrity --------------------------------------------------------


def test_given_bytes_over_max_bytes_when_decoded_then_too_large(build: type[Build]) -> None:
    data = build.png(32, 32)
    with pytest.raises(MediaTooLargeError, match=f"{len(data)} bytes, over the limit of 64"):
        decode_bytes(data, MediaLimits(max_inline_bytes=64, max_bytes=64))
    with pytest.raises(MediaTooLargeError):
        decode_image(ImageRef.from_bytes(data), MediaLimits(max_inline_bytes=64, max_bytes=64))


@pytest.mark.parametrize(("builder", "name"), [("gif", "image/gif"), ("bmp", "image/bmp")])
def test_given_a_format_outside_the_allow_list_when_decoded_then_unsupported(
    build: type[Build], builder: str, name: str
) -> None:
    data = getattr(build, builder)()
    with pytest.raises(UnsupportedMediaTypeError, match=f"{name} is not in the allow-list"):
        decode_bytes(data)
    ref = build.ref(build.png(), data=base64.b64encode(data), sha256=sha256_hex(data))
    with pytest.raises(UnsupportedMediaTypeError, match=name):
        decode_image(ref)


def test_given_unrecognised_bytes_when_decoded_then_unsupported() -> None:
    with pytest.raises(UnsupportedMediaTypeError, match="not recognised"):
        decode_bytes(b"%PDF-1.7 definitely not an image")


def test_given_limits_narrower_than_supported_when_a_jpeg_is_decoded_then_unsupported(
    build: type[Build],
) -> None:
    with pytest.raises(UnsupportedMediaTypeError, match=r"image/jpeg.*\(image/png\)"):
        decode_bytes(build.jpeg(), MediaLimits(allowed_media_types=("image/png",)))


def test_given_a_ref_declaring_another_format_when_decoded_then_integrity_error(
    build: type[Build],
) -> None:
    ref = build.ref(build.png(), media_type="image/jpeg")
    with pytest.raises(
        MediaIntegrityError, match="declared as image/jpeg but its bytes are image/png"
    ):
        decode_image(ref)


def test_given_a_ref_with_a_wrong_sha256_when_decoded_then_integrity_error(
    build: type[Build],
) -> None:
    ref = build.ref(build.png(), sha256="a" * 64)
    with pytest.raises(MediaIntegrityError, match="sha256"):
        decode_image(ref)


@pytest.mark.parametrize(("width", "height"), [(10, 6), (8, 10), (6, 8)])
def test_given_a_ref_declaring_other_dimensions_when_decoded_then_integrity_error(
    build: type[Build], width: int, height: int
) -> None:
    ref = build.ref(build.png(8, 6), width=width, height=height)
    with pytest.raises(MediaIntegrityError, match=f"declared as {width}x{height}.*8x6"):
        decode_image(ref)


def test_given_an_unreachable_uri_when_decoded_then_unreachable(build: type[Build]) -> None:
    data = build.png()
    ref = ImageRef(
        media_type="image/png",
        sha256=sha256_hex(data),
        width=8,
        height=6,
        uri="memory://swerve-test-nowhere/x.png",
    )
    with pytest.raises(MediaUnreachableError, match="swerve-test-nowhere"):
        decode_image(ref)
