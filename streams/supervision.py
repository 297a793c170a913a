"""Stops the worker at once, before faust can acknowledge the input in hand.

faust acknowledges a batch taken with ``take_events`` in the generator's ``finally``, even
when the agent body raised, and its supervisor then restarts the agent: the batch would be
committed with no outcome published. So an agent never lets an exception escape. It calls
``halt``, which logs one critical line and ends the process with ``os._exit``: no
``finally`` runs, nothing more is acknowledged or committed, and the input is consumed
again by whichever worker takes the partition next. Offsets committed earlier only cover
inputs whose outputs the broker had acknowledged.

This module must never be called for a failure that is handled per sample (bad input, a
bug on one sample, GPU memory): those have outcomes of their own.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn

log = logging.getLogger("swerve.supervision")


def halt(code: int, reason: str, error: BaseException | None = None) -> NoReturn:
    """Log why, flush the logs, and end the process with ``code`` (see ``exit_codes``)."""
    log.critical("stopping the worker without committing its input (exit %d): %s", code, reason, exc_info=error)
    for handler in logging.getLogger().handlers + log.handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
