"""The worker's logging: faust's terminal spinner stays off, so the root logger keeps the level asked for.

faust draws a spinner at WARNING and above by lowering the root logger to DEBUG (every
library's debug record was then built on every send) and writing cursor escapes into the log
stream (a JSON-line reader saw garbage). The worker turns it off.
"""

from __future__ import annotations

import io
import logging
from typing import Iterator

import pytest
from swerve.streams.app import create_app
from swerve.streams.json_logs import logging_config
from swerve.streams.settings import Settings
from swerve.streams.worker import SwerveWorker


@pytest.fixture
def restored_root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("level", ["warning", "error"])
def test_given_a_quiet_log_level_when_the_worker_sets_up_logging_then_root_stays_there_and_debug_is_not_built(
        restored_root_logger: logging.Logger, level: str) -> None:
    stdout = io.StringIO()
    worker = SwerveWorker(create_app(Settings.from_env({})), repeated_records=logging.Filter(), loglevel=level,
                          logging_config=logging_config(level), stdout=stdout, redirect_stdouts=False)
    worker._setup_logging()  # what faust's start-up runs: dictConfig, then on_setup_root_logger
    assert worker.spinner is None
    assert restored_root_logger.level == logging.getLevelName(level.upper())
    assert not logging.getLogger("faust.topics").isEnabledFor(logging.DEBUG)
    assert "\x1b" not in stdout.getvalue()
