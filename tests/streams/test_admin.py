"""Topic declaration on the real broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from providers.errors import ConfigError
from streams.admin import ensure_topics
from streams.settings import Settings
from tests.integration.helpers import create_topic, unique_prefix

pytestmark = pytest.mark.integration


def _settings(bootstrap: str, prefix: str, tmp_path: Path) -> Settings:
    return Settings(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        COLDSTREAM_TOPIC_PREFIX=prefix,
        COLDSTREAM_APP_ID=prefix + "app",
        COLDSTREAM_PARTITIONS="4",
        COLDSTREAM_STATE_DIR=str(tmp_path),
    )


async def test_creates_the_missing_topics_once(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = _settings(kafka_bootstrap, unique_prefix(), tmp_path)
    created = await ensure_topics(settings)
    assert settings.topics.leads in created
    assert f"{settings.app_id}-results-changelog" in created
    assert await ensure_topics(settings) == []


async def test_a_changelog_with_another_partition_count_is_refused_at_start_up(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    prefix = unique_prefix()
    settings = _settings(kafka_bootstrap, prefix, tmp_path)
    stale = f"{settings.app_id}-batch_ordinals-changelog"  # left by a run with 2 partitions
    await create_topic(kafka_bootstrap, stale, partitions=2)
    with pytest.raises(ConfigError, match=f"{stale} has 2 partitions"):
        await ensure_topics(settings)
