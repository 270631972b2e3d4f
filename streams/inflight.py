"""Many calls in flight from one agent, with offsets committed only behind finished work.

Faust commits the highest *contiguous* acknowledged offset, but its check has an off-by-one
(``min(acked) - committed > 1`` in ``Consumer._new_offset``, and no check at all while the
committed offset is unknown or 0): with the oldest message still in flight and a newer one
acked, it commits past the unfinished one. A crash then loses it. So we never hand Faust an
out-of-order ack: :class:`OrderedAcks` releases events per partition strictly in arrival
order, and Faust only ever sees a contiguous run.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Backoff for a handler that raised (Kafka unavailable while publishing, say).
RETRY_INITIAL_S = 0.5
RETRY_MAX_S = 15.0


class OffsetGuard(Protocol):
    """The consumer's side of our offset safety (``streams.transport.SafeCommitConsumer``)."""

    def approve(self, message: Any) -> None: ...

    def committed_offset(self, tp: Any) -> int | None: ...

    def is_known_gap(self, tp: Any, start: int, end: int) -> bool: ...

    async def resync(self, reason: str) -> None: ...


class _Entry(Generic[T]):
    __slots__ = ("done", "item")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = False


class OrderedAcks(Generic[T]):
    """Tracks items per partition in arrival order; releases the finished prefix."""

    def __init__(self) -> None:
        self._queues: dict[Hashable, deque[_Entry[T]]] = {}

    def track(self, partition: Hashable, item: T) -> _Entry[T]:
        entry = _Entry(item)
        self._queues.setdefault(partition, deque()).append(entry)
        return entry

    def finish(self, partition: Hashable, entry: _Entry[T]) -> list[T]:
        entry.done = True
        queue = self._queues[partition]
        released: list[T] = []
        while queue and queue[0].done:
            released.append(queue.popleft().item)
        if not queue:
            del self._queues[partition]
        return released

    def pending(self) -> int:
        return sum(len(q) for q in self._queues.values())


class FinishedOffsets:
    """Offsets whose handler finished, per partition: a contiguous run, plus those finished
    beyond an offset that has not (it never arrived yet). Nothing is assumed finished that
    was not seen finishing, so a re-read of a missing offset runs it."""

    def __init__(
        self,
        start_of: Callable[[Hashable], int | None],
        is_known_gap: Callable[[Hashable, int, int], bool],
    ) -> None:
        self._start_of = start_of
        self._is_known_gap = is_known_gap
        self._below: dict[Hashable, int] = {}
        self._above: dict[Hashable, set[int]] = {}

    def add(self, tp: Hashable, offset: int) -> None:
        below = self._below.get(tp)
        if below is None:
            start = self._start_of(tp)
            below = offset if start is None else start
        if offset > below and self._is_known_gap(tp, below, offset):
            below = offset  # Kafka has no records there
        if offset == below:
            below += 1
            above = self._above.get(tp)
            while above and below in above:
                above.discard(below)
                below += 1
            if not above:
                self._above.pop(tp, None)
        elif offset > below:
            self._above.setdefault(tp, set()).add(offset)
        self._below[tp] = below

    def __contains__(self, item: tuple[Hashable, int]) -> bool:
        tp, offset = item
        return offset < self._below.get(tp, -1) or offset in self._above.get(tp, ())


async def run_in_flight(
    stream: Any,
    handle: Callable[[Any], Awaitable[None]],
    *,
    limit: int,
    name: str,
    drain_timeout_s: float,
    guard: OffsetGuard | None = None,
) -> None:
    """Consume ``stream`` (a Faust stream), running up to ``limit`` handlers at once.

    An event is acknowledged only after its handler returned and every earlier event of its
    partition was acknowledged. A handler that raises is retried with backoff: handlers turn
    bad data into dead letters themselves, so what raises here is infrastructure.

    With a ``guard``, each ack is approved first, and an offset that never arrived (Faust
    dropped it from a queue) makes the consumer re-read from the committed offsets.
    """
    manual = stream.noack()
    slots = asyncio.Semaphore(limit)
    acks: OrderedAcks[Any] = OrderedAcks()
    running: set[asyncio.Task[None]] = set()
    # Faust can hand us an offset again (a seek to the committed offset while fetched records
    # are still being worked on, e.g. at start-up or after a rebalance). Offsets finished here
    # already had their outputs published; offsets still running have a task doing so.
    # Originals stay in ``by_offset`` until their ack is released, so a copy that arrives
    # while the original waits behind an earlier offset does not run the handler again.
    finished = FinishedOffsets(
        start_of=guard.committed_offset if guard is not None else (lambda tp: None),
        is_known_gap=guard.is_known_gap if guard is not None else (lambda tp, a, b: False),
    )
    by_offset: dict[tuple[Any, int], tuple[asyncio.Task[None], Any]] = {}

    async def one(event: Any, entry: _Entry[Any], original: asyncio.Task[None] | None) -> None:
        tp, offset = event.message.tp, event.message.offset
        delay = RETRY_INITIAL_S
        try:
            if original is not None:
                await asyncio.shield(original)  # the same record is already being handled
            elif (tp, offset) not in finished:
                while True:
                    try:
                        await handle(event)
                        break
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("%s: handler failed; retrying in %.1fs", name, delay)
                        await asyncio.sleep(delay)
                        delay = min(RETRY_MAX_S, delay * 2)
            for ready in acks.finish(tp, entry):
                finished.add(tp, ready.message.offset)
                key = (tp, ready.message.offset)
                if key in by_offset and by_offset[key][1] is ready:
                    del by_offset[key]
                if guard is not None:
                    guard.approve(ready.message)
                await manual.ack(ready)
        finally:
            slots.release()

    # Per partition, the generation and offset of the last event received.
    last_seen: dict[Any, tuple[Any, int]] = {}

    def missing_before(guard: OffsetGuard, message: Any) -> int | None:
        """The first offset of this partition that should have come before ``message``."""
        tp, offset = message.tp, message.offset
        generation = getattr(message, "generation_id", None)
        previous = last_seen.get(tp)
        last_seen[tp] = (generation, offset)
        if previous is None or previous[0] != generation:
            start = guard.committed_offset(tp)  # a (re)assigned partition starts there
        else:
            start = previous[1] + 1
        if start is None or offset <= start or guard.is_known_gap(tp, start, offset):
            return None
        return start

    try:
        async for event in manual.events():
            await slots.acquire()
            if guard is not None and (start := missing_before(guard, event.message)) is not None:
                tp = event.message.tp
                reason = f"{name}: {tp.topic}[{tp.partition}] {start}..{event.message.offset - 1}"
                try:
                    await guard.resync(reason + " missing")
                except Exception:
                    log.exception("%s: re-reading from the committed offsets failed", name)
            tp, offset = event.message.tp, event.message.offset
            entry = acks.track(tp, event)
            known = by_offset.get((tp, offset))
            original = known[0] if known is not None else None
            task = asyncio.create_task(one(event, entry, original), name=f"{name}:{offset}")
            if known is None:
                by_offset[(tp, offset)] = (task, event)
            running.add(task)
            task.add_done_callback(running.discard)
    finally:
        if running:
            log.info("%s: draining %d in-flight events", name, len(running))
            _, late = await asyncio.wait(set(running), timeout=drain_timeout_s)
            for task in late:
                task.cancel()
