"""Fixtures of the SDK's integration tests: the integration suite's real broker, per-test
topics and worker processes, shared."""

from __future__ import annotations

from ..integration.conftest import broker, settings, start_worker, swerve_env  # noqa: F401
