"""Declares the pipeline's topics up front, so nothing depends on broker auto-creation."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from providers.errors import ConfigError
from streams.settings import Settings
from topics.catalog import changelog_specs, co_partitioned

log = logging.getLogger(__name__)


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], deadline: float) -> None:
    """New partitions need a leader before producers can use them without retries."""
    while asyncio.get_running_loop().time() < deadline:
        described = await admin.describe_topics(names)
        if all(
            t["error_code"] == 0
            and t["partitions"]
            and all(p["leader"] >= 0 for p in t["partitions"])
            for t in described
        ):
            return
        await asyncio.sleep(0.2)


async def _check_partitions(admin: AIOKafkaAdminClient, settings: Settings) -> None:
    """Fail at start-up, with the fix, rather than on every table write later."""
    described = await admin.describe_topics(co_partitioned(settings.topics, settings.app_id))
    wrong = {
        t["topic"]: len(t["partitions"])
        for t in described
        if t["error_code"] == 0 and len(t["partitions"]) != settings.topic_partitions
    }
    if wrong:
        listed = ", ".join(f"{name} has {n}" for name, n in sorted(wrong.items()))
        raise ConfigError(
            f"COLDSTREAM_PARTITIONS is {settings.topic_partitions}, but {listed} partitions. "
            "Faust needs source topics and table changelogs to match: set "
            "COLDSTREAM_PARTITIONS to their count, or use a new COLDSTREAM_APP_ID and "
            "COLDSTREAM_TOPIC_PREFIX."
        )


async def ensure_topics(settings: Settings, *, wait_s: float = 60.0) -> list[str]:
    """Create every missing topic with the configured partitions; return the created names."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_list, **settings.kafka_client_kwargs()
    )
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(1.0)
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=spec.name,
                num_partitions=settings.topic_partitions,
                replication_factor=settings.replication_factor,
                topic_configs=dict(spec.config),
            )
            for spec in [*settings.topics.specs(), *changelog_specs(settings.app_id)]
            if spec.name not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # another worker won the race
            log.info("created topics: %s", ", ".join(t.name for t in wanted))
            await _wait_for_leaders(admin, [t.name for t in wanted], deadline)
        # After creating: a topic another process made meanwhile is checked too.
        await _check_partitions(admin, settings)
        return [t.name for t in wanted]
    finally:
        await admin.close()
