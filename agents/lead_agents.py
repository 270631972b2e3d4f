"""Thin Faust agents: decode, call the plain stage functions, publish, then acknowledge.

Every agent runs many events at once (``run_in_flight``) and acknowledges an event only
after everything it produced has been accepted by the broker.
"""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

import faust
from pydantic import BaseModel, ValidationError

from streams.inflight import OffsetGuard, run_in_flight
from streams.metrics import Metrics
from streams.publish import OutRecord, Publisher
from streams.settings import Settings
from streams.stages import (
    LeadRejected,
    Stages,
    batch_key,
    emitted_key,
    lead_dead_letter,
    lead_generation,
    parse_lead,
    start_job,
)
from streams.transport import SafeCommitConsumer
from topics.catalog import (
    BATCH_ORDINALS_TABLE,
    FORCE_HEADER,
    LEADS_SEEN_TABLE,
    REPLAY_HEADER,
    RESULTS_TABLE,
    STAGES,
)
from topics.schemas import LeadJob, SourceRef, TaskDeadLetter

log = logging.getLogger(__name__)

#: Faust opens one RocksDB per table and partition (3 x 8 here), each by default with 64 MB
#: write buffers x 3 and its own 2 GB block cache: a day's results never leave the memtables
#: and RSS grows with every lead. Small buffers flush to disk, so memory stays flat.
#: (Ignored by the ``memory://`` store.)
ROCKSDB_OPTIONS: dict[str, int] = {
    "write_buffer_size": 1 << 20,
    "max_write_buffer_number": 2,
    "block_cache_size": 2 << 20,
    "target_file_size_base": 8 << 20,
}


def _headers(raw: Any) -> dict[str, str]:
    items = raw.items() if isinstance(raw, dict) else (raw or ())
    return {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in items}


def _dumps(model: BaseModel) -> bytes:
    return model.model_dump_json().encode()


class LeadAgents:
    def __init__(
        self, app: faust.App, settings: Settings, stages: Stages, metrics: Metrics | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics or Metrics()
        self.settings = settings
        self.stages = stages
        names = settings.topics
        self.leads = app.topic(names.leads, partitions=settings.topic_partitions)
        self.task_topics = {
            stage: app.topic(names.task(stage), partitions=settings.topic_partitions)
            for stage in STAGES
        }
        self.names = names
        self.task_names = {stage: names.task(stage) for stage in STAGES}
        self.publisher = Publisher(app.maybe_start_producer)
        table_args: dict[str, Any] = {
            "partitions": settings.topic_partitions,
            "schema": faust.Schema(key_serializer="json", value_serializer="json"),
            "options": dict(ROCKSDB_OPTIONS),
        }
        #: Completed results (company- and lead-level), co-partitioned with tasks.* by domain.
        self.results = app.Table(RESULTS_TABLE, default=None, **table_args)
        #: Leads seen per company+campaign, for the temperature spread of unknown-size batches.
        self.ordinals = app.Table(BATCH_ORDINALS_TABLE, default=int, **table_args)
        #: Per lead: its current generation and temperature position (replays reuse them).
        self.leads_seen = app.Table(LEADS_SEEN_TABLE, default=None, **table_args)

    def register(self) -> None:
        limit, drain = self.settings.max_in_flight, self.settings.drain_timeout_s

        async def intake(stream: Any) -> None:
            await run_in_flight(
                stream,
                self.on_lead,
                limit=limit,
                name="intake",
                drain_timeout_s=drain,
                guard=self._offset_guard(),
            )

        self.app.agent(self.leads, name="intake")(intake)
        for stage in STAGES:
            self.app.agent(self.task_topics[stage], name=f"task_{stage}")(
                self._stage_agent(stage, limit, drain)
            )

    def _stage_agent(self, stage: str, limit: int, drain: float) -> Any:
        async def handle(event: Any) -> None:
            await self.on_task(stage, event)

        async def agent(stream: Any) -> None:
            await run_in_flight(
                stream,
                handle,
                limit=limit,
                name=stage,
                drain_timeout_s=drain,
                guard=self._offset_guard(),
            )

        return agent

    def _offset_guard(self) -> OffsetGuard | None:
        consumer = self.app.consumer
        return consumer if isinstance(consumer, SafeCommitConsumer) else None

    # --- handlers ----------------------------------------------------------------------

    async def on_lead(self, event: Any) -> None:
        message = event.message
        source = SourceRef(topic=message.topic, partition=message.partition, offset=message.offset)
        try:
            lead = parse_lead(message.value)
        except LeadRejected as rejected:
            log.warning(
                "lead rejected %s[%d]@%d: %s",
                message.topic,
                message.partition,
                message.offset,
                rejected,
            )
            letter = lead_dead_letter(rejected, message.key, message.value, source)
            await self.publisher.publish(
                [OutRecord(self.names.leads_dlq, message.key, _dumps(letter))]
            )
            self.metrics.dead_letters.labels("leads.dlq", rejected.reason).inc()
            return
        headers = _headers(message.headers)
        generation, position = lead_generation(
            self.leads_seen.get(lead.lead_id), force=FORCE_HEADER in headers
        )
        ordinal = 0
        if position is None:
            key = batch_key(lead)
            ordinal = self.ordinals[key]
            self.ordinals[key] = ordinal + 1
        stage, job = start_job(
            lead,
            ordinal=ordinal,
            max_website_chars=self.settings.max_website_chars,
            source=source,
            generation=generation,
            replay_id=headers.get(REPLAY_HEADER),
            position=position,
        )
        self.leads_seen[lead.lead_id] = {
            "generation": generation,
            "position": job.temperature_position,
        }
        await self.publisher.publish(
            [OutRecord(self.task_names[stage], lead.company.domain.encode(), _dumps(job))]
        )

    async def on_task(self, stage: str, event: Any) -> None:
        message = event.message
        source = SourceRef(topic=message.topic, partition=message.partition, offset=message.offset)
        try:
            job = LeadJob.model_validate_json(message.value or b"")
        except ValidationError as e:
            letter = TaskDeadLetter(
                task=stage,
                reason="invalid_envelope",
                detail=str(e),
                attempts=[],
                job=None,
                value_b64=base64.b64encode(message.value or b"").decode(),
                source_topic=source.topic,
                partition=source.partition,
                offset=source.offset,
                failed_at=time.time(),
            )
            await self.publisher.publish(
                [OutRecord(self.names.tasks_dlq, message.key, _dumps(letter))]
            )
            return
        out = await self.stages.run(stage, job, self.results, source)
        domain = job.lead.company.domain.encode()
        records = [OutRecord(self.names.costs, domain, _dumps(cost)) for cost in out.costs]
        if out.dead_letter is not None:
            records.append(OutRecord(self.names.tasks_dlq, domain, _dumps(out.dead_letter)))
        elif out.email is not None:
            records.append(
                OutRecord(self.names.emails, out.email.lead_id.encode(), _dumps(out.email))
            )
        elif out.next_stage is not None and out.job is not None:
            records.append(OutRecord(self.task_names[out.next_stage], domain, _dumps(out.job)))
        await self.publisher.publish(records)
        if out.email is not None:
            self.results[emitted_key(job)] = True
        if out.dead_letter is not None:
            self.metrics.dead_letters.labels("tasks.dlq", out.dead_letter.reason).inc()
        elif out.email is not None:
            self.metrics.emails.labels(out.email.kind).inc()
