from __future__ import annotations

from streams.inflight import OrderedAcks


def test_releases_only_the_finished_prefix_in_arrival_order() -> None:
    acks: OrderedAcks[int] = OrderedAcks()
    entries = {offset: acks.track("p0", offset) for offset in range(5)}
    assert acks.finish("p0", entries[3]) == []
    assert acks.finish("p0", entries[1]) == []
    assert acks.finish("p0", entries[0]) == [0, 1]
    assert acks.finish("p0", entries[2]) == [2, 3]
    assert acks.pending() == 1
    assert acks.finish("p0", entries[4]) == [4]
    assert acks.pending() == 0


def test_partitions_are_independent() -> None:
    acks: OrderedAcks[str] = OrderedAcks()
    a0 = acks.track("a", "a0")
    b0 = acks.track("b", "b0")
    a1 = acks.track("a", "a1")
    assert acks.finish("a", a1) == []
    assert acks.finish("b", b0) == ["b0"]  # not held back by partition a
    assert acks.finish("a", a0) == ["a0", "a1"]


def _faust_consumer():  # type: ignore[no-untyped-def]
    import faust

    return faust.App("offset-probe", broker="kafka://127.0.0.1:1").consumer


def _faust_commit_offset(consumer, committed, acked):  # type: ignore[no-untyped-def]
    from faust.types import TP

    tp = TP("t", 0)
    consumer._committed_offset[tp] = committed
    consumer._acked[tp] = sorted(acked)
    consumer._acked_index[tp] = set(acked)
    return consumer._new_offset(tp)


def test_faust_commits_past_in_flight_work_when_acks_come_out_of_order() -> None:
    """Why OrderedAcks exists. If this starts failing, Faust fixed its off-by-one and the
    in-order release could be revisited."""
    consumer = _faust_consumer()
    # Offset 10 still in flight, 11 done: Faust would commit 12 and lose 10 on a crash.
    assert _faust_commit_offset(consumer, 10, [11]) == 12
    # Before the first commit nothing is checked at all.
    assert _faust_commit_offset(consumer, None, [3, 4]) == 5


def test_ordered_acks_keep_faust_commits_behind_every_in_flight_offset() -> None:
    import random

    consumer = _faust_consumer()
    rng = random.Random(3)
    offsets = list(range(10, 60))
    acks: OrderedAcks[int] = OrderedAcks()
    entries = {o: acks.track("p", o) for o in offsets}
    in_flight = set(offsets)
    released: list[int] = []
    committed = 10
    for offset in rng.sample(offsets, len(offsets)):
        in_flight.discard(offset)
        released += acks.finish("p", entries[offset])
        new = _faust_commit_offset(consumer, committed, [o for o in released if o >= committed])
        if new is not None:
            committed = new
        assert not in_flight or committed <= min(in_flight)
    assert committed == 60


class _Message:
    def __init__(self, tp: str, offset: int) -> None:
        self.tp, self.offset = tp, offset


class _Event:
    def __init__(self, tp: str, offset: int) -> None:
        self.message = _Message(tp, offset)


class _ManualStream:
    """What ``run_in_flight`` needs of a Faust stream: ``noack().events()`` and ``ack``."""

    def __init__(self, offsets: list[int]) -> None:
        self.offsets = offsets
        self.acked: list[int] = []

    def noack(self) -> _ManualStream:
        return self

    async def events(self):  # type: ignore[no-untyped-def]
        import asyncio

        for offset in self.offsets:
            yield _Event("p0", offset)
            await asyncio.sleep(0)

    async def ack(self, event: _Event) -> None:
        self.acked.append(event.message.offset)


async def test_an_offset_delivered_again_is_handled_once_and_acked_in_order() -> None:
    """Faust re-delivers from the committed offset after a seek (start-up, rebalance) while
    the first copies may still be running or already done: each offset runs its handler once."""
    import asyncio

    from streams.inflight import run_in_flight

    calls: list[int] = []
    release = asyncio.Event()

    async def handle(event: _Event) -> None:
        calls.append(event.message.offset)
        if event.message.offset == 1:
            await release.wait()  # offset 1 is still running when it is delivered again

    stream = _ManualStream([0, 1, 2, 1, 2, 3])
    asyncio.get_running_loop().call_later(0.05, release.set)
    await run_in_flight(stream, handle, limit=8, name="t", drain_timeout_s=5)
    assert sorted(calls) == [0, 1, 2, 3]
    assert stream.acked == [0, 1, 2, 1, 2, 3]  # every delivery, released in arrival order


async def test_an_offset_finished_before_it_comes_again_is_not_rerun() -> None:
    import asyncio

    from streams.inflight import run_in_flight

    calls: list[int] = []

    async def handle(event: _Event) -> None:
        calls.append(event.message.offset)

    class _Later(_ManualStream):
        all_done = asyncio.Event()

        async def ack(self, event: _Event) -> None:
            await super().ack(event)
            if len(self.acked) == 3:
                self.all_done.set()

        async def events(self):  # type: ignore[no-untyped-def]
            for offset in (0, 1, 2):
                yield _Event("p0", offset)
            await self.all_done.wait()
            for offset in (1, 2, 3):  # a seek back to 1 after 0..2 were done
                yield _Event("p0", offset)

    stream = _Later([])
    await run_in_flight(stream, handle, limit=8, name="t", drain_timeout_s=5)
    assert calls == [0, 1, 2, 3]
    assert stream.acked == [0, 1, 2, 1, 2, 3]


class _Guard:
    """Records what ``run_in_flight`` asks of the consumer."""

    def __init__(self, known_gaps: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.approved: list[int] = []
        self.resyncs: list[str] = []
        self.known_gaps = known_gaps
        self.committed: int | None = 2

    def approve(self, message: _Message) -> None:
        self.approved.append(message.offset)

    def committed_offset(self, tp: object) -> int | None:
        return self.committed

    def is_known_gap(self, tp: object, start: int, end: int) -> bool:
        return set(range(start, end)) <= self.known_gaps

    async def resync(self, reason: str) -> None:
        self.resyncs.append(reason)


class _Tp:
    topic, partition = "t", 0


TP0 = _Tp()


async def _run_guarded(offsets: list[int], guard: _Guard) -> list[int]:
    from streams.inflight import run_in_flight

    class _Stream(_ManualStream):
        async def events(self):  # type: ignore[no-untyped-def]
            for offset in self.offsets:
                event = _Event("p0", offset)
                event.message.tp = TP0  # type: ignore[assignment]
                yield event

    calls: list[int] = []

    async def handle(event: _Event) -> None:
        calls.append(event.message.offset)

    stream = _Stream(offsets)
    await run_in_flight(stream, handle, limit=8, name="t", drain_timeout_s=5, guard=guard)
    assert stream.acked == guard.approved  # every ack approved first
    return calls


async def test_a_missing_offset_makes_the_consumer_re_read() -> None:
    guard = _Guard()
    # Offset 4 was dropped from Faust's queue; the re-read delivers it (and 5 again).
    calls = await _run_guarded([2, 3, 5, 4, 5, 6], guard)
    assert guard.resyncs == ["t: t[0] 4..4 missing"]
    assert calls == [2, 3, 5, 4, 6]


async def test_a_gap_kafka_has_no_records_for_is_not_re_read() -> None:
    guard = _Guard(known_gaps={4})  # e.g. a transaction marker
    await _run_guarded([2, 3, 5, 6], guard)
    assert guard.resyncs == []


async def test_a_partition_that_starts_past_its_committed_offset_is_re_read() -> None:
    guard = _Guard()  # committed 2, but the first event Faust hands over is 4
    calls = await _run_guarded([4, 5, 2, 3, 4, 5, 6], guard)
    assert guard.resyncs == ["t: t[0] 2..3 missing"]
    assert calls == [4, 5, 2, 3, 6]


def test_finished_offsets_never_cover_an_offset_not_seen_finishing() -> None:
    from streams.inflight import FinishedOffsets

    finished = FinishedOffsets(start_of=lambda tp: 10, is_known_gap=lambda tp, a, b: False)
    for offset in (10, 11, 13, 14):
        finished.add("p", offset)
    assert [o for o in range(9, 16) if ("p", o) in finished] == [9, 10, 11, 13, 14]
    finished.add("p", 12)  # the missing one, re-read and finished
    assert all(("p", o) in finished for o in range(10, 15))
    assert ("p", 15) not in finished


def _safe_consumer():  # type: ignore[no-untyped-def]
    import faust

    from streams.transport import KafkaTransport

    app = faust.App("offset-probe-safe", broker="kafka://127.0.0.1:1")
    app.transport = KafkaTransport(app.conf.broker_consumer, app)
    return app.consumer


def test_our_consumer_never_commits_over_a_missing_offset() -> None:
    consumer = _safe_consumer()
    # Offset 10 not acked (in flight, or dropped by Faust): nothing past it is committed.
    assert _faust_commit_offset(consumer, 10, [11]) is None
    assert _faust_commit_offset(consumer, 10, [10, 11]) == 12
    # A gap Kafka has no record for (Faust records it while fetching) is committed over.
    from faust.types import TP

    consumer._gap[TP("t", 0)].addi(10, 11)
    assert _faust_commit_offset(consumer, 10, [11]) == 12


def test_our_consumer_ignores_acks_it_did_not_approve() -> None:
    from faust.types import TP

    consumer = _safe_consumer()
    app = consumer.app

    class _Msg:
        def __init__(self, offset: int) -> None:
            self.tp, self.topic, self.offset, self.acked = TP("t", 0), "t", offset, False

    app.topics.acks_enabled_for = lambda topic: True  # type: ignore[method-assign]
    skipped, ours = _Msg(7), _Msg(8)
    assert consumer.ack(skipped) is False  # what Faust's stream does with an event it skips
    consumer.approve(ours)
    assert consumer.ack(ours) is True
    assert consumer._acked[TP("t", 0)] == [8]
