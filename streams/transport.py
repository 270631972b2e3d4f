"""Faust's Kafka consumer, made to never commit an offset our handlers did not finish.

faust-streaming 0.15.3 (with aiokafka 0.14) loses records around rebalances in four ways,
each observed in the two-worker fail-over test:

1. While tables recover, Faust fetches records of paused stream partitions and drops them,
   relying on ``perform_seek`` to go back to the committed offset. aiokafka's
   ``seek_to_committed`` only seeks when that offset is above 0, so a partition nobody had
   committed went on *after* the dropped records.
2. ``FlowControlEvent.resume()`` clears every stream queue, and Faust calls it at the end of
   recovery while the fetcher is already delivering: records waiting in a queue vanish.
3. A stream that skips an event (flow suspended, or an older consumer generation) acks it.
4. ``Consumer._new_offset`` lets the first acked run start one past the committed offset
   (``min(acked) - committed > 1``), so a missing record is committed over.

The fixes here: uncommitted partitions are read from their first record (1); only acks our
handlers approved count (3); a commit never passes a missing offset at the head (4); and (2)
:meth:`SafeCommitConsumer.resync` rewinds every partition to its committed offset (asked for
during a rebalance, after it), asked for by a stream that sees an offset missing, and by
:class:`DropReportingFlowControl` whenever the queue clear dropped records: a dropped tail
has no later record to show the hole.
Redelivered offsets are run once by ``streams.inflight``, so a rewind costs duplicates of
nothing but bookkeeping.

The fetcher's loop is Faust's, with a cheaper hand-over of each record to its stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.utils.queues import FlowControlEvent

log = logging.getLogger(__name__)


class SafeCommitConsumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._approved: set[int] = set()
        self._fresh_starts: dict[Any, int] = {}
        self._resync_lock = asyncio.Lock()
        self._deferred_resync: asyncio.Future[None] | None = None
        self._delivering: asyncio.Task[Any] | None = None
        self._requested: set[asyncio.Future[None]] = set()
        self.resyncs = 0

    # --- delivery: Faust's loop with one task per record instead of four ----------------

    def stop_flow(self) -> None:
        super().stop_flow()
        if self._delivering is not None:
            self._delivering.cancel()  # as Faust's wait_first on ``suspend_flow`` does

    async def _drain_messages(self, fetcher: Any) -> None:
        # Faust's loop, record for record, except the wait: Faust runs each delivery under
        # ``wait_first`` against ``suspend_flow``, four tasks per record and ~110 us of CPU
        # (bench/faust_delivery.py). Here the delivery is one task that ``stop_flow``
        # cancels; either way a suspended delivery is dropped and left to the seek that
        # follows. Still one task per record: delivering inline, in the fetcher's own task,
        # lost records after a kill -9 restart (BENCHMARKS.md).
        callback: Any = self.callback
        read_offset = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        commit_every = self._commit_every
        create_task = asyncio.create_task
        fetcher_task = asyncio.current_task()
        assert fetcher_task is not None
        since_yield = 0
        try:
            while not (self._stopped.is_set() or fetcher._stopped.is_set()):
                self.diag.set_flag(CONSUMER_FETCHING)
                fetched = self.getmany(timeout=1.0)
                await self.sleep(0)  # getmany can return at once, time after time
                if not self.should_stop:
                    async for tp, message in fetched:
                        since_yield += 1
                        if since_yield > 100:
                            await asyncio.sleep(0)
                            since_yield = 0
                        offset = message.offset
                        last_read = read_offset.get(tp)
                        if last_read is not None and offset < last_read:
                            continue  # re-fetched after a seek; Faust drops it as well
                        if last_read and offset - last_read > 1 and acks_enabled_for(tp.topic):
                            await self._add_gap(tp, last_read + 1, offset)
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        delivery = create_task(callback(message))
                        if not self.flow_active:
                            delivery.cancel()
                        self._delivering = delivery
                        try:
                            await delivery  # an error in it stops the fetcher, as in Faust
                        except asyncio.CancelledError:
                            if fetcher_task.cancelling():
                                raise  # the fetcher itself is being stopped
                        finally:
                            self._delivering = None
                        read_offset[tp] = offset
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        except Exception as exc:
            log.exception("fetcher: delivering a record failed: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    # --- (1) partitions without a committed offset start at their first record ----------

    async def seek_to_committed(self) -> Mapping[Any, int]:
        committed = await super().seek_to_committed()
        changelogs = self.app.tables.changelog_topics  # positioned by table recovery
        fresh = [
            tp for tp, offset in committed.items() if not offset and tp.topic not in changelogs
        ]
        self._fresh_starts = dict(await self.earliest_offsets(*fresh)) if fresh else {}
        for tp, start in self._fresh_starts.items():
            await self.seek(tp, start)
        return committed

    async def perform_seek(self) -> None:
        await super().perform_seek()
        # Faust keeps "unknown" for these; the head check below needs where reading starts.
        self._committed_offset.update(self._fresh_starts)

    # --- (3) only acks from our handlers --------------------------------------------------

    def approve(self, message: Any) -> None:
        """Mark ``message`` as finished by our handler; its ack may then count."""
        self._approved.add(id(message))

    def ack(self, message: Any) -> bool:
        key = id(message)
        if key not in self._approved:
            return False  # Faust's stream skipping an event it never handed to us
        self._approved.discard(key)
        return bool(super().ack(message))

    # --- (4) never commit over a missing offset -------------------------------------------

    def _new_offset(self, tp: Any) -> int | None:
        committed = self._committed_offset.get(tp)
        acked = self._acked.get(tp)
        if committed is not None and acked:
            gaps = self._gaps(tp, 0, max(acked) + 1)
            if min([*acked, *(gap.begin for gap in gaps)]) > committed:
                return None
        result = super()._new_offset(tp)
        return None if result is None else int(result)

    # --- (2) re-read what a stream never received ----------------------------------------

    def committed_offset(self, tp: Any) -> int | None:
        """Where reading this partition (re)started: its committed offset, if known."""
        offset = self._committed_offset.get(tp)
        return None if offset is None else int(offset)

    def is_known_gap(self, tp: Any, start: int, end: int) -> bool:
        """Whether offsets ``start..end-1`` are a gap Kafka has no records for."""
        committed = self._committed_offset.get(tp)
        if committed is not None and committed >= end:
            return True  # already committed over as a gap
        return bool(self._gaps(tp, start, end))

    def _gaps(self, tp: Any, start: int, end: int) -> set[Any]:
        """Faust's record of offsets Kafka has no record for (transaction markers,
        compaction) that overlap ``start..end-1``."""
        gaps = self._gap.get(tp)
        return set(gaps.overlap(start, end)) if gaps else set()

    async def resync(self, reason: str) -> None:
        """Rewind every stream partition to its committed offset and fetch again."""
        if self.should_stop:
            return  # a stop needs none
        if self._busy():
            # The rebalance's own seek may already be behind us, and the queue clear at its
            # end comes after that seek: rewind again once it is over.
            self._resync_after_rebalance(reason)
            return
        started_before = self.resyncs
        async with self._resync_lock:
            if self.resyncs > started_before:
                return  # one that started after this request has already re-read it
            log.warning("re-reading from the committed offsets: %s", reason)
            self.resyncs += 1
            self.stop_flow()
            try:
                await self.perform_seek()
            finally:
                if not self._busy():  # else Faust resumes the flow when it is done
                    self.resume_flow()

    def _resync_after_rebalance(self, reason: str) -> None:
        if self._deferred_resync is not None and not self._deferred_resync.done():
            return  # one rewind after the rebalance covers every request made during it

        async def when_settled() -> None:
            # Faust's rebalancing and recovery flags have no event to wait on.
            while self._busy() and not self.should_stop:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            self._deferred_resync = None
            await self.resync(reason + " (asked during a rebalance)")

        self._deferred_resync = asyncio.ensure_future(when_settled())

    def _busy(self) -> bool:
        return bool(self.app.rebalancing or self.app.in_recovery or self.should_stop)

    def request_resync(self, reason: str) -> None:
        """:meth:`resync` from synchronous code (a Faust callback)."""
        task = asyncio.ensure_future(self.resync(reason))
        self._requested.add(task)  # keep a reference until it is done
        task.add_done_callback(self._requested.discard)


class DropReportingFlowControl(FlowControlEvent):
    """Faust's flow control of its stream queues, reporting what resuming drops.

    ``resume()`` clears every stream queue; Faust calls it at the end of table recovery,
    after its seek to the committed offsets, so records fetched in between and still queued
    vanish (2). The app's consumer re-reads them.
    """

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._app = app

    def resume(self) -> None:
        queued = sum(queue.qsize() for queue in self._queues)
        super().resume()
        if not queued:
            return
        consumer = self._app.consumer
        if isinstance(consumer, SafeCommitConsumer):
            consumer.request_resync(f"{queued} queued records dropped when flow resumed")


class KafkaTransport(faust_aiokafka.Transport):
    Consumer = SafeCommitConsumer
