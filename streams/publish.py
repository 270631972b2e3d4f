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


def _kafka_error(error: BaseException) -> BaseException:
    # Faust wraps errors raised while enqueueing; the Kafka error it wraps carries the flag.
    if isinstance(error, ProducerSendError) and error.__cause__ is not None:
        return error.__cause__
    return error


def _retriable(error: BaseException) -> bool:
    cause = _kafka_error(error)
    return isinstance(cause, KafkaError) and bool(cause.retriable)


async def _send(producer: Producer, record: OutRecord) -> Awaitable[Any]:
    """Hand the record to the producer; the awaitable returned settles on the broker's ack."""
    return await producer.send(record.topic, record.key, record.value, None, None, None)


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
        # Every record is in the producer before any delivery is awaited.
        pending: list[tuple[OutRecord, Awaitable[Any] | BaseException]] = []
        for record in records:
            try:
                pending.append((record, await _send(producer, record)))
            except Exception as e:
                pending.append((record, e))
        failures: list[tuple[OutRecord, BaseException]] = []
        for record, delivery in pending:  # all awaited, so no failure goes unretrieved
            if isinstance(delivery, BaseException):
                failures.append((record, delivery))
                continue
            try:
                await delivery
            except Exception as e:
                failures.append((record, e))
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
                type(_kafka_error(error)).__name__,
                delay,
            )
            await self._sleep(delay)
            delay = min(SEND_RETRY_MAX_S, delay * 2)
            try:
                await (await _send(producer, record))
                return
            except Exception as e:
                if not _retriable(e):
                    raise
                error = e
