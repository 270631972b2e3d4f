"""A bare Faust agent, one consume->send hop that does no work: Faust's own ceiling on this
broker, for ``bench/pipe.py`` to set beside the pipeline and the bare aiokafka loop.

Run by ``bench/pipe.py`` as a worker process (``python bench/faust_loop.py``); it
reads its topics and the number of records to move from the environment, and when the last
one's send has been acknowledged it writes the rate and its CPU time to ``FAUST_LOOP_RESULT``.
``FAUST_LOOP_TRANSPORT=coldstream`` swaps in the worker's consumer (``streams/transport.py``).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import faust
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)  # once, at the end: blocking does not matter


def build_app() -> faust.App:
    env = os.environ
    app = faust.App(
        env["FAUST_LOOP_APP_ID"],
        broker=f"kafka://{env['KAFKA_BOOTSTRAP_SERVERS']}",
        key_serializer="raw",
        value_serializer="raw",
        producer_acks=-1,  # as the worker
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        topic_partitions=8,
        web_enabled=False,
        store="memory://",
        datadir=env["FAUST_LOOP_DATADIR"],
    )
    if env.get("FAUST_LOOP_TRANSPORT") == "coldstream":
        from streams.transport import KafkaTransport

        app.transport = KafkaTransport(app.conf.broker_consumer, app)
    source, sink = app.topic(env["FAUST_LOOP_SOURCE"]), app.topic(env["FAUST_LOOP_SINK"])
    total, result = int(env["FAUST_LOOP_COUNT"]), Path(env["FAUST_LOOP_RESULT"])

    @app.agent(source)
    async def hop(stream: Any) -> None:
        done, started, cpu = 0, 0.0, 0.0
        async for event in stream.events():
            if not done:
                started, cpu = time.perf_counter(), time.process_time()
            pending = await sink.send(key=event.message.key, value=event.message.value)
            done += 1
            if done == total:
                await pending  # the last one's acks=all delivery
                elapsed = time.perf_counter() - started
                figures = {
                    "msgs_per_s": (total - 1) / elapsed,
                    "cpu_us_per_msg": (time.process_time() - cpu) * 1e6 / (total - 1),
                }
                _write(result, orjson.dumps(figures))

    return app


if __name__ == "__main__":
    faust_app = build_app()
    worker = faust.Worker(faust_app, loglevel="warning", redirect_stdouts=False)
    worker.spinner = None  # as streams/worker.py: no spinner, no root logger at DEBUG
    worker.execute_from_commandline()
