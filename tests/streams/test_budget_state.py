"""Budget state is rebuilt from `llm.costs` on start-up (real broker)."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streams.admin import ensure_topics
from streams.budget_state import spent_today
from streams.settings import Settings
from tests.integration.helpers import unique_prefix

pytestmark = [pytest.mark.integration]


async def test_spent_today_sums_only_todays_costs_per_task(kafka_bootstrap: str) -> None:
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=unique_prefix(), topic_partitions=2
    )
    await ensure_topics(settings)
    now = dt.datetime.now(dt.UTC)
    yesterday = now - dt.timedelta(days=1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for when, task, usd in (
            (yesterday, "email_final", 5.0),
            (now, "email_final", 0.25),
            (now, "email_final", 0.5),
            (now, "classify_lead", 0.01),
        ):
            await producer.send_and_wait(
                settings.topics.costs,
                key=b"d",
                value=orjson.dumps({"task": task, "cost_usd": usd, "timestamp": when.timestamp()}),
                timestamp_ms=int(when.timestamp() * 1000),
            )
    finally:
        await producer.stop()
    spent = await spent_today(settings)
    assert spent == {"email_final": pytest.approx(0.75), "classify_lead": pytest.approx(0.01)}
