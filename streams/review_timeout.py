"""The review timeout: an item nobody decided by its deadline is resolved to its
``timeout_decision`` (``block``) by the reviewer ``swerve:review-timeout``, so no request waits
forever.

The worker does not deliver a timed-out item itself. It publishes a timeout decision to
``<prefix>.review.decisions``, and the review agent applies it like any reviewer's
(``review_decisions``): one path for delivery and audit, and one order, the decisions log's,
between a person deciding at the last second and the timeout. Whichever is first in the log
wins; the other is refused.

It runs as a faust timer (``app.timer``) in every worker of the detect role: faust starts and
stops it with the app, and a restarted worker picks up where the log is, since the deadline
is in each item and the state is rebuilt from the topics. Several workers may publish the same
item's timeout decision: its id derives from the item's, so they are one decision and its
outputs dedupe. A tick first waits until the worker's state is caught up with both topics, so a
worker that just started never times out an item it has not yet seen decided.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Awaitable, Callable

from swerve.errors import ConfigurationError
from swerve.streams import exit_codes
from swerve.streams.dependency_retry import is_transient
from swerve.streams.events import ReviewDecisionEvent, ReviewItemEvent, utc_now
from swerve.streams.metrics import TRANSIENT_RETRIES
from swerve.streams.policy import Policy
from swerve.streams.publication import Publication
from swerve.streams.review_log import TIMEOUT_REVIEWER, timeout_decision_id
from swerve.streams.review_reader import ReviewLogReader
from swerve.streams.settings import Settings
from swerve.streams.supervision import halt

log = logging.getLogger("swerve.review")

# Publishes decisions and returns once the broker acknowledged them (``Publisher.publish``).
PublishDecisions = Callable[[list[Publication]], Awaitable[None]]


def timeout_decision(item: ReviewItemEvent, now: datetime) -> ReviewDecisionEvent:
    """The decision that resolves ``item`` at ``now`` (at or after its deadline)."""
    return ReviewDecisionEvent(
        id=timeout_decision_id(item),
        request_id=item.request_id,
        tenant=item.tenant,
        item_id=item.id,
        decision=item.timeout_decision,
        reviewer=TIMEOUT_REVIEWER,
        note=f"no reviewer decided by the deadline {item.deadline.isoformat()} (waiting since {item.waiting_since.isoformat()})",
        created_at=now,
    )


class ReviewTimeouts:
    """Publishes the timeout decision of every overdue item, once per item per process.

    Args:
        reader: the worker's reader of the review topics.
        publish: sends decisions and awaits their acknowledgement.
    """

    def __init__(self, reader: ReviewLogReader, publish: PublishDecisions):
        self.reader = reader
        self.publish = publish
        self._fired: set[str] = set()  # item ids whose timeout decision this process published
        self._skipping = False  # the broker did not answer the last tick: logged once per outage

    async def tick(self, now: datetime | None = None) -> list[ReviewDecisionEvent]:
        """Publish the timeout decisions of the items overdue at ``now`` (default: the clock); return them."""
        await self.reader.caught_up()
        moment = now or utc_now()
        overdue = self.reader.state.overdue(moment)
        for item in overdue:
            if item.id in self._fired:
                # Published and acknowledged before this tick's catch-up, yet still pending: it did not count.
                log.error("the timeout decision %s of request %s was published but does not settle it", timeout_decision_id(item), item.request_id)
        decisions = [timeout_decision(item, moment) for item in overdue if item.id not in self._fired]
        if decisions:
            await self.publish([Publication("review_decisions", decision) for decision in decisions])
            log.info("review timeout: resolving %d overdue item(s) to their timeout decision", len(decisions))
        self._fired = {item.id for item in overdue}
        return decisions

    async def tick_or_halt(self) -> None:
        """One tick for the faust timer. A broker that does not answer skips the tick: nothing is
        in hand, the items stay pending, and the next tick tries again (a broker outage is the
        broker watch's to act on: ``SWERVE_WORKER_BROKER_DOWN_EXIT_S``). Anything unforeseen
        stops the worker (exit 70) rather than leave the timeouts silently dead."""
        try:
            await self.tick()
        except Exception as exc:  # noqa: BLE001 - transient: skip this tick; anything else halts
            if not is_transient(exc):
                halt(exit_codes.UNFORESEEN, f"review timeout: unforeseen {type(exc).__name__}", exc)
            TRANSIENT_RETRIES.labels(step="review.timeout").inc()
            log.log(logging.DEBUG if self._skipping else logging.WARNING,
                    "review timeout: the broker did not answer (%s: %s); skipping ticks until it does", type(exc).__name__, exc)
            self._skipping = True
            return
        if self._skipping:
            log.info("review timeout: the broker answers again; overdue items are resolved")
            self._skipping = False


def check_review_retention(policy: Policy, settings: Settings) -> None:
    """Refuse to start when an item could leave the review topics before its timeout resolves it.

    Raises:
        ConfigurationError: the policy's longest review timeout is not shorter than
            ``SWERVE_WORKER_REVIEW_RETENTION_H``.
    """
    retention_s = settings.worker.review_retention_h * 3600
    if policy.uses_review and policy.longest_review_timeout_s() >= retention_s:
        raise ConfigurationError(
            f"the policy's longest review_timeout_s ({policy.longest_review_timeout_s():g} s) must be shorter than "
            f"SWERVE_WORKER_REVIEW_RETENTION_H ({settings.worker.review_retention_h:g} h), or pending items could be "
            "deleted from the review topics before they resolve"
        )
