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
