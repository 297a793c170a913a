"""Loaded by a worker subprocess whose PYTHONPATH names this folder (tests only): makes the
N-th publish of a batch raise an error no failure class covers, to prove the worker halts
before faust can acknowledge that batch. ``SWERVE_TEST_FAIL_PUBLISH_AT`` is N."""

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
