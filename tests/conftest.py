"""Shared fixtures. The Kafka broker is real: from KAFKA_BOOTSTRAP_SERVERS, else a
testcontainers Kafka when a Docker engine answers, else the local broker from Maven jars."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from streams.broker import LocalKafka
from tests.fakes.llm_server import FakeLLMServer

ROOT = Path(__file__).resolve().parent.parent
TEST_BROKER_PORT = int(os.environ.get("COLDSTREAM_TEST_BROKER_PORT", "19092"))


def _docker_answers() -> bool:
    sock_path = "/var/run/docker.sock"
    if not os.path.exists(sock_path) and "DOCKER_HOST" not in os.environ:
        return False
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def local_broker() -> Iterator[LocalKafka | None]:
    """The local broker when this run owns one (tests that restart the broker need it)."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or _docker_answers():
        yield None
        return

    broker = LocalKafka(
        ROOT / ".coldstream" / "test-kafka",
        port=TEST_BROKER_PORT,
        controller_port=TEST_BROKER_PORT + 1,
    )
    was_running = broker.pid() is not None
    if not was_running:
        # Topics of earlier runs are not needed: every test uses its own topic prefix.
        shutil.rmtree(broker.state_dir / "data", ignore_errors=True)
    broker.start()
    try:
        yield broker
    finally:
        if not was_running:
            broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(local_broker: LocalKafka | None) -> Iterator[str]:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    if local_broker is not None:
        yield local_broker.bootstrap
        return
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer("apache/kafka:4.1.1") as container:
        yield container.get_bootstrap_server()


@pytest.fixture
async def llm_server() -> AsyncIterator[FakeLLMServer]:
    server = FakeLLMServer(hang_s=1.5)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
