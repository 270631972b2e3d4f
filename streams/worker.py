"""``coldstream worker``: declare topics, build the app and its agents, run until stopped."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from agents.lead_agents import LeadAgents
from providers.routing import load_profile
from streams.admin import ensure_topics
from streams.app import create_app
from streams.budget_state import spent_today
from streams.metrics import Metrics
from streams.settings import Settings
from streams.stages import Stages
from streams.wiring import build_router

log = logging.getLogger(__name__)


def not_ready_reason(app: Any) -> str | None:
    """Why this worker is not processing its partitions yet, or None once it is (the
    ``/ready`` probe: Faust has no readiness signal of its own)."""
    if not app.tables.recovery.completed.is_set():
        return "starting: partitions not assigned and recovered yet"
    if app.rebalancing:
        return "rebalancing"
    if app.in_recovery:
        return "recovering tables"
    return None


def build_worker_app(
    settings: Settings, *, spent_today: dict[str, float] | None = None
) -> faust.App:
    app = create_app(settings)
    metrics = Metrics()
    router = build_router(settings, metrics=metrics, spent_today=spent_today)
    LeadAgents(app, settings, Stages(router), metrics).register()

    async def serve_metrics(view: Any, request: Any) -> Any:
        return view.bytes(metrics.render(), content_type=metrics.content_type)

    app.page("/metrics")(serve_metrics)

    async def serve_readiness(view: Any, request: Any) -> Any:
        reason = not_ready_reason(app)
        if reason is None:
            return view.text("ready\n")
        return view.text(reason + "\n", status=503)

    app.page("/ready")(serve_readiness)

    async def close_providers(app: faust.App, **_: object) -> None:
        await router.aclose()

    app.on_before_shutdown.connect(close_providers)  # type: ignore[arg-type]

    return app


def run_worker(settings: Settings) -> None:
    logging.getLogger().setLevel(settings.log_level.upper())
    asyncio.run(ensure_topics(settings))
    profile = load_profile(settings.routing)
    spent = None
    if profile.daily_budget_usd or any(p.daily_budget_usd for p in profile.tasks.values()):
        spent = asyncio.run(spent_today(settings))
        log.info("budget: %.6f USD already spent today", sum(spent.values()))
    app = build_worker_app(settings, spent_today=spent)
    log.info("settings: %s", settings.safe_dump())
    worker = faust.Worker(app, loglevel=settings.log_level, redirect_stdouts=False)
    # At WARN and above Faust adds a terminal spinner and sets the root logger to DEBUG, so
    # every debug() call on the hot path builds a record (9% of CPU in bench/pipe.py).
    worker.spinner = None
    worker.execute_from_commandline()
