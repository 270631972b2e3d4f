"""The Faust app built from settings: the Kafka client options it hands to aiokafka."""

from __future__ import annotations

from pathlib import Path

from streams.app import create_app
from streams.settings import Settings


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings(
        COLDSTREAM_APP_ID="app-probe",
        COLDSTREAM_STATE_DIR=str(tmp_path),
        COLDSTREAM_TABLE_STORE="memory://",
        **env,
    )


def test_fetch_size_and_linger_default_to_small_fetches_and_kafka_4_batching(
    tmp_path: Path,
) -> None:
    app = create_app(_settings(tmp_path))
    assert app.conf.consumer_max_fetch_size == 64 * 1024
    assert app.producer._settings_default()["linger_ms"] == 5


def test_fetch_size_and_linger_come_from_the_environment(tmp_path: Path) -> None:
    app = create_app(
        _settings(tmp_path, KAFKA_MAX_PARTITION_FETCH_BYTES="1048576", KAFKA_PRODUCER_LINGER_MS="0")
    )
    assert app.conf.consumer_max_fetch_size == 1024 * 1024
    assert app.producer._settings_default()["linger_ms"] == 0
