"""What each task does, as plain async functions over a :class:`LeadJob`. No Kafka here:
agents feed these and publish what they return.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from pydantic import ValidationError

from providers.errors import BudgetExceeded, ColdstreamError
from providers.router import Attempt, ChainFailed, RoutedCompletion, Router
from providers.temperature import batch_position, spread, stream_position
from streams import prompts
from topics.schemas import (
    AttemptError,
    CostEvent,
    EmailEvent,
    IntakeLead,
    Lead,
    LeadDeadLetter,
    LeadJob,
    LeadRejection,
    SourceRef,
    TaskDeadLetter,
)

#: The stage a job goes to after each stage; ``None`` means "emit the email".
NEXT_STAGE: dict[str, str | None] = {
    "clean_content": "extract_business_info",
    "extract_business_info": "classify_lead",
    "classify_lead": "email_final",
    "email_final": "subject_line",
    "subject_line": None,
    "email_preview": None,
}
COMPANY_STAGES = frozenset({"clean_content", "extract_business_info"})
VALIDATORS: dict[str, Callable[[str], Any]] = {
    "extract_business_info": prompts.parse_business_info,
    "classify_lead": prompts.parse_classification,
    "subject_line": prompts.parse_subject,
}
log = logging.getLogger(__name__)


class LeadRejected(ColdstreamError):
    def __init__(self, reason: LeadRejection, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: LeadRejection = reason
        self.detail = detail


def parse_lead(value: bytes | None) -> Lead:
    """Decode and validate one `leads` record; raise :class:`LeadRejected` saying why not."""
    if not value:
        raise LeadRejected("empty_value", "the record has no value")
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as e:
        raise LeadRejected("invalid_utf8", f"byte {e.start} is not UTF-8") from e
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as e:
        raise LeadRejected("invalid_json", str(e)) from e
    if not isinstance(data, dict):
        raise LeadRejected("not_an_object", f"expected a JSON object, got {type(data).__name__}")
    try:
        return IntakeLead.model_validate(data)
    except ValidationError as e:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in e.errors(include_url=False)
        )
        raise LeadRejected("validation_failed", detail) from e


def lead_dead_letter(
    rejection: LeadRejected, key: bytes | None, value: bytes | None, source: SourceRef
) -> LeadDeadLetter:
    return LeadDeadLetter(
        reason=rejection.reason,
        detail=rejection.detail,
        source_topic=source.topic,
        partition=source.partition,
        offset=source.offset,
        key_b64=_b64(key),
        value_b64=_b64(value),
        failed_at=time.time(),
    )


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def batch_key(lead: Lead) -> str:
    """Leads of one company in one campaign form a batch (temperature spread)."""
    return f"{lead.company.domain}|{lead.campaign_id}"


def start_job(
    lead: Lead,
    *,
    ordinal: int,
    max_website_chars: int,
    source: SourceRef | None,
    generation: int = 1,
    replay_id: str | None = None,
    position: float | None = None,
) -> tuple[str, LeadJob]:
    """First stage and envelope for a valid lead. Website text is cut here, once.

    ``position`` pins the lead's place in its temperature band (a lead seen before keeps it).
    """
    text = lead.company.website_text
    if text is not None and len(text) > max_website_chars:
        lead = lead.model_copy(
            update={
                "company": lead.company.model_copy(
                    update={"website_text": text[:max_website_chars]}
                )
            }
        )
        text = lead.company.website_text
    if position is None:
        position = (
            batch_position(lead.batch.index, lead.batch.size)
            if lead.batch is not None
            else stream_position(ordinal)
        )
    job = LeadJob(
        lead=lead,
        generation=generation,
        replay_id=replay_id,
        temperature_position=position,
        content_hash=hashlib.blake2b(text.encode(), digest_size=12).hexdigest() if text else None,
        source=source,
    )
    return ("email_preview" if lead.preview else "clean_content"), job


def lead_generation(seen: dict[str, Any] | None, *, force: bool) -> tuple[int, float | None]:
    """Generation and pinned temperature position for a lead event.

    A lead seen before keeps its generation, so a redelivery or a plain replay reuses every
    stored result and pays nothing; ``force`` (``replay --force``) starts the next generation.
    """
    if seen is None:
        return 1, None
    return int(seen["generation"]) + (1 if force else 0), float(seen["position"])


class ResultStore(Protocol):
    """Completed results: a Faust table (changelog-backed) in the worker, a dict in tests.

    Keys: ``company|<stage>|<domain>`` (versioned by content hash inside the value) and
    ``lead|<lead_id>|<generation>|<stage>``: the idempotency key of a lead-level call.
    """

    def get(self, key: Any, /) -> Any: ...

    def __setitem__(self, key: str, value: Any) -> None: ...


def emitted_key(job: LeadJob) -> str:
    """Marker that the email of this lead's generation was published."""
    return f"emailed|{job.lead.lead_id}|{job.generation}"


@dataclass(slots=True)
class StageOutput:
    next_stage: str | None = None
    job: LeadJob | None = None
    email: EmailEvent | None = None
    costs: list[CostEvent] = field(default_factory=list)
    dead_letter: TaskDeadLetter | None = None
    already_emitted: bool = False


class Stages:
    """Runs one stage of one job. Company-level stages run once per company content version."""

    def __init__(self, router: Router, *, clock: Callable[[], float] = time.time) -> None:
        self._router = router
        self._clock = clock
        # Single flight: concurrent leads of one company wait for the one call in progress.
        self._company_calls: dict[tuple[str, str, str], asyncio.Future[dict[str, Any]]] = {}

    async def run(
        self, stage: str, job: LeadJob, results: ResultStore, source: SourceRef
    ) -> StageOutput:
        out = StageOutput()
        try:
            if stage in COMPANY_STAGES:
                await self._company_stage(stage, job, results, out)
            else:
                await self._lead_stage(stage, job, results, out)
        except ChainFailed as failure:
            out.costs += self._costs(failure.attempts, job, stage)
            out.dead_letter = self._dead_letter(stage, job, failure, source)
            return out
        out.next_stage = NEXT_STAGE[stage]
        if out.next_stage is not None:
            out.job = job
        elif job.replay_id is None and results.get(emitted_key(job)):
            # A redelivery of a lead whose email is already out: at-least-once would send it
            # again; the marker (kept after publishing) suppresses that. Replays do re-emit.
            out.already_emitted = True
        else:
            out.email = self._email(stage, job)
        return out

    async def _company_stage(
        self, stage: str, job: LeadJob, results: ResultStore, out: StageOutput
    ) -> None:
        source_text = (
            job.lead.company.website_text if stage == "clean_content" else job.cleaned_text
        )
        if not source_text or job.content_hash is None:
            return
        table_key = f"company|{stage}|{job.lead.company.domain}"
        stored = results.get(table_key)
        if stored is not None and stored.get("content_hash") == job.content_hash:
            self._apply_company(stage, job, stored)
            return

        flight_key = (stage, job.lead.company.domain, job.content_hash)
        pending = self._company_calls.get(flight_key)
        if pending is not None:
            self._apply_company(stage, job, await asyncio.shield(pending))
            return
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._company_calls[flight_key] = future
        try:
            routed = await self._call(stage, job)
            result = {
                "content_hash": job.content_hash,
                "value": routed.value,
                "model": routed.model,
                "simulated": routed.completion.simulated,
            }
            out.costs += self._costs(routed.attempts, job, stage)
            results[table_key] = result
            future.set_result(result)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as e:
            future.set_exception(e)
            future.exception()  # mark retrieved: there may be no waiters
            raise
        finally:
            del self._company_calls[flight_key]
        self._apply_company(stage, job, result)

    @staticmethod
    def _apply_company(stage: str, job: LeadJob, result: dict[str, Any]) -> None:
        if stage == "clean_content":
            job.cleaned_text = result["value"]
        else:
            job.business_info = result["value"]
        job.models[stage] = result["model"]
        job.simulated = job.simulated or bool(result.get("simulated"))

    async def _lead_stage(
        self, stage: str, job: LeadJob, results: ResultStore, out: StageOutput
    ) -> None:
        key = f"lead|{job.lead.lead_id}|{job.generation}|{stage}"
        stored = results.get(key)
        if stored is None:
            routed = await self._call(stage, job)
            out.costs += self._costs(routed.attempts, job, stage)
            stored = {
                "value": routed.value,
                "model": routed.model,
                "temperature": routed.temperature,
                "cost_usd": routed.cost_usd,
                "simulated": routed.completion.simulated,
            }
            # Kept before anything is published: a redelivered event finds it and pays nothing.
            results[key] = stored
        job.cost_usd = round(job.cost_usd + stored["cost_usd"], 10)
        job.models[stage] = stored["model"]
        job.temperatures[stage] = stored["temperature"]
        job.simulated = job.simulated or bool(stored["simulated"])
        if stage == "classify_lead":
            job.classification = stored["value"]
        elif stage == "subject_line":
            job.subject = stored["value"]
        else:
            job.body = stored["value"]

    async def _call(self, stage: str, job: LeadJob) -> RoutedCompletion:
        policy = self._router.profile.policy(stage)
        validate = VALIDATORS.get(stage, prompts.parse_body)
        prompt = prompts.build_prompt(stage, job, policy.max_input_tokens)
        while True:
            try:
                return await self._router.complete(
                    stage,
                    system=prompts.SYSTEM[stage],
                    prompt=prompt,
                    temperature=spread(policy.temperature, job.temperature_position),
                    validate=validate,
                )
            except BudgetExceeded as e:
                # Pause: hold this event (and so, once every slot waits, the topic) until
                # a new budget day or freed reservations make room. Nothing is dropped.
                assert self._router.budget is not None
                log.warning("%s paused: %s", stage, e)
                await self._router.budget.wait_for_room(stage, e.needed)

    def _costs(self, attempts: Sequence[Attempt], job: LeadJob, stage: str) -> list[CostEvent]:
        lead_id = None if stage in COMPANY_STAGES else job.lead.lead_id
        return [
            CostEvent(
                call_id=a.call_id,
                request_id=a.request_id,
                lead_id=lead_id,
                company_domain=job.lead.company.domain,
                campaign_id=job.lead.campaign_id,
                task=a.task,
                provider=a.provider,
                model=a.model,
                temperature=a.temperature,
                max_tokens=a.max_tokens,
                input_tokens=a.input_tokens,
                output_tokens=a.output_tokens,
                estimated_tokens=a.estimated_tokens,
                cost_usd=round(a.cost_usd, 10),
                price_version=a.price_version,
                latency_ms=a.latency_ms,
                queued_ms=a.queued_ms,
                attempt=a.attempt,
                chain_position=a.chain_position,
                outcome=a.outcome,
                error=a.error,
                generation=job.generation,
                simulated=a.simulated,
                timestamp=a.started_at,
            )
            for a in attempts
        ]

    def _dead_letter(
        self, stage: str, job: LeadJob, failure: ChainFailed, source: SourceRef
    ) -> TaskDeadLetter:
        return TaskDeadLetter(
            task=stage,
            reason="all_models_failed",
            detail=str(failure),
            attempts=[
                AttemptError(
                    provider=a.provider,
                    model=a.model,
                    chain_position=a.chain_position,
                    attempt=a.attempt,
                    outcome=a.outcome,
                    error=a.error,
                )
                for a in failure.attempts
            ],
            job=job,
            value_b64=None,
            source_topic=source.topic,
            partition=source.partition,
            offset=source.offset,
            failed_at=self._clock(),
        )

    def _email(self, stage: str, job: LeadJob) -> EmailEvent:
        creative = "email_preview" if stage == "email_preview" else "email_final"
        return EmailEvent(
            lead_id=job.lead.lead_id,
            campaign_id=job.lead.campaign_id,
            company_domain=job.lead.company.domain,
            contact_email=str(job.lead.contact.email),
            kind="preview" if stage == "email_preview" else "final",
            subject=job.subject or "",
            body=job.body or "",
            classification=job.classification,
            models=dict(job.models),
            temperature=job.temperatures.get(creative, 0.0),
            cost_usd=job.cost_usd,
            generation=job.generation,
            replay_id=job.replay_id,
            simulated=job.simulated,
            lead_received_at=job.received_at,
            created_at=self._clock(),
        )
