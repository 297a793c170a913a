"""What the SDK's memory of recent outcomes costs per request (docs/operations.md, "The Python SDK").

Baseline beside swerve: one ``DeliveryEvent`` (delivered by URI, as a replacement with a reason)
held in memory, and the ``DeliveryCorrelator``'s own bookkeeping for 10,000 remembered requests,
both by ``tracemalloc``. An inline image adds its bytes on top.

    python benchmarks/sdk_cache_memory.py
"""

from __future__ import annotations

import tracemalloc
import uuid

from swerve.client.correlation import DeliveryCorrelator
from swerve.media import ImageRef
from swerve.streams.events import DeliveryEvent
from swerve.streams.ids import derive_id

REQUESTS = 10_000


def delivery() -> DeliveryEvent:
    request_id = str(uuid.uuid4())
    generation_id = derive_id(request_id, "generation")
    image = ImageRef(uri=f"file:///srv/images/default/{'a' * 64}.png", sha256="a" * 64, media_type="image/png",
                     width=512, height=512, size_bytes=400_000)
    return DeliveryEvent(id=derive_id(generation_id, "delivery"), request_id=request_id, generation_id=generation_id,
                         outcome="replacement", image=image, verdict_id=derive_id(generation_id, "verdict"),
                         replacement_id=derive_id(generation_id, "replacement"), policy_version="toyworld-1+0123456789ab",
                         reason="memorization flagged (score 0.97 >= 0.9); policy: correct")


def main() -> None:
    tracemalloc.start()
    events = [delivery() for _ in range(REQUESTS)]
    held = tracemalloc.get_traced_memory()[0]
    correlator = DeliveryCorrelator(REQUESTS)
    for event in events:
        correlator.watch(event.request_id)
        correlator.accept(event)
    bookkeeping = tracemalloc.get_traced_memory()[0] - held
    tracemalloc.stop()
    print(f"{REQUESTS} remembered requests, deliveries by URI")
    print(f"one DeliveryEvent held (baseline):   {held / REQUESTS:6.0f} bytes")
    print(f"the correlator's bookkeeping (swerve): {bookkeeping / REQUESTS:6.0f} bytes")
    print(f"per remembered request:             {(held + bookkeeping) / REQUESTS:6.0f} bytes")


if __name__ == "__main__":
    main()
