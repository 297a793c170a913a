"""Fixtures of the gateway's tests: the integration suite's real broker, shared, and the
offline app (no broker) of ``harness``."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..integration.conftest import broker  # noqa: F401
from .harness import OfflineGateway


@pytest.fixture
def offline(tmp_path: Path) -> OfflineGateway:
    return OfflineGateway.in_folder(tmp_path)
