"""Tests for swerve.media.image_ref.ImageRef: the contract, and building refs from bytes."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError
from swerve.errors import (
    ConfigurationError,
    CorruptMediaError,
    DecompressionBombError,
    MediaTooLargeError,
    UnsupportedMediaTypeError,
)
from swerve.media import ImageRef, ImageStore, MediaLimits, read_image_bytes, sha256_hex

if TYPE_CHECKING:
    from tests.media.conftest import Build

_SHA = "0" * 64


def _fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "media_type": "image/png",
        "sha256": _SHA,
        "width": 8,
        "height": 6,
        "uri": "memory://swerve/00/x.png",
    }
    fields.update(overrides)
    return fields


# -- the contract -------------------------------------------------------------------------


def test_given_an_inline_ref_when_it_round_trips_through_json_then_it_is_equal(
    build: type[Build],
) -> None:
    data = build.png()
    ref = ImageRef.from_bytes(data)
    wire = ref.model_dump_json()
    assert json.loads(wire)["data"] == base64.b64encode(data).decode("ascii")
    back = ImageRef.model_validate_json(wire)
    assert back == ref
    assert back.data == data
    assert ImageRef.model_validate(ref.model_dump()) == ref
    assert ImageRef.model_validate(ref.model_dump(mode="json")) == ref


def test_given_a_uri_ref_when_it_round_trips_through_json_then_it_is_equal() -> None:
    ref = ImageRef(**_fields())
    assert not ref.is_inline
    assert ImageRef.model_validate_json(ref.model_dump_json()) == ref


@pytest.mark.parametrize(
    ("overrides", "got"),
    [({"data": base64.b64encode(b"x")}, "both"), ({"uri": None}, "neither")],
)
def test_given_both_or_neither_source_when_built_then_exactly_one_is_demanded(
    overrides: dict[str, Any], got: str
) -> None:
    with pytest.raises(ValidationError, match=f"exactly one of `data`.*got {got}"):
        ImageRef(**_fields(**overrides))


def test_given_empty_inline_data_when_built_then_refused() -> None:
    with pytest.raises(ValidationError, match="empty"):
        ImageRef(**_fields(uri=None, data=b""))


@pytest.mark.parametrize(
    "sha256",
    ["A" * 64, "0" * 63, "0" * 65, "g" * 64, " " + "0" * 63, "0" * 64 + "\n", ""],
)
def test_given_a_malformed_sha256_when_built_then_refused(sha256: str) -> None:
    with pytest.raises(ValidationError, match="sha256"):
        ImageRef(**_fields(sha256=sha256))


@pytest.mark.parametrize(
    "overrides",
    [
        {"media_type": "image/gif"},
        {"media_type": "IMAGE/PNG"},
        {"width": 0},
        {"height": -3},
        {"uri": "/var/lib/swerve/x.png"},
        {"uri": ""},
        {"uri": "simplecache::file:///x.png"},
    ],
)
def test_given_an_invalid_field_when_built_then_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ImageRef(**_fields(**overrides))


def test_given_base64_or_raw_bytes_as_data_when_built_then_base64_is_the_input_contract(
    build: type[Build],
) -> None:
    # Base64Bytes decodes its input, in Python as in JSON: use from_bytes for raw bytes.
    data = build.png()
    fields = _fields(uri=None, sha256=sha256_hex(data))
    assert ImageRef(**fields, data=base64.b64encode(data)).data == data
    with pytest.raises(ValidationError, match=r"standard base64.*from_bytes"):
        ImageRef(**fields, data=data)
    with pytest.raises(ValidationError, match="standard base64"):
        ImageRef.model_validate_json(
            ImageRef(**fields, data=base64.b64encode(data))
            .model_dump_json()
            .replace('"data":"', '"data":"@@')
        )


def test_given_a_ref_when_a_field_is_assigned_then_it_is_refused_as_frozen() -> None:
    ref = ImageRef(**_fields())
    with pytest.raises(ValidationError):
        ref.width = 10


def test_given_a_field_from_a_newer_producer_when_built_then_ignored_and_the_rest_kept() -> None:
    data = {"media_type": "image/png", "sha256": "ab" * 32, "width": 8, "height": 6, "uri": "file:///x.png", "colour": "red"}
    ref = ImageRef.model_validate(data)
    assert ref.uri == "file:///x.png" and not hasattr(ref, "colour")
    assert "colour" not in ref.model_dump()


def test_given_the_model_when_its_json_schema_is_exported_then_it_is_plain_json() -> None:
    schema = ImageRef.model_json_schema()
    text = json.dumps(schema, sort_keys=True)
    assert schema.get("additionalProperties", True) is not False  # forward compatible
    assert set(schema["required"]) == {"media_type", "sha256", "width", "height"}
    assert schema["properties"]["media_type"]["enum"] == ["image/png", "image/jpeg", "image/webp"]
    assert schema["properties"]["sha256"]["pattern"] == "^[0-9a-f]{64}$"
    assert "base64" in json.dumps(schema["properties"]["data"])
    assert "exactly one" in schema["description"]
    assert json.loads(text) == schema


def test_given_an_inline_ref_when_repr_then_the_bytes_are_summarised(build: type[Build]) -> None:
    ref = ImageRef.from_bytes(build.png(64, 64))
    assert f"<{len(ref.data or b'')} bytes>" in repr(ref)
    assert "\\x89PNG" not in repr(ref)


# -- from_bytes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("builder", "media_type"),
    [("png", "image/png"), ("jpeg", "image/jpeg"), ("webp", "image/webp")],
)
def test_given_small_image_bytes_when_from_bytes_then_inline_with_header_facts(
    build: type[Build], builder: str, media_type: str
) -> None:
    data = getattr(build, builder)(13, 7)
    ref = ImageRef.from_bytes(data)
    assert ref.is_inline and ref.uri is None and ref.data == data
    assert (ref.media_type, ref.width, ref.height) == (media_type, 13, 7)
    assert ref.sha256 == sha256_hex(data)


def test_given_bytes_at_or_under_the_inline_limit_when_from_bytes_then_inline_else_stored(
    build: type[Build], memory_store: ImageStore
) -> None:
    data = build.png(32, 32)
    at_limit = MediaLimits(max_inline_bytes=len(data))
    under_limit = MediaLimits(max_inline_bytes=len(data) - 1)

    inline = ImageRef.from_bytes(data, limits=at_limit, store=memory_store)
    stored = ImageRef.from_bytes(data, limits=under_limit, store=memory_store)

    assert inline.is_inline
    assert not stored.is_inline
    assert stored.uri is not None and stored.uri.startswith(memory_store.base_uri + "/")
    assert stored.model_dump(exclude={"uri", "data"}) == inline.model_dump(exclude={"uri", "data"})
    assert read_image_bytes(stored) == data


def test_given_a_large_image_and_a_file_store_when_from_bytes_then_stored_on_disk(
    build: type[Build], file_store: ImageStore
) -> None:
    data = build.png(32, 32)
    ref = ImageRef.from_bytes(data, limits=MediaLimits(max_inline_bytes=16), store=file_store)
    assert ref.uri is not None and ref.uri.startswith("file:///")
    assert read_image_bytes(ref) == data


def test_given_a_large_image_and_no_store_when_from_bytes_then_too_large_names_sizes(
    build: type[Build],
) -> None:
    data = build.png(32, 32)
    with pytest.raises(MediaTooLargeError, match=f"{len(data)} bytes.*inline limit of 16 bytes"):
        ImageRef.from_bytes(data, limits=MediaLimits(max_inline_bytes=16))


def test_given_bytes_over_max_bytes_when_from_bytes_then_too_large(
    build: type[Build], memory_store: ImageStore
) -> None:
    data = build.png(32, 32)
    limits = MediaLimits(max_inline_bytes=16, max_bytes=len(data) - 1)
    with pytest.raises(MediaTooLargeError, match=f"limit of {len(data) - 1} bytes"):
        ImageRef.from_bytes(data, limits=limits, store=memory_store)


def test_given_a_store_readers_may_not_fetch_when_from_bytes_then_configuration_error(
    build: type[Build], memory_store: ImageStore
) -> None:
    limits = MediaLimits(max_inline_bytes=16, allowed_uri_schemes=("s3",))
    with pytest.raises(ConfigurationError, match="'memory'"):
        ImageRef.from_bytes(build.png(32, 32), limits=limits, store=memory_store)


def test_given_a_store_outside_the_allowed_bases_when_from_bytes_then_configuration_error(
    build: type[Build], memory_store: ImageStore
) -> None:
    # Given readers that accept only another place: writing there would hand out unreadable URIs
    limits = MediaLimits(max_inline_bytes=16, allowed_uri_bases=(f"{memory_store.base_uri}-other",))
    with pytest.raises(ConfigurationError, match="outside the allowed bases"):
        ImageRef.from_bytes(build.png(32, 32), limits=limits, store=memory_store)


def test_given_a_tenant_when_from_bytes_to_a_store_then_the_uri_is_under_its_folder(
    build: type[Build], memory_store: ImageStore
) -> None:
    limits = MediaLimits(max_inline_bytes=16, allowed_uri_bases=(memory_store.base_uri,))
    ref = ImageRef.from_bytes(build.png(32, 32), limits=limits, store=memory_store, tenant="acme")
    assert ref.uri == f"{memory_store.base_uri}/acme/{ref.sha256[:2]}/{ref.sha256}.png"
    image_ref = ImageRef.from_image(build.image(32, 32), limits=limits, store=memory_store, tenant="acme")
    assert image_ref.uri is not None and image_ref.uri.startswith(f"{memory_store.base_uri}/acme/")


def test_given_bad_bytes_when_from_bytes_then_the_matching_media_error(build: type[Build]) -> None:
    with pytest.raises(UnsupportedMediaTypeError, match="image/gif"):
        ImageRef.from_bytes(build.gif())
    with pytest.raises(DecompressionBombError, match="30000x30000"):
        ImageRef.from_bytes(build.png_bomb())
    with pytest.raises(CorruptMediaError):
        ImageRef.from_bytes(build.png()[:-20])


# -- from_image ---------------------------------------------------------------------------


@pytest.mark.parametrize("media_type", ["image/png", "image/webp"])
def test_given_an_image_when_from_image_losslessly_then_pixels_survive(
    build: type[Build], media_type: str
) -> None:
    from swerve.media import decode_image

    image = build.image(16, 9)
    ref = ImageRef.from_image(image, media_type=media_type)
    assert ref.media_type == media_type and (ref.width, ref.height) == (16, 9)
    assert np.array_equal(np.asarray(decode_image(ref)), np.asarray(image))


def test_given_an_image_when_from_image_as_jpeg_then_a_jpeg_ref(build: type[Build]) -> None:
    ref = ImageRef.from_image(build.image(16, 9), media_type="image/jpeg")
    assert (ref.media_type, ref.width, ref.height) == ("image/jpeg", 16, 9)


def test_given_rgba_when_from_image_as_jpeg_then_unsupported_not_converted(
    build: type[Build],
) -> None:
    with pytest.raises(UnsupportedMediaTypeError, match=r"mode RGBA.*image/jpeg"):
        ImageRef.from_image(build.image(mode="RGBA"), media_type="image/jpeg")


def test_given_a_format_outside_the_allow_list_when_from_image_then_unsupported(
    build: type[Build],
) -> None:
    with pytest.raises(UnsupportedMediaTypeError, match="image/gif"):
        ImageRef.from_image(build.image(), media_type="image/gif")
    with pytest.raises(UnsupportedMediaTypeError, match="allow-list"):
        ImageRef.from_image(
            build.image(),
            media_type="image/webp",
            limits=MediaLimits(allowed_media_types=("image/png",)),
        )


def test_given_too_many_pixels_when_from_image_then_refused_before_encoding() -> None:
    with pytest.raises(DecompressionBombError, match="limit of 100 pixels"):
        ImageRef.from_image(Image.new("RGB", (20, 20)), limits=MediaLimits(max_pixels=100))
