"""Fixtures of the security suite: the integration suite's real broker and worker subprocesses."""

from __future__ import annotations

from ..integration.conftest import broker, settings, start_worker, swerve_env  # noqa: F401
