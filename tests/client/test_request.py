"""What a caller hands the SDK, checked and turned into the generation event it publishes,
before anything touches a broker."""

from __future__ import annotations

import asyncio
import io
import uuid
from pathlib import Path

import pytest
from PIL import Image

from swerve.client import ModerationRequest, Swerve, SwerveSync
from swerve.client.request import generation_event
from swerve.errors import MediaUnreachableError, SchemaViolationError
from swerve.media import ImageRef, ImageStore, MediaLimits, sha256_hex
from swerve.streams.ids import derive_id
from swerve.streams.settings import Settings

from .builders import png


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore((tmp_path / "images").as_uri())


@pytest.fixture
def limits(store: ImageStore) -> MediaLimits:
    # 512 bytes: an 8 px noise PNG (268 bytes) travels inline, a 32 px one (3 KiB) by reference.
    return MediaLimits(max_inline_bytes=512, allowed_uri_bases=(store.base_uri,))


def test_given_no_request_id_then_a_uuid4_is_generated_and_the_event_id_derives_from_it(limits: MediaLimits, store: ImageStore) -> None:
    request = ModerationRequest(image=png(1), prompt="a red star", seed=7).with_request_id()
    assert request.request_id is not None and uuid.UUID(request.request_id).version == 4

    event = generation_event(request, limits=limits, store=store)

    assert event.id == derive_id(request.request_id, "generation")
    assert (event.prompt, event.seed, event.tenant) == ("a red star", 7, "default")
    assert event.image.is_inline and event.image.data == png(1)


def test_given_a_request_id_then_it_is_kept() -> None:
    request = ModerationRequest(image=png(1), prompt="p", request_id="mine-1")
    assert request.with_request_id() is request


def test_given_a_pil_image_then_it_travels_as_lossless_png(limits: MediaLimits, store: ImageStore) -> None:
    picture = Image.new("RGB", (4, 3), (10, 20, 30))
    event = generation_event(ModerationRequest(image=picture, prompt="p", request_id="r"), limits=limits, store=store)

    assert (event.image.media_type, event.image.width, event.image.height) == ("image/png", 4, 3)
    assert event.image.data is not None and Image.open(io.BytesIO(event.image.data)).getpixel((0, 0)) == (10, 20, 30)


def test_given_bytes_over_the_inline_limit_then_they_go_to_the_store_under_the_tenant(limits: MediaLimits, store: ImageStore) -> None:
    data = png(2, size=32)
    event = generation_event(ModerationRequest(image=data, prompt="p", tenant="acme", request_id="r"), limits=limits, store=store)

    assert not event.image.is_inline and event.image.uri is not None
    assert event.image.uri.startswith(f"{store.base_uri}/acme/") and event.image.sha256 == sha256_hex(data)


def test_given_the_uri_of_an_allowed_image_then_the_event_carries_that_uri_with_its_digest(limits: MediaLimits, store: ImageStore) -> None:
    data = png(3, size=32)
    stored = ImageRef.from_bytes(data, limits=limits, store=store)
    assert stored.uri is not None

    event = generation_event(ModerationRequest(image=stored.uri, prompt="p", request_id="r"), limits=limits, store=store)

    assert event.image.uri == stored.uri
    assert (event.image.sha256, event.image.width, event.image.height) == (sha256_hex(data), 32, 32)


def test_given_a_uri_outside_the_allowed_bases_then_refused_before_reading(limits: MediaLimits, store: ImageStore, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.png"
    elsewhere.write_bytes(png(4))

    with pytest.raises(MediaUnreachableError, match="outside the allowed"):
        generation_event(ModerationRequest(image=elsewhere.as_uri(), prompt="p", request_id="r"), limits=limits, store=store)


@pytest.mark.parametrize(("image", "error"), [("out.png", ValueError), (12, TypeError)])
def test_given_an_image_of_no_accepted_kind_then_a_message_saying_what_is_accepted(
    image: object, error: type[Exception], limits: MediaLimits, store: ImageStore
) -> None:
    with pytest.raises(error, match="URI"):
        generation_event(ModerationRequest(image=image, prompt="p", request_id="r"), limits=limits, store=store)  # type: ignore[arg-type]


def test_given_a_prompt_over_the_contract_then_a_schema_violation_naming_it(limits: MediaLimits, store: ImageStore) -> None:
    with pytest.raises(SchemaViolationError, match="prompt"):
        generation_event(ModerationRequest(image=png(1), prompt="x" * 5000, request_id="r"), limits=limits, store=store)


def test_given_a_mapping_then_a_request_and_an_unknown_key_is_refused() -> None:
    assert ModerationRequest.of({"image": b"x", "prompt": "p", "seed": 3}).seed == 3
    with pytest.raises(TypeError, match="promt"):
        ModerationRequest.of({"image": b"x", "promt": "p"})


def test_given_a_client_not_started_then_calls_say_how_to_start_it(tmp_path: Path) -> None:
    settings = Settings(image_store_uri=(tmp_path / "images").as_uri())

    with pytest.raises(RuntimeError, match="async with Swerve"):
        asyncio.run(Swerve(settings).moderate(png(1), prompt="p"))
    with pytest.raises(RuntimeError, match="with SwerveSync"):
        SwerveSync(settings).outcome("r")


def test_given_a_batch_with_one_request_id_twice_then_refused_before_anything_is_published(tmp_path: Path) -> None:
    swerve = Swerve(Settings(image_store_uri=(tmp_path / "images").as_uri()))
    items = [{"image": png(1), "prompt": "a", "request_id": "same"}, {"image": png(2), "prompt": "b", "request_id": "same"}]

    with pytest.raises(ValueError, match="'same'"):
        asyncio.run(swerve.moderate_many(items))
