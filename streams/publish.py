"""Publishing a handler's outputs: every record handed to the producer at once, then each
delivery awaited (acks=all) before the handler returns and its input is acknowledged.

Records go straight to the worker's producer, not through Faust's ``Topic.send``: that path
builds a pending message, a future and a sensor callback per record (about 5% of the
worker's CPU in ``bench/pipe.py``) for nothing we use.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple, Protocol

from aiokafka.errors import KafkaError
from faust.exceptions import ProducerSendError

log = logging.getLogger(__name__)

SEND_RETRY_INITIAL_S = 0.2
SEND_RETRY_MAX_S = 10.0


class OutRecord(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes


class Producer(Protocol):
    """The part of Faust's producer we use (``faust.transport.drivers.aiokafka.Producer``)."""

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
    ) -> Awaitable[Any]: ...


def _retriable(error: BaseException) -> bool:
    # Faust wraps errors raised while enqueueing; the Kafka error it wraps carries the flag.
    if isinstance(error, ProducerSendError):
        error = error.__cause__ or error
    return isinstance(error, KafkaError) and bool(error.retriable)


class Publisher:
    """Sends records and waits for the broker. A record whose send fails with a retriable
    Kafka error (broker restarting, leader moving) is re-sent alone, with backoff, so the
    handler is not re-run and its other records are not sent twice."""

    def __init__(
        self,
        producer: Callable[[], Awaitable[Producer]],
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._get_producer = producer
        self._producer: Producer | None = None
        self._sleep = sleep

    async def publish(self, records: Sequence[OutRecord]) -> None:
        producer = self._producer
        if producer is None:
            producer = self._producer = await self._get_producer()
        deliveries: list[Any] = []
        for record in records:
            try:
                deliveries.append(
                    await producer.send(record.topic, record.key, record.value, None, None, None)
                )
            except Exception as e:
                deliveries.append(e)
        outcomes = await asyncio.gather(
            *(d for d in deliveries if not isinstance(d, BaseException)), return_exceptions=True
        )
        results = iter(outcomes)
        failures: list[tuple[OutRecord, BaseException]] = []
        for record, delivery in zip(records, deliveries, strict=True):
            outcome = delivery if isinstance(delivery, BaseException) else next(results)
            if isinstance(outcome, BaseException):
                failures.append((record, outcome))
        for _, error in failures:
            if not _retriable(error):
                raise error
        for record, error in failures:
            await self._resend(producer, record, error)

    async def _resend(self, producer: Producer, record: OutRecord, error: BaseException) -> None:
        delay = SEND_RETRY_INITIAL_S
        while True:
            log.warning(
                "publish to %s failed (%s); retrying in %.1fs",
                record.topic,
                type(error.__cause__ if isinstance(error, ProducerSendError) else error).__name__,
                delay,
            )
            await self._sleep(delay)
            delay = min(SEND_RETRY_MAX_S, delay * 2)
            try:
                await (
                    await producer.send(record.topic, record.key, record.value, None, None, None)
                )
                return
            except Exception as e:
                if not _retriable(e):
                    raise
                error = e
