"""Builds the long-lived parts once, from settings: providers, router, stages."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping

from providers.anthropic import AnthropicProvider
from providers.base import Provider
from providers.breaker import BreakerPolicy, BreakerState
from providers.budget import GLOBAL, BudgetLedger
from providers.errors import ConfigError
from providers.openai import OpenAIProvider
from providers.router import Router
from providers.routing import RoutingProfile, load_profile
from providers.simulated import SimulatedProvider
from streams.metrics import Metrics
from streams.settings import Settings

log = logging.getLogger(__name__)


def build_providers(settings: Settings, profile: RoutingProfile) -> dict[str, Provider]:
    needed = {spec.provider for spec in profile.models.values()}
    if not settings.live:
        latencies = {
            (spec.api_name or name): spec.latency
            for name, spec in profile.models.items()
            if spec.latency is not None
        }
        return {
            name: SimulatedProvider(
                name,
                latencies=latencies,
                time_scale=settings.sim_time_scale,
                error_rate=settings.sim_error_rate,
                seed=settings.sim_seed,
            )
            for name in needed
        }
    pool = max(spec.max_in_flight for spec in profile.models.values())
    built: dict[str, Provider] = {}
    if settings.openai_api_key is not None:
        built["openai"] = OpenAIProvider(
            api_key=settings.openai_api_key.get_secret_value(),
            base_url=settings.openai_base_url,
            max_in_flight=pool,
        )
    if settings.anthropic_api_key is not None:
        built["anthropic"] = AnthropicProvider(
            api_key=settings.anthropic_api_key.get_secret_value(),
            base_url=settings.anthropic_base_url,
            max_in_flight=pool,
        )
    missing = sorted(needed - set(built))
    if missing:
        keys = ", ".join(f"{name.upper()}_API_KEY" for name in missing)
        raise ConfigError(
            f"routing profile {profile.name!r} uses {', '.join(missing)} but {keys} is not set"
            " (set it, or choose a profile without that provider)"
        )
    return built


def build_budget(profile: RoutingProfile, spent: Mapping[str, float] | None) -> BudgetLedger:
    return BudgetLedger(
        daily_usd=profile.daily_budget_usd,
        task_daily_usd={
            task: policy.daily_budget_usd
            for task, policy in profile.tasks.items()
            if policy.daily_budget_usd is not None
        },
        spent_today=spent,
    )


def build_router(
    settings: Settings,
    *,
    metrics: Metrics | None = None,
    spent_today: Mapping[str, float] | None = None,
    profile: RoutingProfile | None = None,
) -> Router:
    profile = profile or load_profile(settings.routing)
    budget = build_budget(profile, spent_today)

    def breaker_changed(key: str, old: BreakerState, new: BreakerState) -> None:
        log.warning("circuit %s: %s -> %s", key, old.value, new.value)
        if metrics is not None:
            metrics.on_breaker_change(key, old, new)

    router = Router(
        profile,
        build_providers(settings, profile),
        breaker=BreakerPolicy(
            consecutive_failures=settings.breaker_failures,
            cooldown_s=settings.breaker_cooldown_s,
        ),
        on_breaker_change=breaker_changed,
        on_attempt=metrics.on_attempt if metrics is not None else None,
        budget=budget,
    )
    if metrics is not None:
        metrics.track_in_flight(lambda: router.in_flight)
        for breaker in router.breakers.values():
            metrics.circuit.labels(breaker.key).set(0)
        if budget.enabled:
            for scope in (GLOBAL, *profile.tasks):
                if budget.remaining(scope) is not None:
                    metrics.track_budget(scope, functools.partial(budget.remaining, scope))
    log.info(
        "routing profile %s, providers %s (%s)",
        profile.name,
        ", ".join(sorted({s.provider for s in profile.models.values()})),
        "live" if settings.live else "SIMULATED",
    )
    return router
