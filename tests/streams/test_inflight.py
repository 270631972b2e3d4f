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
