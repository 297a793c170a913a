"""Per-event cost of swerve's CloudEvents envelope vs the ``cloudevents`` package's Kafka binding.

Why this exists: ``streams/envelope.py`` writes the CloudEvents Kafka binding (binary mode) by
hand. This measures what adopting ``cloudevents.core.bindings.kafka`` (``to_binary`` /
``from_binary``, the JSON format and the v1.0 ``CloudEvent``) would cost per event, on the same
``GenerationEvent`` (a 64x64 PNG by ``file://`` reference, as in ``stream_throughput.py``),
and whether it keeps swerve's poison-message contract (a named error for each kind of bad
input, headers optional). The cloudevents side is written as swerve would use it: the body is
serialized by pydantic and handed over as bytes (``to_binary`` passes bytes through), and the
decoded data is validated by the same contract model.

    pip install cloudevents   # not a swerve dependency
    python benchmarks/envelope_codec.py [--number 20000]
"""

from __future__ import annotations

import argparse
import json
import timeit
from typing import Any, Callable

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from swerve.errors import InvalidInputError
from swerve.media import ImageRef
from swerve.streams.envelope import CE_SOURCE, CE_SPECVERSION, CONTENT_TYPE, Headers, decode, encode
from swerve.streams.events import GenerationEvent
from swerve.streams.ids import derive_id

FORMAT = JSONFormat()
TRACEPARENT = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"


def generation() -> GenerationEvent:
    image = ImageRef(media_type="image/png", sha256="a" * 64, width=64, height=64, size_bytes=180,
                     uri=f"file:///srv/swerve/images/default/aa/{'a' * 64}.png")
    return GenerationEvent(id=derive_id("bench-1", "generation"), request_id="bench-1", prompt="a red star on a blue field",
                           seed=7, model_id="toyworld-ldm", image=image)


def encode_with_cloudevents(event: GenerationEvent) -> tuple[bytes, bytes, Headers]:
    attributes = {"specversion": CE_SPECVERSION, "id": event.id, "type": event.ce_type, "source": CE_SOURCE,
                  "time": event.created_at, "subject": event.request_id, "datacontenttype": CONTENT_TYPE}
    message = to_binary(CloudEvent(attributes, event.model_dump_json().encode()), FORMAT,
                        key_mapper=lambda _: event.request_id.encode())
    assert isinstance(message.key, bytes)
    return message.key, message.value, [*message.headers.items(), ("traceparent", TRACEPARENT.encode())]


def decode_with_cloudevents(value: bytes, headers: Headers) -> GenerationEvent:
    cloud_event = from_binary(KafkaMessage(headers=dict(headers), key=None, value=value), FORMAT, CloudEvent)
    return GenerationEvent.model_validate(cloud_event.get_data())


def per_event_us(call: Callable[[], Any], number: int) -> float:
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e6


def outcome(call: Callable[[], Any]) -> str:
    try:
        result = call()
    except InvalidInputError as exc:
        return f"{type(exc).__name__} (named)"
    except Exception as exc:  # the point is to see what leaks out of the library  # noqa: BLE001
        return f"{type(exc).__name__}: {str(exc)[:60]!r}"
    return f"accepted as {type(result).__name__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000, help="events per timing run (best of 5 runs)")
    args = parser.parse_args()
    event = generation()
    ours = encode(event, traceparent=TRACEPARENT)
    key, value, headers = encode_with_cloudevents(event)
    assert decode(ours.value, ours.headers, GenerationEvent) == decode_with_cloudevents(value, headers) == event

    print(f"GenerationEvent by reference, {len(ours.value)} byte body, best of 5 x {args.number}")
    rows = [
        ("encode", lambda: encode(event, traceparent=TRACEPARENT), lambda: encode_with_cloudevents(event)),
        ("decode", lambda: decode(ours.value, ours.headers, GenerationEvent), lambda: decode_with_cloudevents(value, headers)),
    ]
    for name, swerve_call, cloudevents_call in rows:
        mine, theirs = per_event_us(swerve_call, args.number), per_event_us(cloudevents_call, args.number)
        print(f"  {name}: swerve {mine:6.1f} us/event, cloudevents {theirs:6.1f} us/event ({theirs / mine:.2f}x)")

    print("poison messages (swerve / cloudevents binding):")
    body = json.loads(ours.value)
    cases = {
        "no ce_* headers (allowed)": (ours.value, []),
        "value not UTF-8": (b"\xff\xfe", ours.headers),
        "value not JSON": (b"{not json", ours.headers),
        "JSON nested too deeply": (b"[" * 200_000 + b"]" * 200_000, ours.headers),
        "header not UTF-8": (ours.value, [*ours.headers[:-1], ("traceparent", b"\xff")]),
        "ce_time not a time": (ours.value, [(n, b"yesterday" if n == "ce_time" else v) for n, v in ours.headers]),
        "schema violation": (json.dumps({**body, "seed": -1}).encode(), ours.headers),
    }
    for name, (raw, raw_headers) in cases.items():
        print(f"  {name}: {outcome(lambda: decode(raw, raw_headers, GenerationEvent))} / "
              f"{outcome(lambda: decode_with_cloudevents(raw, raw_headers))}")


if __name__ == "__main__":
    main()
