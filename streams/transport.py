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
handlers approved count (3); a commit never passes a missing offset at the head (4); and a
stream that sees an offset missing asks for :meth:`SafeCommitConsumer.resync` (2), which
rewinds every partition to its committed offset. Redelivered offsets are run once by
``streams.inflight``, so a rewind costs duplicates of nothing but bookkeeping.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka

log = logging.getLogger(__name__)


class SafeCommitConsumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._approved: set[int] = set()
        self._fresh_starts: dict[Any, int] = {}
        self._resync_lock = asyncio.Lock()
        self.resyncs = 0

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
        if self._busy():
            return  # a rebalance seeks to the committed offsets itself; a stop needs none
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

    def _busy(self) -> bool:
        return bool(self.app.rebalancing or self.app.in_recovery or self.should_stop)


class KafkaTransport(faust_aiokafka.Transport):
    Consumer = SafeCommitConsumer
