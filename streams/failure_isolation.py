"""A bug on one sample fails only that sample: the batch is run again one sample at a time, and
the sample that still fails gets its stage's fail-closed outcome. A transient error (store,
broker) is raised for the caller to retry. Used by the workers' batch runner and by the
in-process ``Moderator``; faust-free."""

from __future__ import annotations

import logging
from typing import Callable, TypeVar

from swerve.streams.dependency_retry import is_transient
from swerve.streams.publication import Publication

__all__ = ["run_isolated"]

ItemT = TypeVar("ItemT")
log = logging.getLogger("swerve.agents")


def run_isolated(name: str, run: Callable[[list[ItemT]], list[list[Publication]]],
                 fail_closed: Callable[[ItemT, BaseException], list[Publication]], items: list[ItemT]) -> list[list[Publication]]:
    """``run(items)``; if it raises, run each item alone so only the failing one fails closed."""
    try:
        return run(items)
    except Exception as exc:  # noqa: BLE001 - a bug is isolated to its sample below
        if is_transient(exc):
            raise
        if len(items) == 1:
            log.exception("%s stage failed on one input; failing it closed", name)
            return [fail_closed(items[0], exc)]
        log.exception("%s stage failed on a batch of %d; running each input alone", name, len(items))
    outputs: list[list[Publication]] = []
    for item in items:
        try:
            outputs.extend(run([item]))
        except Exception as exc:  # noqa: BLE001 - fail closed for this sample only
            if is_transient(exc):
                raise
            log.exception("%s stage failed on one input; failing it closed", name)
            outputs.append(fail_closed(item, exc))
    return outputs
