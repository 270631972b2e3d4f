"""``coldstream worker``: declare topics, build the app and its agents, run until stopped."""

from __future__ import annotations

import asyncio
import logging

import faust

from agents.lead_agents import LeadAgents
from streams.admin import ensure_topics
from streams.app import create_app
from streams.settings import Settings
from streams.stages import Stages
from streams.wiring import build_router

log = logging.getLogger(__name__)


def build_worker_app(settings: Settings) -> faust.App:
    app = create_app(settings)
    router = build_router(settings)
    LeadAgents(app, settings, Stages(router)).register()

    async def close_providers(app: faust.App, **_: object) -> None:
        await router.aclose()

    app.on_before_shutdown.connect(close_providers)  # type: ignore[arg-type]

    return app


def run_worker(settings: Settings) -> None:
    logging.getLogger().setLevel(settings.log_level.upper())
    asyncio.run(ensure_topics(settings))
    app = build_worker_app(settings)
    log.info("settings: %s", settings.safe_dump())
    worker = faust.Worker(app, loglevel=settings.log_level, redirect_stdouts=False)
    worker.execute_from_commandline()
