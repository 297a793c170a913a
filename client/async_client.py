"""``Swerve``: the asyncio client that moderates images through a running swerve deployment.

One client holds one producer (to ``<prefix>.generations``) and one consumer of
``<prefix>.delivery`` shared by every call, however many run at once. A call publishes a
generation event keyed by its request id and waits for the first delivery with that id; the
correlation, the dedupe by event id and the bounded memory of recent outcomes live in
``swerve.client.correlation``.

A call that times out raises ``ModerationTimeoutError``: the request was published and stays
watched, so ``outcome(request_id)`` returns it once it comes. For a request this client never
watched (another process published it), ``outcome`` scans the delivery topic from its beginning
(``swerve.client.delivery_scan``).

Generations are published inside a ``swerve.sdk.publish`` span of the application's tracer
provider, and each carries the ``traceparent`` OpenTelemetry's propagator writes for the
current span: the application's trace when it traces, else a new trace per generation.

This module must never commit offsets, nor open a consumer per call.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Mapping, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from swerve.errors import BrokerUnavailableError, SwerveError
from swerve.media import ImageStore
from swerve.streams.envelope import encode
from swerve.streams.events import DeliveryEvent, GenerationEvent
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames
from swerve.streams.tracing import tracer

from swerve.client.correlation import DEFAULT_CAPACITY, DeliveryCorrelator, timeout_error, wait_for_delivery
from swerve.client.delivery_consumer import DeliveryConsumer
from swerve.client.delivery_scan import find_delivery
from swerve.client.image_input import ImageInput
from swerve.client.outcome import Outcome
from swerve.client.request import ModerationRequest, generation_event

__all__ = ["SDK_SOURCE", "Swerve"]

#: The CloudEvents source of the generations the SDK publishes.
SDK_SOURCE = "/swerve/sdk"


class Swerve:
    """Moderates generated images through swerve; an async context manager.

    ::

        async with Swerve() as swerve:
            outcome = await swerve.moderate(png_bytes, prompt="a red star", seed=7)

    Args:
        settings (`Settings`, *optional*): the broker, topic prefix, image store and media
            limits; ``Settings.from_env()`` when not given. The image store must be one the
            workers can read (it is the claim-check store for images over the inline limit).
        cache_size (`int`, *optional*, defaults to 10,000): how many recent requests, with
            their outcomes, the client remembers for ``outcome()``. Each remembered outcome
            keeps its image when it travelled inline, up to ``SWERVE_MEDIA_MAX_INLINE_BYTES``.
    """

    def __init__(self, settings: Settings | None = None, *, cache_size: int = DEFAULT_CAPACITY) -> None:
        self.settings = settings if settings is not None else Settings.from_env()
        self.topics = TopicNames(self.settings.topic_prefix)
        self._store = ImageStore(self.settings.image_store_uri)
        self._correlator = DeliveryCorrelator(cache_size)
        self._consumer = DeliveryConsumer(self.settings, self._correlator.accept, self._reader_stopped)
        self._producer: Any = None

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the delivery consumer, then the producer. Does nothing when already started.

        Raises:
            ConfigurationError: ``<prefix>.delivery`` does not exist, or a setting is wrong.
            KafkaError: the broker cannot be reached.
        """
        if self._producer is not None:
            return
        # 1. the consumer first: its end is pinned before anything is published, so no
        #    delivery of ours can come before it reads
        await self._consumer.start()
        # 2. the producer
        compression = self.settings.kafka.compression_type
        producer = AIOKafkaProducer(
            acks="all",
            compression_type=None if compression == "none" else compression,
            max_request_size=self.settings.media.max_bytes + 1024 * 1024,
            request_timeout_ms=int(self.settings.kafka.request_timeout_s * 1000),
            **self.settings.kafka.aiokafka_kwargs(),
        )
        try:
            await producer.start()
        except BaseException:
            await self._consumer.stop()
            raise
        self._producer = producer

    async def close(self) -> None:
        """Cancel the calls still waiting, and close the consumer and the producer."""
        self._correlator.cancel_waiters()
        producer, self._producer = self._producer, None
        await self._consumer.stop()
        if producer is not None:
            await producer.stop()

    async def __aenter__(self) -> Swerve:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()

    # -- moderation -------------------------------------------------------------------------

    async def moderate(
        self,
        image: ImageInput,
        *,
        prompt: str,
        seed: int | None = None,
        tenant: str | None = None,
        negative_prompt: str | None = None,
        model_id: str | None = None,
        request_id: str | None = None,
        timeout: float = 30.0,
    ) -> Outcome:
        """Publish one generated image and wait for its outcome.

        Args:
            image (`PIL.Image.Image | bytes | ImageRef | str`): the generated image: a Pillow
                image (sent as PNG), encoded PNG/JPEG/WebP bytes, an ``ImageRef``, or the URI
                of an image under an allowed base. Over the inline limit it is written to the
                image store and travels by reference.
            prompt (`str`): the prompt that produced it.
            seed (`int`, *optional*): the generator's seed.
            tenant (`str`, *optional*, defaults to ``"default"``): whose rules judge it.
            negative_prompt (`str`, *optional*): the negative prompt, if any.
            model_id (`str`, *optional*): the generator that made it.
            request_id (`str`, *optional*): the request's id; a uuid4 when not given. A request
                id names one request: one already delivered returns its remembered outcome.
            timeout (`float`, *optional*, defaults to 30.0): seconds to wait for the outcome
                once the broker acknowledged the generation.

        Raises:
            ModerationTimeoutError: no outcome in time; ``outcome(e.request_id)`` asks again.
            SchemaViolationError, MediaError, TypeError, ValueError: the input is invalid;
                nothing was published.
            BrokerUnavailableError: the broker did not acknowledge the generation, or the
                delivery reader stopped.
            StoreUnavailableError: the image store did not answer.
        """
        request = ModerationRequest(
            image=image, prompt=prompt, seed=seed, tenant=tenant, negative_prompt=negative_prompt,
            model_id=model_id, request_id=request_id,
        ).with_request_id()
        self._check_timeout(timeout)
        [generation] = await self._publish([request])
        delivery = await wait_for_delivery(self._correlator, generation.request_id, timeout, event_id=generation.id)
        return await self._outcome_of(delivery)

    async def moderate_many(
        self, items: Sequence[ModerationRequest | Mapping[str, Any]], *, timeout: float = 30.0
    ) -> list[Outcome | SwerveError]:
        """Publish every item, then wait for all their outcomes.

        Every item is checked and built before anything is published: an invalid one raises
        and publishes nothing. After that, each item gets its own result, in order: its
        ``Outcome`` (a blocked or rejected image is an outcome like any other), or the
        ``SwerveError`` that kept it from one: ``ModerationTimeoutError`` (ask again with
        ``outcome(error.request_id)``), a ``MediaError`` or ``StoreUnavailableError`` reading
        its delivered image, or ``BrokerUnavailableError`` when the delivery reader stopped.

        Args:
            items (`Sequence[ModerationRequest | Mapping]`): the requests; a mapping has the
                keyword arguments of ``moderate`` (``image``, ``prompt``, ``seed``, ...).
            timeout (`float`, *optional*, defaults to 30.0): seconds to wait for all outcomes
                once the broker acknowledged every generation (one deadline for the batch).

        Raises:
            SchemaViolationError, MediaError, TypeError, ValueError: an item is invalid, or
                two items share a request id; nothing was published.
            BrokerUnavailableError: the broker did not acknowledge the generations.
        """
        requests = [ModerationRequest.of(item).with_request_id() for item in items]
        seen: set[str] = set()
        for request in requests:
            assert request.request_id is not None  # with_request_id() set it
            if request.request_id in seen:
                raise ValueError(f"two items share the request id {request.request_id!r}")
            seen.add(request.request_id)
        self._check_timeout(timeout)
        generations = await self._publish(requests)
        return list(await asyncio.gather(*(self._settle(generation, timeout) for generation in generations)))

    async def outcome(self, request_id: str, *, timeout: float = 30.0, scan: bool = True) -> Outcome:
        """The outcome of ``request_id``: remembered, else waited for.

        A request this client published (or asked for) is remembered when its delivery comes,
        even after its ``moderate`` call timed out. For one it does not watch (published by
        another process, or forgotten past ``cache_size``), it first scans
        ``<prefix>.delivery`` from the beginning with a separate short-lived consumer
        (``scan=True``): that reads every retained delivery record, so it costs in proportion
        to the topic's retention. Then it waits for a delivery to come.

        Args:
            request_id (`str`): the request.
            timeout (`float`, *optional*, defaults to 30.0): seconds for the scan and the wait.
            scan (`bool`, *optional*, defaults to `True`): whether an unwatched request may
                be looked for in the topic's past.

        Raises:
            ModerationTimeoutError: no outcome in time.
            MediaError, StoreUnavailableError: the delivered image cannot be read.
            BrokerUnavailableError: the delivery reader stopped.
        """
        self._check_started()
        self._check_timeout(timeout)
        remembered = self._correlator.delivery_of(request_id)
        if remembered is not None:
            return await self._outcome_of(remembered)
        must_scan = scan and not self._correlator.watches(request_id)
        future = self._correlator.waiter(request_id)
        try:
            async with asyncio.timeout(timeout) as deadline:
                if must_scan and not future.done():
                    found = await find_delivery(self.settings, request_id)
                    if found is not None:
                        self._correlator.accept(found)
                delivery = await future
        except TimeoutError:
            if deadline.expired():
                raise timeout_error(request_id, timeout) from None
            raise
        finally:
            self._correlator.discard(request_id, future)
        return await self._outcome_of(delivery)

    # -- steps --------------------------------------------------------------------------------

    async def _publish(self, requests: Sequence[ModerationRequest]) -> list[GenerationEvent]:
        """Build every generation, watch its request, publish those not yet delivered."""
        self._check_started()
        # 1. build (blocking: encoding, the image store, a URI image)
        generations = await asyncio.to_thread(
            lambda: [generation_event(request, limits=self.settings.media, store=self._store) for request in requests]
        )
        # 2. watch before publishing, so no delivery can come unwatched
        for generation in generations:
            self._correlator.watch(generation.request_id)
        pending = [g for g in generations if self._correlator.delivery_of(g.request_id) is None]
        # 3. publish, and wait for every acknowledgement; each traceparent comes from the current span
        attributes: dict[str, AttributeValue] = {"messaging.system": "kafka", "messaging.destination.name": self.topics.generations,
                      "messaging.batch.message_count": len(pending)}
        try:
            with tracer().start_as_current_span("swerve.sdk.publish", kind=SpanKind.PRODUCER, attributes=attributes):
                acknowledgements = []
                for generation in pending:
                    encoded = encode(generation, source=SDK_SOURCE)
                    acknowledgements.append(
                        await self._producer.send(self.topics.generations, key=encoded.key, value=encoded.value, headers=encoded.headers)
                    )
                await asyncio.gather(*acknowledgements)
        except KafkaError as exc:
            first = pending[0].request_id if pending else None
            raise BrokerUnavailableError(
                f"the broker did not acknowledge {len(pending)} generation(s) (first request {first!r}) "
                f"on {self.topics.generations}: {type(exc).__name__}: {exc}",
                stage="publish",
            ) from exc
        return generations

    async def _settle(self, generation: GenerationEvent, timeout: float) -> Outcome | SwerveError:
        """One batch item's outcome, or the swerve error that kept it from one."""
        try:
            delivery = await wait_for_delivery(self._correlator, generation.request_id, timeout, event_id=generation.id)
            return await self._outcome_of(delivery)
        except SwerveError as error:
            return error

    async def _outcome_of(self, delivery: DeliveryEvent) -> Outcome:
        # Reading a referenced image is blocking I/O (fsspec): off the event loop.
        return await asyncio.to_thread(Outcome.from_delivery, delivery, limits=self.settings.media, store=self._store)

    def _reader_stopped(self, error: BaseException) -> None:
        self._correlator.fail_waiters(self._reader_error(error))

    def _reader_error(self, error: BaseException) -> BrokerUnavailableError:
        failure = BrokerUnavailableError(
            f"the reader of {self._consumer.topic} stopped ({type(error).__name__}: {error}); "
            "outcomes cannot arrive: close this client and open a new one",
            stage="delivery",
        )
        failure.__cause__ = error
        return failure

    def _check_started(self) -> None:
        if self._producer is None:
            raise RuntimeError("the Swerve client is not started: use `async with Swerve(...)` or `await swerve.start()`")
        failure = self._consumer.failure
        if failure is not None:
            raise self._reader_error(failure)

    @staticmethod
    def _check_timeout(timeout: float) -> None:
        if not timeout >= 0:
            raise ValueError(f"timeout must be a number of seconds >= 0, got {timeout!r}")
