"""The pipeline's own ceiling: leads per second with a zero-latency simulated provider,
beside a bare aiokafka consume->produce loop on the same broker divided by the hops a lead
takes (leads -> 5 task topics -> emails: 6 consume->produce hops), and beside a bare Faust
agent's hop (``bench/faust_loop.py``, Faust's own consumer and ours) divided the same way.

    .venv/bin/python bench/pipe.py [--leads 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from common import EmailReader, Worker, drop_topics, ensure_broker, produce, wait_topics

from streams.sample import generate_leads

HOPS = 6


async def _filled_topics(bootstrap: str, messages: int, value: bytes) -> tuple[str, str]:
    source, sink = f"bare-src-{time.time_ns()}", f"bare-dst-{time.time_ns()}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(source, 8, 1), NewTopic(sink, 8, 1)])
    await admin.close()
    await wait_topics(bootstrap, [source, sink])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    futures = [
        await producer.send(source, key=str(i % 500).encode(), value=value) for i in range(messages)
    ]
    await asyncio.gather(*futures)
    await producer.stop()
    return source, sink


async def bare_loop(bootstrap: str, messages: int, value: bytes) -> float:
    """Messages per second through one consume->produce loop (acks=all, like the worker)."""
    source, sink = await _filled_topics(bootstrap, messages, value)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=source,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
    )
    await consumer.start()
    started, done, pending = None, 0, []
    try:
        while done < messages:
            batch = await consumer.getmany(timeout_ms=500, max_records=2000)
            for records in batch.values():
                for r in records:
                    started = started or time.perf_counter()
                    pending.append(await producer.send(sink, key=r.key, value=r.value))
                    done += 1
            if len(pending) > 2000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        assert started is not None
        return messages / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await producer.stop()
        await drop_topics(bootstrap, source, sink)


def _spawn(script: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, str(script)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


async def bare_faust(bootstrap: str, messages: int, value: bytes, transport: str) -> dict:
    """One Faust agent moving ``messages`` records a hop, in its own worker process."""
    source, sink = await _filled_topics(bootstrap, messages, value)
    app_id = f"bare-faust-{time.time_ns()}"
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "FAUST_LOOP_APP_ID": app_id,
            "FAUST_LOOP_SOURCE": source,
            "FAUST_LOOP_SINK": sink,
            "FAUST_LOOP_COUNT": str(messages),
            "FAUST_LOOP_RESULT": str(result),
            "FAUST_LOOP_DATADIR": tmp,
            "FAUST_LOOP_TRANSPORT": transport,
        }
        process = _spawn(Path(__file__).with_name("faust_loop.py"), env, Path(tmp) / "worker.log")
        try:
            deadline = time.monotonic() + 600
            while not result.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "bare Faust loop failed:\n" + (Path(tmp) / "worker.log").read_text()
                    )
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.1)  # written in one call; let it land
            figures: dict = orjson.loads(result.read_bytes())
        finally:
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
            await drop_topics(bootstrap, source, sink, app_id)
    return figures


async def run(args: argparse.Namespace) -> None:
    bootstrap = ensure_broker()
    worker = Worker(
        bootstrap,
        COLDSTREAM_SIM_TIME_SCALE="0",
        COLDSTREAM_SIM_ERROR_RATE="0",
        COLDSTREAM_PARTITIONS="8",
    )
    try:
        await wait_topics(bootstrap, [worker.topic("leads"), worker.topic("emails")])
        warm = list(generate_leads(companies=5, per_company=2, run="warm-"))
        await produce(bootstrap, worker.topic("leads"), warm)
        await EmailReader(bootstrap, worker.topic("emails")).until(
            {x["lead_id"] for x in warm}, 180
        )
        leads = list(generate_leads(companies=args.leads // 10, per_company=10, run="p-"))
        reader = EmailReader(bootstrap, worker.topic("emails"))
        waiting = asyncio.create_task(reader.until({x["lead_id"] for x in leads}, 600))
        cpu_before = worker.cpu_seconds()
        first = await produce(bootstrap, worker.topic("leads"), leads)
        last = await waiting
        cpu_ms = (worker.cpu_seconds() - cpu_before) * 1000 / len(leads)
        pipeline = len(leads) / (last - first)
        rss = worker.peak_rss_mb()
    finally:
        worker.stop()
        await drop_topics(bootstrap, *worker.topic_prefixes)
    print(
        f"pipeline: {len(leads)} leads in {last - first:.1f}s = {pipeline:.0f} leads/s "
        f"(zero-latency simulated provider; worker peak RSS {rss:.0f} MB)"
    )
    print(f"worker CPU per lead: {cpu_ms:.1f} ms (user + system)")
    if args.pipeline_only:
        return
    value = orjson.dumps(leads[0])
    bare = await bare_loop(bootstrap, args.leads * 3, value)
    bound = bare / HOPS
    print(f"bare aiokafka consume->produce: {bare:.0f} msgs/s; / {HOPS} hops = {bound:.0f} leads/s")
    print(f"pipeline / hop-adjusted bound: {pipeline / bound:.0%} (target >= 50%)")
    for transport in ("faust", "coldstream"):
        hop = await bare_faust(bootstrap, args.leads * 3, value, transport)
        faust_bound = hop["msgs_per_s"] / HOPS
        print(
            f"bare Faust agent, {transport} consumer: {hop['msgs_per_s']:.0f} msgs/s "
            f"({hop['cpu_us_per_msg']:.0f} us of CPU each); / {HOPS} hops = "
            f"{faust_bound:.0f} leads/s; pipeline / that: {pipeline / faust_bound:.0%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=3000)
    parser.add_argument(
        "--pipeline-only", action="store_true", help="skip the bare loop (comparing changes)"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
