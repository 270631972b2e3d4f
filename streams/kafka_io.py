"""Plain aiokafka producer/consumer helpers for the CLI (produce, consume, demo)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.settings import Settings


class Progress:
    """A one-line progress bar on stderr (only when stderr is a terminal, else sparse lines)."""

    def __init__(self, total: int | None, label: str) -> None:
        self.total, self.label, self.done = total, label, 0
        self._tty = sys.stderr.isatty()
        self._last = 0.0

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last < (0.1 if self._tty else 5.0) and self.done != self.total:
            return
        self._last = now
        if self.total:
            filled = int(30 * self.done / self.total)
            bar = "#" * filled + "-" * (30 - filled)
            text = f"{self.label} [{bar}] {self.done}/{self.total}"
        else:
            text = f"{self.label} {self.done}"
        sys.stderr.write(("\r" if self._tty else "") + text + ("" if self._tty else "\n"))
        sys.stderr.flush()

    def close(self) -> None:
        if self._tty:
            sys.stderr.write("\n")


def lead_key(raw: bytes) -> bytes | None:
    """The contract's key: the company domain, read from the value when it parses."""
    try:
        domain = orjson.loads(raw)["company"]["domain"]
    except Exception:
        return None
    return domain.strip().lower().encode() if isinstance(domain, str) else None


def new_producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    """Idempotent, acks=all producer with the cluster's security settings."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_list,
        "acks": "all",
        "enable_idempotence": True,
        "max_request_size": 1_048_000,
        **settings.kafka_client_kwargs(),
        **overrides,
    }
    return AIOKafkaProducer(**options)


async def produce(
    settings: Settings,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes]],
    *,
    total: int | None = None,
    headers: list[tuple[str, bytes]] | None = None,
    show_progress: bool = True,
) -> int:
    producer = new_producer(settings, linger_ms=5)
    await producer.start()
    progress = Progress(total, f"produce {topic}") if show_progress else None
    sent = 0
    try:
        pending: list[asyncio.Future[Any]] = []
        for key, value in records:
            pending.append(await producer.send(topic, value=value, key=key, headers=headers))
            sent += 1
            if len(pending) >= 500:
                await asyncio.gather(*pending)
                if progress:
                    progress.advance(len(pending))
                pending.clear()
        await asyncio.gather(*pending)
        if progress:
            progress.advance(len(pending))
    finally:
        await producer.stop()
        if progress:
            progress.close()
    return sent


async def topic_partitions(settings: Settings, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_list, **settings.kafka_client_kwargs()
    )
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] != 0 or not described["partitions"]:
        raise LookupError(f"topic {topic!r} does not exist (has a worker run yet?)")
    return sorted(p["partition"] for p in described["partitions"])


async def consume(
    settings: Settings,
    topic: str,
    *,
    idle_timeout_s: float | None = None,
    stop: Callable[[], bool] | None = None,
) -> AsyncIterator[Any]:
    """Every record of ``topic`` from the beginning (no consumer group, nothing committed).

    Ends after ``idle_timeout_s`` without a record, or when ``stop()`` says so.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_list,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=2_000_000,
        **settings.kafka_client_kwargs(),
    )
    partitions = await topic_partitions(settings, topic)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        idle_since = time.monotonic()
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=2000)
            records = [r for rs in batch.values() for r in rs]
            for record in records:
                yield record
            if records:
                idle_since = time.monotonic()
            if stop is not None and stop():
                return
            if idle_timeout_s is not None and time.monotonic() - idle_since > idle_timeout_s:
                return
    finally:
        await consumer.stop()
