"""Independent Kafka clients and worker processes for integration tests.

Results are read with a plain aiokafka consumer, never through the worker's own code or logs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}."


class WorkerProcess:
    """``coldstream worker`` as a subprocess with its own topic prefix and consumer group."""

    def __init__(self, bootstrap: str, prefix: str, state_dir: Path, **env: str) -> None:
        self.prefix = prefix
        self.log_path = state_dir / f"worker-{prefix.rstrip('.')}-{uuid.uuid4().hex[:4]}.log"
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "COLDSTREAM_TOPIC_PREFIX": prefix,
            "COLDSTREAM_APP_ID": f"{prefix.rstrip('.')}-app",
            "COLDSTREAM_PARTITIONS": "4",
            "COLDSTREAM_STATE_DIR": str(state_dir),
            "COLDSTREAM_PROVIDERS": "simulated",
            "COLDSTREAM_SIM_TIME_SCALE": "0.01",
            "COLDSTREAM_SIM_ERROR_RATE": "0.02",
            "COLDSTREAM_LOG_LEVEL": "info",
            "COLDSTREAM_WEB_PORT": str(free_port()),
            **env,
        }
        for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
            if key not in env:
                self.env.pop(key, None)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        state = Path(self.env["COLDSTREAM_STATE_DIR"])
        state.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        return self

    def terminate(self, timeout: float = 60) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


async def wait_for_topics(bootstrap: str, names: Iterable[str], timeout: float = 60) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        wanted = set(names)
        while not wanted <= set(await admin.list_topics()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics never appeared: {wanted}")
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes | None]],
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=1_048_000)
    await producer.start()
    try:
        futures = [await producer.send(topic, key=k, value=v, headers=headers) for k, v in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


async def topic_partitions(bootstrap: str, topic: str, timeout: float = 60) -> list[int]:
    await wait_for_topics(bootstrap, [topic], timeout)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(p["partition"] for p in described["partitions"])


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[Any]], bool],
    timeout: float = 120,
    settle: float = 0.0,
) -> list[Any]:
    """All records of ``topic`` from the beginning until ``until(records)`` holds.

    ``settle`` keeps reading that much longer afterwards, to catch duplicates.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=2_000_000,
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        partitions = await topic_partitions(bootstrap, topic, timeout)
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        await consumer.seek_to_beginning()
        records: list[Any] = []
        done_at: float | None = None
        while True:
            batch = await consumer.getmany(timeout_ms=300)
            for rs in batch.values():
                records.extend(rs)
            now = time.monotonic()
            if done_at is None and until(records):
                done_at = now
            if done_at is not None and now - done_at >= settle:
                return records
            if now > deadline:
                raise TimeoutError(
                    f"{topic}: condition not met after {timeout}s ({len(records)} records)"
                )
    finally:
        await consumer.stop()


async def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """Run ``coldstream ARGS`` as a user would, with the worker's environment; return stdout."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streams.cli",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode == 0, err.decode()
    return out.decode()


def values(records: list[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in records]
