"""faust's aiokafka transport, with the group consumer's fetch wait set by swerve.

faust creates each worker's group consumer with ``fetch_max_wait_ms=1500``, fixed in its code
(``faust/transport/drivers/aiokafka.py``, ``_create_worker_consumer``), with no setting to
change it. On the embedded broker, which answers a long-polling fetch late, that wait is most
of a clean image's latency (docs/results.md, "Clean-path latency"). ``SwerveApp`` builds its
transport from the subclasses below, which set ``SWERVE_WORKER_FETCH_MAX_WAIT_MS`` on the
consumer after faust creates it and before it starts (aiokafka reads the value when ``start``
builds its fetcher). Nothing else of faust's consumer changes.
"""

from __future__ import annotations

from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

__all__ = ["SwerveApp"]


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):  # type: ignore[misc]
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer: aiokafka.AIOKafkaConsumer = super()._create_worker_consumer(transport)
        # A private attribute of aiokafka's consumer: faust passes 1500 and offers no setting.
        consumer._fetch_max_wait_ms = self.app.fetch_max_wait_ms
        return consumer


class _Consumer(faust_aiokafka.Consumer):  # type: ignore[misc]
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):  # type: ignore[misc]
    Consumer = _Consumer


class SwerveApp(faust.App):  # type: ignore[misc]
    """A faust app whose group consumer long-polls for ``fetch_max_wait_ms``.

    Args:
        *args, **kwargs: as ``faust.App``.
        fetch_max_wait_ms (`int`): the consumer's fetch wait (faust's own is 1500).
    """

    def __init__(self, *args: Any, fetch_max_wait_ms: int, **kwargs: Any) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> _Transport:
        return _Transport(self.conf.broker_consumer, self)
