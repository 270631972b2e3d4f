"""Shared helpers for the pipeline benchmarks: a worker process and independent clients."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_broker() -> str:
    """KAFKA_BOOTSTRAP_SERVERS, else the local broker (started if needed)."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    from streams.broker import LocalKafka

    broker = LocalKafka(ROOT / ".coldstream" / "kafka")
    broker.start()
    return broker.bootstrap


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=2) as response:
        return bytes(response.read())


class Worker:
    def __init__(self, bootstrap: str, **env: str) -> None:
        self.prefix = f"b{uuid.uuid4().hex[:8]}."
        self.web_port = free_port()
        state = ROOT / ".coldstream" / "bench"
        state.mkdir(parents=True, exist_ok=True)
        self.log = state / f"worker-{self.prefix.rstrip('.')}.log"
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "COLDSTREAM_TOPIC_PREFIX": self.prefix,
            "COLDSTREAM_APP_ID": f"{self.prefix.rstrip('.')}-app",
            "COLDSTREAM_STATE_DIR": str(state),
            "COLDSTREAM_PROVIDERS": "simulated",
            "COLDSTREAM_WEB_PORT": str(self.web_port),
            "COLDSTREAM_LOG_LEVEL": "warning",
            **env,
        }
        for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
            self.env.pop(key, None)
        self.started = time.monotonic()
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "worker"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    async def ready(self, timeout: float = 300) -> float:
        """Wait for the worker's ``/ready`` probe; return the seconds since it was started."""
        url = f"http://127.0.0.1:{self.web_port}/ready"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}; see {self.log}")
            try:
                await asyncio.to_thread(http_get, url)
                return time.monotonic() - self.started
            except OSError:  # refused while starting; HTTPError (503) while not ready
                await asyncio.sleep(0.2)
        raise TimeoutError(f"worker not ready after {timeout:.0f}s; see {self.log}")

    def topic(self, name: str) -> str:
        return self.prefix + name

    @property
    def topic_prefixes(self) -> tuple[str, str]:
        """Its topics: ours take the prefix, Faust's changelogs start with the app id."""
        return self.prefix, self.env["COLDSTREAM_APP_ID"] + "-"

    def peak_rss_mb(self) -> float:
        """VmHWM: the process's peak resident set so far."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        """User + system CPU time the worker process has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        # This run's table files (RocksDB) are not needed again.
        shutil.rmtree(
            Path(self.env["COLDSTREAM_STATE_DIR"]) / "faust" / self.env["COLDSTREAM_APP_ID"],
            ignore_errors=True,
        )


async def drop_topics(bootstrap: str, *prefixes: str) -> None:
    """Delete a run's topics, so that a long-lived benchmark broker does not pile them up
    (metadata for ~1,500 leftover topics made every worker's metadata refresh slower)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefixes)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def wait_topics(bootstrap: str, names: list[str], timeout: float = 120) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while not set(names) <= set(await admin.list_topics()):
            if time.monotonic() > deadline:
                raise TimeoutError(names)
            await asyncio.sleep(0.3)
        while True:  # leaders elected
            described = await admin.describe_topics(names)
            if all(p["leader"] >= 0 for t in described for p in t["partitions"]):
                return
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, leads: list[dict[str, Any]]) -> float:
    """Publish leads; return the wall time the first one was sent."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    first = time.time()
    try:
        futures = [
            await producer.send(topic, key=x["company"]["domain"].encode(), value=orjson.dumps(x))
            for x in leads
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return first


class EmailReader:
    """Reads `emails` (and `tasks.dlq`) from the start with its own consumer.

    A lead is done when its email arrives, or when it lands in `tasks.dlq` (then it is
    counted in ``failed``): the benchmark must not wait forever for a dead-lettered lead.
    """

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.dlq = topic.removesuffix("emails") + "tasks.dlq"
        self.seen: dict[str, tuple[float, float]] = {}  # lead_id -> (email ts, lead received)
        self.failed: set[str] = set()

    async def until(self, ids: set[str], timeout: float) -> float:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            parts = consumer.partitions_for_topic(self.topic)
            while not parts or not consumer.partitions_for_topic(self.dlq):
                await consumer.topics()
                consumer.subscribe([self.topic, self.dlq])
                await asyncio.sleep(0.2)
                consumer.unsubscribe()
                parts = consumer.partitions_for_topic(self.topic)
            dlq_parts = consumer.partitions_for_topic(self.dlq) or set()
            consumer.assign(
                [TopicPartition(self.topic, p) for p in parts]
                + [TopicPartition(self.dlq, p) for p in dlq_parts]
            )
            await consumer.seek_to_beginning()
            deadline = time.monotonic() + timeout
            last = 0.0
            while not ids <= self.seen.keys() | self.failed:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(ids - self.seen.keys())} emails missing")
                batch = await consumer.getmany(timeout_ms=200)
                for tp, records in batch.items():
                    for r in records:
                        if tp.topic == self.dlq:
                            letter = orjson.loads(r.value)
                            lead_id = (letter.get("job") or {}).get("lead", {}).get("lead_id")
                            if lead_id in ids:
                                self.failed.add(lead_id)
                                last = time.time()
                            continue
                        email = orjson.loads(r.value)
                        if email["lead_id"] in ids and email["lead_id"] not in self.seen:
                            self.seen[email["lead_id"]] = (
                                r.timestamp / 1000,
                                email["lead_received_at"],
                            )
                            last = time.time()
            return last
        finally:
            await consumer.stop()
