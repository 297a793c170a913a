"""Loaded by a worker subprocess whose PYTHONPATH names this folder (tests only).

- ``SWERVE_TEST_FAIL_PUBLISH_AT=N``: the N-th publish of a batch raises an error no failure
  class covers, to prove the worker halts before faust can acknowledge that batch.
- ``SWERVE_TEST_STUCK_STORE_READS=1``: every read of a local image-store file blocks for good
  (a hung mount), to prove the fetch deadline holds on the reused read threads."""

from __future__ import annotations

import os

FAIL_AT = int(os.environ.get("SWERVE_TEST_FAIL_PUBLISH_AT", "0"))

if FAIL_AT > 0:
    from typing import Any

    from swerve.streams.publisher import Publisher

    original = Publisher.publish_batch
    calls = {"n": 0}

    async def failing_publish_batch(self: Publisher, groups: Any) -> None:
        calls["n"] += 1
        if calls["n"] == FAIL_AT:
            raise RuntimeError(f"injected fault: publish {FAIL_AT} raises something no failure class covers")
        await original(self, groups)

    Publisher.publish_batch = failing_publish_batch  # type: ignore[method-assign]

if os.environ.get("SWERVE_TEST_STUCK_STORE_READS") == "1":
    import threading

    import swerve.media.fetch as fetch

    never = threading.Event()

    def stuck_read(uri: str, path: str, max_bytes: int) -> bytearray:
        never.wait()
        raise AssertionError("unreachable: the event is never set")

    fetch._read_local = stuck_read
