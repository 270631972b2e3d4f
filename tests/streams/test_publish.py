"""The publisher: every record handed to the producer before any delivery is awaited; a
retriable failure re-sends that record alone; anything else fails the handler."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
)
from faust.exceptions import ProducerSendError

from streams.publish import OutRecord, Publisher


class ScriptedProducer:
    """Answers each send with the next scripted outcome for its topic (default: delivered)."""

    def __init__(self, script: dict[str, list[BaseException | None]] | None = None) -> None:
        self.script = {topic: list(outcomes) for topic, outcomes in (script or {}).items()}
        self.sent: list[str] = []
        self.delivered_at_send: list[int] = []
        self.delivered: list[str] = []
        self.pending: list[asyncio.Future[Any]] = []

    async def send(self, topic: str, key: Any, value: Any, *_: Any) -> asyncio.Future[Any]:
        self.sent.append(topic)
        self.delivered_at_send.append(len(self.delivered))
        outcome = self.script.get(topic, []).pop(0) if self.script.get(topic) else None
        if isinstance(outcome, ProducerSendError):
            raise outcome  # failed while enqueueing
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending.append(future)

        def settle() -> None:
            if outcome is None:
                self.delivered.append(topic)
                future.set_result(topic)
            else:
                future.set_exception(outcome)

        asyncio.get_running_loop().call_soon(settle)
        return future


def _enqueue_failure(cause: Exception) -> ProducerSendError:
    try:
        raise ProducerSendError(f"Error while sending: {cause!r}") from cause
    except ProducerSendError as e:
        return e


async def _no_sleep(_: float) -> None:
    return None


def _publisher(producer: ScriptedProducer) -> Publisher:
    async def get() -> Any:
        return producer

    return Publisher(get, sleep=_no_sleep)


async def test_every_record_is_sent_before_any_delivery_is_awaited() -> None:
    producer = ScriptedProducer()
    await _publisher(producer).publish([OutRecord(t, b"k", b"v") for t in ("a", "b", "c")])
    assert producer.sent == ["a", "b", "c"]
    assert producer.delivered_at_send == [0, 0, 0]
    assert producer.delivered == ["a", "b", "c"]


async def test_a_retriable_delivery_failure_resends_only_that_record() -> None:
    producer = ScriptedProducer(
        {"b": [NotLeaderForPartitionError(), RequestTimedOutError()]}  # fails twice, then lands
    )
    await _publisher(producer).publish([OutRecord(t, None, b"v") for t in ("a", "b", "c")])
    assert producer.sent == ["a", "b", "c", "b", "b"]
    assert sorted(producer.delivered) == ["a", "b", "c"]


async def test_a_retriable_error_wrapped_by_faust_while_enqueueing_is_retried() -> None:
    producer = ScriptedProducer({"a": [_enqueue_failure(KafkaConnectionError())]})
    await _publisher(producer).publish([OutRecord("a", None, b"v")])
    assert producer.sent == ["a", "a"]
    assert producer.delivered == ["a"]


async def test_a_non_retriable_failure_raises_and_resends_nothing() -> None:
    # aiokafka marks its own delivery timeout not retriable: the handler fails and is re-run.
    producer = ScriptedProducer({"b": [KafkaTimeoutError()], "c": [RequestTimedOutError()]})
    with pytest.raises(KafkaTimeoutError):
        await _publisher(producer).publish([OutRecord(t, None, b"v") for t in ("a", "b", "c")])
    assert producer.sent == ["a", "b", "c"]
    assert all(f.done() for f in producer.pending)  # nothing left un-awaited


async def test_a_non_kafka_error_while_enqueueing_is_not_retried() -> None:
    producer = ScriptedProducer({"a": [_enqueue_failure(ValueError("bad"))]})
    with pytest.raises(ProducerSendError):
        await _publisher(producer).publish([OutRecord("a", None, b"v")])
    assert producer.sent == ["a"]
