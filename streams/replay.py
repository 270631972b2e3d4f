"""``coldstream replay`` and ``coldstream dlq redrive``: put records back into the pipeline.

Both read with their own consumer (no consumer group of the worker's) and re-publish the
original bytes, marked with headers, so a consumer can tell a replay from a fresh lead.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from streams.kafka_io import Progress, new_producer, topic_partitions
from streams.settings import Settings
from topics.catalog import FORCE_HEADER, REDRIVE_HEADER, REPLAY_HEADER
from topics.schemas import LeadDeadLetter, TaskDeadLetter

#: Consumer group that remembers which dead letters were already redriven.
REDRIVE_GROUP = "coldstream-redrive"


@dataclass(frozen=True, slots=True)
class ReplaySelection:
    since_ms: int | None = None
    until_ms: int | None = None
    #: partition -> (first offset, last offset inclusive)
    offsets: dict[int, tuple[int, int]] = field(default_factory=dict)
    lead_ids: frozenset[str] = frozenset()
    campaigns: frozenset[str] = frozenset()

    def wants(self, partition: int, offset: int, timestamp_ms: int, value: bytes | None) -> bool:
        if self.offsets:
            span = self.offsets.get(partition)
            if span is None or not span[0] <= offset <= span[1]:
                return False
        if self.since_ms is not None and timestamp_ms < self.since_ms:
            return False
        if self.until_ms is not None and timestamp_ms >= self.until_ms:
            return False
        if self.lead_ids or self.campaigns:
            try:
                data = orjson.loads(value or b"")
            except orjson.JSONDecodeError:
                return False
            if not isinstance(data, dict):
                return False
            if self.lead_ids and data.get("lead_id") not in self.lead_ids:
                return False
            if self.campaigns and data.get("campaign_id") not in self.campaigns:
                return False
        return True


def parse_offsets(specs: Iterable[str]) -> dict[int, tuple[int, int]]:
    """``P:FROM-TO`` (inclusive) or ``P:FROM-`` (to the end)."""
    out = {}
    for spec in specs:
        partition, _, span = spec.partition(":")
        first, _, last = span.partition("-")
        out[int(partition)] = (int(first or 0), int(last) if last else 2**62)
    return out


def _has_header(headers: Iterable[tuple[str, bytes]] | None, name: str) -> bool:
    return any(k == name for k, _ in headers or ())


async def _read_all(settings: Settings, topic: str) -> list[ConsumerRecord]:
    """Every record of ``topic`` up to its current end."""
    partitions = [TopicPartition(topic, p) for p in await topic_partitions(settings, topic)]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_list,
        enable_auto_commit=False,
        max_partition_fetch_bytes=2_000_000,
        **settings.kafka_client_kwargs(),
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        for tp in list(remaining):
            if await consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)
        records: list[ConsumerRecord] = []
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, rs in batch.items():
                records.extend(r for r in rs if r.offset < ends[tp])
                if rs and rs[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
        return records
    finally:
        await consumer.stop()


async def _publish(
    settings: Settings, items: list[tuple[str, bytes | None, bytes | None, list]], label: str
) -> None:
    producer = new_producer(settings)
    await producer.start()
    progress = Progress(len(items), label)
    try:
        for topic, key, value, headers in items:
            await producer.send_and_wait(topic, key=key, value=value, headers=headers)
            progress.advance()
    finally:
        progress.close()
        await producer.stop()


async def replay(
    settings: Settings, selection: ReplaySelection, *, force: bool, dry_run: bool
) -> tuple[int, str]:
    """Re-publish the selected `leads` records; return (count, replay id)."""
    replay_id = uuid.uuid4().hex[:12]
    chosen = []
    for r in await _read_all(settings, settings.topics.leads):
        # Copies made by earlier replays are not sources: replay the originals only.
        if _has_header(r.headers, REPLAY_HEADER):
            continue
        if selection.wants(r.partition, r.offset, r.timestamp, r.value):
            chosen.append(r)
    if dry_run or not chosen:
        return len(chosen), replay_id
    headers = [(REPLAY_HEADER, replay_id.encode())]
    if force:
        headers.append((FORCE_HEADER, b"1"))
    items = [(settings.topics.leads, r.key, r.value, headers) for r in chosen]
    await _publish(settings, items, f"replay {replay_id}")
    return len(chosen), replay_id


async def redrive(
    settings: Settings, dlq: str, *, reason: str | None, dry_run: bool
) -> tuple[int, str]:
    """Put dead letters back where they came from, byte for byte; return (count, id).

    Letters already redriven are remembered by the ``coldstream-redrive`` consumer group, so a
    second run only takes the new ones.
    """
    names = settings.topics
    topic = {"leads.dlq": names.leads_dlq, "tasks.dlq": names.tasks_dlq}[dlq]
    redrive_id = uuid.uuid4().hex[:12]
    partitions = [TopicPartition(topic, p) for p in await topic_partitions(settings, topic)]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_list,
        group_id=f"{REDRIVE_GROUP}.{topic}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **settings.kafka_client_kwargs(),
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        items: list[tuple[str, bytes | None, bytes | None, list]] = []
        remaining = set()
        for tp in partitions:
            if await consumer.position(tp) < ends[tp]:
                remaining.add(tp)
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                for r in records:
                    if r.offset >= ends[tp]:
                        continue
                    item = _redrive_item(settings, dlq, r.value, reason)
                    if item is not None:
                        items.append(item)
                if records and records[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
        if dry_run:
            return len(items), redrive_id
        headers = [(REDRIVE_HEADER, redrive_id.encode())]
        await _publish(
            settings, [(t, k, v, headers) for t, k, v, _ in items], f"redrive {redrive_id}"
        )
        await consumer.commit({tp: ends[tp] for tp in partitions})
        return len(items), redrive_id
    finally:
        await consumer.stop()


def _redrive_item(
    settings: Settings, dlq: str, raw: bytes, reason: str | None
) -> tuple[str, bytes | None, bytes | None, list] | None:
    if dlq == "leads.dlq":
        letter = LeadDeadLetter.model_validate_json(raw)
        if reason and letter.reason != reason:
            return None
        key = base64.b64decode(letter.key_b64) if letter.key_b64 is not None else None
        value = base64.b64decode(letter.value_b64) if letter.value_b64 is not None else None
        return letter.source_topic, key, value, []
    task_letter = TaskDeadLetter.model_validate_json(raw)
    if reason and task_letter.reason != reason:
        return None
    if task_letter.job is not None:
        domain = task_letter.job.lead.company.domain.encode()
        value = orjson.dumps(task_letter.job.model_dump(mode="json"))
        return settings.topics.task(task_letter.task), domain, value, []
    raw_value = base64.b64decode(task_letter.value_b64 or "")
    return task_letter.source_topic, None, raw_value, []
