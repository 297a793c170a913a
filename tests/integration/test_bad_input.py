"""Given malformed messages of many kinds, when a worker consumes them, then each ends in the
DLQ with its origin and reason, the worker stays up, and good events still flow."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import struct
import zlib

import pytest
from PIL import Image

from swerve.streams.topic_io import collect, dlq_reason, publish_events, publish_raw
from swerve.streams.envelope import EncodedEvent, encode
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames

from .builders import generation, png_bytes
from .conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

MAX_BYTES = 256 * 1024


def bomb_png(width: int = 40000, height: int = 40000) -> bytes:
    """A valid-looking PNG header declaring 1.6 gigapixels, in a few dozen bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def event_with_image(index: int, data: bytes | None, *, uri: str | None = None, sha256: str | None = None,
                     width: int = 8, height: int = 8, media_type: str = "image/png") -> EncodedEvent:
    """A generation event whose image fields are set by hand, bypassing ImageRef's checks."""
    good = generation(index, "bad")
    body = json.loads(good.model_dump_json())
    body["image"] = {
        "media_type": media_type,
        "sha256": sha256 or hashlib.sha256(data or b"").hexdigest(),
        "width": width,
        "height": height,
        "data": base64.b64encode(data).decode() if data is not None else None,
        "uri": uri,
    }
    encoded = encode(good)
    return EncodedEvent(encoded.key, json.dumps(body).encode(), encoded.headers)


def gif_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, format="GIF")
    return buffer.getvalue()


def test_malformed_messages_go_to_dlq_with_reasons_and_the_worker_keeps_running(settings: Settings, start_worker) -> None:
    topics = TopicNames(settings.topic_prefix)
    good_header = encode(generation(0, "bad")).headers
    truncated = png_bytes(1, size=32)[:-20]
    # Given one message of each malformed kind, keyed so we can tell them apart
    bad: dict[str, tuple[EncodedEvent, str]] = {
        "invalid-json": (EncodedEvent(b"invalid-json", b'{"id": "x", ', good_header), "MalformedEventError"),
        "non-utf8": (EncodedEvent(b"non-utf8", b"\xff\xfe\xfa not text", good_header), "MalformedEventError"),
        "wrong-schema": (EncodedEvent(b"wrong-schema", json.dumps({"id": "x", "request_id": "r", "prompt": 3}).encode(), []), "SchemaViolationError"),
        "wrong-ce-type": (EncodedEvent(b"wrong-ce-type", encode(generation(2, "bad")).value, [("ce_type", b"dev.swerve.delivery.v1")]), "SchemaViolationError"),
        "truncated-png": (event_with_image(3, truncated, width=32, height=32), "CorruptMediaError"),
        "decompression-bomb": (event_with_image(4, bomb_png(), width=40000, height=40000), "DecompressionBombError"),
        "oversized": (event_with_image(5, b"\x89PNG" + b"\x00" * (MAX_BYTES + 10)), "MediaTooLargeError"),
        "unreachable-uri": (event_with_image(6, None, uri="file:///nonexistent/swerve/missing.png", sha256="0" * 64), "MediaUnreachableError"),
        "sha256-mismatch": (event_with_image(7, png_bytes(7), sha256="f" * 64), "MediaIntegrityError"),
        "unsupported-format": (event_with_image(8, gif_bytes(), media_type="image/png"), "UnsupportedMediaTypeError"),
    }
    # ... keyed by kind so each can be found in the DLQ
    messages = [EncodedEvent(kind.encode(), message.value, message.headers) for kind, (message, _) in bad.items()]
    worker = start_worker(SWERVE_MEDIA_MAX_BYTES=str(MAX_BYTES), SWERVE_MEDIA_MAX_INLINE_BYTES=str(MAX_BYTES))

    # When they are consumed, followed by good events
    asyncio.run(publish_raw(settings, topics.generations, messages))
    good = [generation(100 + i, "bad") for i in range(5)]
    asyncio.run(publish_events(settings, "generations", good))

    # Then every bad message is in the DLQ, with its origin and the error that explains it
    def dead_letters() -> dict[str, dict[str, str]]:
        records = asyncio.run(collect(settings, topics.dlq, idle_timeout_s=0.5))
        return {(r.key or b"").decode(): {**dlq_reason(r), "value_kept": str(r.value == next(m.value for m in messages if m.key == r.key))} for r in records}

    assert wait_until(lambda: set(dead_letters()) >= set(bad), timeout_s=60), worker.log_tail()
    letters = dead_letters()
    for kind, (_, error_class) in bad.items():
        letter = letters[kind]
        assert letter["error_class"] == error_class, (kind, letter)
        assert letter["origin_topic"] == topics.generations
        assert int(letter["origin_offset"]) >= 0 and int(letter["origin_partition"]) >= 0
        assert letter["error_message"], kind
        assert letter["value_kept"] == "True", kind
    # ... the worker is still running, and the good events were delivered as they were
    delivered = lambda: {r.decoded(settings.topic_prefix).request_id for r in asyncio.run(collect(settings, topics.delivery, idle_timeout_s=0.5))}  # noqa: E731
    assert wait_until(lambda: delivered() >= {g.request_id for g in good}, timeout_s=60), worker.log_tail()
    assert worker.alive
    assert len(letters) == len(bad), "no good event may end in the DLQ"
