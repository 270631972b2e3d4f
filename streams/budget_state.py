"""Rebuilds today's spend from ``llm.costs`` so budgets survive a worker restart."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka_io import topic_partitions
from streams.settings import Settings


def start_of_day_utc(now: dt.datetime | None = None) -> dt.datetime:
    now = now or dt.datetime.now(dt.UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


async def spent_today(settings: Settings, *, now: dt.datetime | None = None) -> dict[str, float]:
    """Sum of ``cost_usd`` per task for today's (UTC) events already in ``llm.costs``."""
    topic = settings.topics.costs
    since = start_of_day_utc(now)
    try:
        partitions = [TopicPartition(topic, p) for p in await topic_partitions(settings, topic)]
    except LookupError:
        return {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_list,
        enable_auto_commit=False,
        **settings.kafka_client_kwargs(),
    )
    await consumer.start()
    spent: defaultdict[str, float] = defaultdict(float)
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.offsets_for_times(
            {tp: int(since.timestamp() * 1000) for tp in partitions}
        )
        remaining = {}
        for tp in partitions:
            found = starts.get(tp)
            if found is None or found.offset >= ends[tp]:
                continue
            consumer.seek(tp, found.offset)
            remaining[tp] = ends[tp]
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= remaining.get(tp, 0):
                        continue
                    event = orjson.loads(record.value)
                    if event.get("timestamp", 0) >= since.timestamp():
                        spent[event["task"]] += float(event.get("cost_usd") or 0.0)
                if records and records[-1].offset + 1 >= remaining.get(tp, 0):
                    remaining.pop(tp, None)
    finally:
        await consumer.stop()
    return dict(spent)
