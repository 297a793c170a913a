"""What a worker does about a broker outage or lost topics, decided from what the probe saw.

A worker must never idle with green probes: an outage that lasts, or topics it may not
recreate, end the process with a code from ``exit_codes`` so the orchestrator restarts it
and the alerts show why. This module only decides; ``broker_watch`` acts.
"""

from __future__ import annotations

import enum
from typing import Collection


class OutageAction(enum.Enum):
    """The one thing to do after a probe."""

    CARRY_ON = "carry_on"
    EXIT_TOPICS_LOST = "exit_topics_lost"
    EXIT_TOPICS_MISSING = "exit_topics_missing"
    EXIT_BROKER_DOWN = "exit_broker_down"


def outage_action(*, down_for_s: float | None, missing_topics: Collection[str], may_create_topics: bool,
                  broker_down_exit_s: float) -> OutageAction:
    """Decide what to do.

    Args:
        down_for_s: seconds the broker has been unreachable, None while it answers.
        missing_topics: swerve topics the broker did not list (only known while it answers).
        may_create_topics: ``SWERVE_WORKER_CREATE_TOPICS`` (whether the next start may create them).
        broker_down_exit_s: ``SWERVE_WORKER_BROKER_DOWN_EXIT_S``; 0 never exits for an outage.
    """
    if down_for_s is not None:
        if broker_down_exit_s > 0 and down_for_s >= broker_down_exit_s:
            return OutageAction.EXIT_BROKER_DOWN
        return OutageAction.CARRY_ON
    if missing_topics:
        return OutageAction.EXIT_TOPICS_LOST if may_create_topics else OutageAction.EXIT_TOPICS_MISSING
    return OutageAction.CARRY_ON
