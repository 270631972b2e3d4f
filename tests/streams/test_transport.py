"""The worker's Faust consumer on the real broker: a partition with no committed offset is
read from its first record after a rebalance's seek or a resync, wherever the fetcher had
got to."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from faust.types import TP

from streams.app import create_app
from streams.settings import Settings
from streams.transport import SafeCommitConsumer
from tests.integration.helpers import create_topic, produce, unique_prefix

pytestmark = pytest.mark.integration

RECORDS = 10


async def _until(condition: Any, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


async def _app_with_a_filled_topic(kafka_bootstrap: str, tmp_path: Path) -> tuple[Any, Any]:
    """The worker's Faust app (not started) and a one-partition topic of RECORDS records."""
    prefix = unique_prefix()
    name = prefix + "probe"
    await create_topic(kafka_bootstrap, name, partitions=1)
    await produce(kafka_bootstrap, name, [(None, str(i).encode()) for i in range(RECORDS)])
    settings = Settings(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        COLDSTREAM_APP_ID=prefix + "app",
        COLDSTREAM_STATE_DIR=str(tmp_path),
        COLDSTREAM_TABLE_STORE="memory://",
        COLDSTREAM_WEB_ENABLED=False,
    )
    app = create_app(settings)
    # acks=False: Faust never commits this topic, so its partition stays uncommitted.
    return app, app.topic(name, partitions=1, acks=False)


async def test_uncommitted_partition_is_reread_from_its_first_record(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    app, topic = await _app_with_a_filled_topic(kafka_bootstrap, tmp_path)
    name = topic.get_topic_name()
    seen: list[int] = []

    async def record_offsets(stream: Any) -> None:
        async for event in stream.events():
            seen.append(event.message.offset)

    app.agent(topic, name="record_offsets")(record_offsets)
    await app.start()
    try:
        assert isinstance(app.consumer, SafeCommitConsumer)
        await _until(lambda: len(seen) >= RECORDS, timeout=90)
        assert seen == list(range(RECORDS))
        # Where table recovery leaves a partition whose records it fetched and dropped:
        # the fetch position past them, nothing committed.
        await app.consumer.seek(TP(name, 0), RECORDS)
        seen.clear()
        await app.consumer.perform_seek()
        await _until(lambda: len(seen) >= RECORDS, timeout=30)
        assert seen == list(range(RECORDS))
        # What an agent asks for when an offset never reached it: the same re-read, live.
        seen.clear()
        await app.consumer.resync("probe")
        await _until(lambda: len(seen) >= RECORDS, timeout=30)
        assert seen == list(range(RECORDS))
        assert app.consumer.resyncs == 1
        # Asked while a rebalance is under way (whose own seek may be behind us): not
        # dropped, but run once the rebalance is over.
        seen.clear()
        app.rebalancing = True
        await app.consumer.resync("probe, during a rebalance")
        await app.consumer.resync("probe again, during a rebalance")
        await asyncio.sleep(1.0)
        assert seen == [] and app.consumer.resyncs == 1
        app.rebalancing = False
        await _until(lambda: len(seen) >= RECORDS, timeout=30)
        assert seen == list(range(RECORDS))
        assert app.consumer.resyncs == 2  # one rewind for both requests
    finally:
        await app.stop()


async def test_records_dropped_by_the_queue_clear_are_reread_with_no_later_record(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Faust clears every stream queue when flow resumes at the end of recovery. Records
    waiting there are dropped; when they are a partition's tail, no later offset shows the
    hole to the agent, so the flow control itself must ask for the re-read."""
    app, topic = await _app_with_a_filled_topic(kafka_bootstrap, tmp_path)
    seen: list[int] = []
    gate = asyncio.Event()

    async def slow_agent(stream: Any) -> None:
        async for event in stream.events():
            seen.append(event.message.offset)
            await gate.wait()  # the rest of the partition waits in the stream's queue

    app.agent(topic, name="slow_agent")(slow_agent)
    await app.start()
    try:
        queued = lambda: sum(q.qsize() for q in app.flow_control._queues)  # noqa: E731
        await _until(lambda: seen == [0] and queued() == RECORDS - 1, timeout=90)
        resyncs = app.consumer.resyncs
        app.flow_control.resume()  # what recovery's end does: the queue is cleared
        assert queued() == 0
        gate.set()
        await _until(lambda: set(seen) == set(range(RECORDS)), timeout=30)
        assert app.consumer.resyncs == resyncs + 1
    finally:
        await app.stop()
