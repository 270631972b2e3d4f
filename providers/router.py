"""The fallback chain: one task -> the models of its chain, in order, within one deadline.

Per step: skip at once if the breaker is open; retry only retriable errors, and only when the
wait fits in what is left of the deadline; otherwise move to the next step immediately.
Every attempt (skips included) is returned as an :class:`Attempt`, so the caller can emit one
cost event for each. When all steps fail, :class:`AllModelsFailed` carries every error.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from providers.base import Completion, CompletionRequest, Provider
from providers.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from providers.budget import BudgetLedger, Reservation
from providers.errors import (
    AllModelsFailed,
    BudgetExceeded,
    CircuitOpen,
    ConfigError,
    DeadlineExceeded,
    InvalidOutput,
    ProviderError,
    ProviderTimeout,
)
from providers.ratelimit import ModelLimiter
from providers.retry import RetryPolicy
from providers.routing import RoutingProfile

log = logging.getLogger(__name__)

#: Below this much time left, an attempt cannot succeed; count the deadline as spent.
MIN_ATTEMPT_S = 0.01
#: Grace over the SDK's own timeout before we cancel the call ourselves.
TIMEOUT_GRACE_S = 0.25
REPAIR_SUFFIX = (
    "\n\nYour previous answer could not be used ({problem}). "
    "Answer again with one valid JSON object only."
)

Validator = Callable[[str], Any]


@dataclass(slots=True)
class Attempt:
    """One model call attempt, or one step skipped without a call."""

    call_id: str
    #: Shared by every attempt of one ``Router.complete`` (one task for one lead/company).
    request_id: str
    task: str
    provider: str
    model: str
    temperature: float
    max_tokens: int
    attempt: int
    chain_position: int
    outcome: str
    error: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    #: The provider's time: from the request leaving to its answer (or failure).
    latency_ms: float
    #: Our own wait before that: a free slot for the model and rate-limit allowance.
    queued_ms: float
    estimated_tokens: bool
    simulated: bool
    price_version: str
    started_at: float


@dataclass(slots=True)
class _CallTiming:
    """Set by ``Router._call`` when the request leaves, after our own queue."""

    sent: float | None = None
    sent_wall: float = 0.0


@dataclass(slots=True)
class RoutedCompletion:
    task: str
    completion: Completion
    #: The validator's result for structured tasks, else the text.
    value: Any
    model: str
    chain_position: int
    temperature: float
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def cost_usd(self) -> float:
        return sum(a.cost_usd for a in self.attempts)


class ChainFailed(AllModelsFailed):
    """All steps failed; ``attempts`` holds the records to cost, in order."""

    attempts: list[Attempt]


class Router:
    def __init__(
        self,
        profile: RoutingProfile,
        providers: Mapping[str, Provider],
        *,
        retry: RetryPolicy | None = None,
        breaker: BreakerPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        on_breaker_change: Callable[[str, BreakerState, BreakerState], None] | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
        budget: BudgetLedger | None = None,
    ) -> None:
        missing = {spec.provider for spec in profile.models.values()} - set(providers)
        if missing:
            raise ConfigError(f"no provider configured for: {', '.join(sorted(missing))}")
        self.profile = profile
        self._providers = dict(providers)
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._rng = rng or random.Random()
        policy = breaker or BreakerPolicy()
        self._on_breaker_change = on_breaker_change or _log_breaker_change
        # Built once: nothing per call allocates breakers or semaphores.
        self.breakers = {
            name: CircuitBreaker(
                f"{spec.provider}/{name}", policy, clock=clock, on_change=self._on_breaker_change
            )
            for name, spec in profile.models.items()
        }
        self._slots = {
            name: asyncio.Semaphore(spec.max_in_flight) for name, spec in profile.models.items()
        }
        self._limits = {
            name: ModelLimiter(spec.rpm, spec.tpm)
            for name, spec in profile.models.items()
            if spec.rpm or spec.tpm
        }
        self.in_flight = 0
        self._on_attempt = on_attempt
        self.budget = budget if budget is not None and budget.enabled else None

    async def complete(
        self,
        task: str,
        *,
        system: str,
        prompt: str,
        temperature: float | None = None,
        validate: Validator | None = None,
    ) -> RoutedCompletion:
        policy = self.profile.policy(task)
        temp = policy.temperature if temperature is None else temperature
        deadline = self._clock() + policy.deadline_s
        max_attempts = policy.max_attempts_per_step or self._retry.max_attempts_per_step
        attempts: list[Attempt] = []
        errors: list[Exception] = []
        request_id = os.urandom(16).hex()
        budget_refusals = 0

        for position, model in enumerate(policy.chain):
            spec = self.profile.model(model)
            breaker = self.breakers[model]
            step_prompt = prompt
            repaired = False
            attempt_no = 0
            while True:
                attempt_no += 1
                remaining = deadline - self._clock()
                if remaining <= MIN_ATTEMPT_S:
                    error: ProviderError = DeadlineExceeded(
                        f"{task}: deadline of {policy.deadline_s}s spent before {model}"
                    )
                    attempts.append(
                        self._skip(request_id, task, model, temp, position, attempt_no, error)
                    )
                    errors.append(error)
                    break
                if not breaker.allow():
                    error = CircuitOpen(f"{spec.provider} {model}: circuit open")
                    attempts.append(
                        self._skip(request_id, task, model, temp, position, attempt_no, error)
                    )
                    errors.append(error)
                    break
                reservation = None
                if self.budget is not None:
                    try:
                        reservation = self.budget.reserve(
                            task, self.profile.worst_case_cost(task, model)
                        )
                    except BudgetExceeded as refused:
                        breaker.release()
                        if policy.budget_action == "pause":
                            raise
                        # degrade: a cheaper step further down the chain may still fit.
                        budget_refusals += 1
                        attempts.append(
                            self._skip(request_id, task, model, temp, position, attempt_no, refused)
                        )
                        errors.append(refused)
                        break
                timeout = min(self.profile.timeout_for(task, model), remaining)
                request = CompletionRequest(
                    model=spec.api_name or model,
                    system=system,
                    prompt=step_prompt,
                    temperature=temp,
                    max_tokens=policy.max_tokens,
                    timeout=timeout,
                    json_output=policy.json_output,
                    task=task,
                )
                started = self._clock()
                timing = _CallTiming()
                completion: Completion | None = None
                try:
                    completion = await self._call(model, spec.provider, request, deadline, timing)
                    value = validate(completion.text) if validate else completion.text
                except (ValueError, TypeError, ProviderError) as raised:
                    e = (
                        raised
                        if isinstance(raised, ProviderError)
                        else InvalidOutput(f"{spec.provider} {model}: unusable answer: {raised}")
                    )
                    if e.counts_against_health:
                        breaker.record_failure()
                    else:
                        breaker.release()
                    record = self._record(
                        request_id,
                        task,
                        model,
                        temp,
                        position,
                        attempt_no,
                        started,
                        timing,
                        e,
                        completion,
                    )
                    attempts.append(record)
                    self._settle(reservation, record)
                    errors.append(e)
                    if isinstance(e, InvalidOutput):
                        # One repair attempt on the same model, then the next step.
                        if repaired:
                            break
                        repaired = True
                        step_prompt = prompt + REPAIR_SUFFIX.format(problem=e)
                        continue
                    if not e.retriable or attempt_no >= max_attempts:
                        break
                    wait = self._retry.backoff(attempt_no, e.retry_after, self._rng)
                    if wait is None or wait + MIN_ATTEMPT_S >= deadline - self._clock():
                        break
                    await asyncio.sleep(wait)
                    continue
                breaker.record_success()
                record = self._record(
                    request_id,
                    task,
                    model,
                    temp,
                    position,
                    attempt_no,
                    started,
                    timing,
                    None,
                    completion,
                )
                attempts.append(record)
                self._settle(reservation, record)
                return RoutedCompletion(
                    task=task,
                    completion=completion,
                    value=value,
                    model=model,
                    chain_position=position,
                    temperature=temp,
                    attempts=attempts,
                )

        if budget_refusals and budget_refusals == len(policy.chain):
            # Degrading found no step that fits: wait for room rather than drop the task.
            raise next(e for e in errors if isinstance(e, BudgetExceeded))
        failure = ChainFailed(task, errors)
        failure.attempts = attempts
        raise failure

    def _settle(self, reservation: Reservation | None, record: Attempt) -> None:
        if reservation is not None and self.budget is not None:
            self.budget.settle(reservation, record.cost_usd)

    async def _call(
        self,
        model: str,
        provider: str,
        request: CompletionRequest,
        deadline: float,
        timing: _CallTiming,
    ) -> Completion:
        slot = self._slots[model]
        limiter = self._limits.get(model)
        try:
            async with asyncio.timeout(max(MIN_ATTEMPT_S, deadline - self._clock())):
                if limiter is not None:
                    # Tokens we may use: the prompt (about 4 characters a token) plus the answer.
                    await limiter.acquire(
                        (len(request.system) + len(request.prompt)) // 4 + request.max_tokens
                    )
                await slot.acquire()
        except TimeoutError as e:
            raise ProviderTimeout(
                f"{provider} {model}: no rate-limit allowance or free slot before the deadline"
            ) from e
        self.in_flight += 1
        timing.sent, timing.sent_wall = self._clock(), time.time()
        try:
            async with asyncio.timeout(request.timeout + TIMEOUT_GRACE_S):
                return await self._providers[provider].complete(request)
        except TimeoutError as e:
            raise ProviderTimeout(f"{provider} {model}: timed out after {request.timeout}s") from e
        finally:
            self.in_flight -= 1
            slot.release()

    def _record(
        self,
        request_id: str,
        task: str,
        model: str,
        temperature: float,
        position: int,
        attempt_no: int,
        started: float,
        timing: _CallTiming | None,
        error: ProviderError | None,
        completion: Completion | None,
    ) -> Attempt:
        spec = self.profile.model(model)
        policy = self.profile.policy(task)
        now = self._clock()
        if timing is not None and timing.sent is not None:
            sent, sent_wall = timing.sent, timing.sent_wall
        else:  # never sent (no slot before the deadline, or a skipped step): all of it queued
            sent, sent_wall = now, time.time() - (now - started)
        input_tokens = completion.input_tokens if completion else 0
        output_tokens = completion.output_tokens if completion else 0
        attempt = Attempt(
            call_id=os.urandom(16).hex(),
            request_id=request_id,
            task=task,
            provider=spec.provider,
            model=model,
            temperature=temperature,
            max_tokens=policy.max_tokens,
            attempt=attempt_no,
            chain_position=position,
            outcome="ok" if error is None else error.outcome,
            error=None if error is None else f"{type(error).__name__}: {error}",
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=spec.cost(input_tokens, output_tokens),
            latency_ms=round((now - sent) * 1000, 3),
            queued_ms=round((sent - started) * 1000, 3),
            estimated_tokens=bool(completion and not completion.usage_reported),
            simulated=bool(
                completion.simulated if completion else self._providers[spec.provider].simulated
            ),
            price_version=self.profile.price_version,
            started_at=sent_wall,
        )
        if self._on_attempt is not None:
            self._on_attempt(attempt)
        return attempt

    def _skip(
        self,
        request_id: str,
        task: str,
        model: str,
        temperature: float,
        position: int,
        attempt_no: int,
        error: ProviderError,
    ) -> Attempt:
        now = self._clock()
        return self._record(
            request_id,
            task,
            model,
            temperature,
            position,
            attempt_no,
            now,
            None,
            error,
            None,
        )

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()


def _log_breaker_change(key: str, old: BreakerState, new: BreakerState) -> None:
    log.warning("circuit %s: %s -> %s", key, old.value, new.value)
