"""One frozen settings object, read from the environment and passed in explicitly."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from topics.catalog import TopicNames


def _env(*names: str) -> Any:
    return AliasChoices(*names)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        frozen=True, extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    # --- Kafka -------------------------------------------------------------------------
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", validation_alias=_env("KAFKA_BOOTSTRAP_SERVERS")
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", validation_alias=_env("KAFKA_SECURITY_PROTOCOL")
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, validation_alias=_env("KAFKA_SASL_MECHANISM")
    )
    kafka_sasl_username: str | None = Field(None, validation_alias=_env("KAFKA_SASL_USERNAME"))
    kafka_sasl_password: SecretStr | None = Field(
        None, validation_alias=_env("KAFKA_SASL_PASSWORD")
    )
    kafka_ssl_cafile: Path | None = Field(None, validation_alias=_env("KAFKA_SSL_CAFILE"))

    #: A worker that stops heartbeating for this long loses its partitions to the others.
    kafka_session_timeout_s: float = Field(
        30.0, gt=0, validation_alias=_env("KAFKA_SESSION_TIMEOUT")
    )

    #: Bytes fetched per partition per request. Faust hands a worker's fetched records to its
    #: agents in fetch order, so with a backlog on `leads` (Kafka's 1 MB default: ~600 leads a
    #: partition) the task topics' records waited behind several seconds of intake work.
    kafka_max_partition_fetch_bytes: int = Field(
        64 * 1024, ge=1024, validation_alias=_env("KAFKA_MAX_PARTITION_FETCH_BYTES")
    )
    #: Producer batching delay: Kafka 4.0's default (KIP-1030); Faust's is 0.
    kafka_producer_linger_ms: float = Field(
        5.0, ge=0, validation_alias=_env("KAFKA_PRODUCER_LINGER_MS")
    )

    #: Where Faust keeps table state: RocksDB on disk under the state dir (memory stays flat
    #: however many results are kept, and a restart only replays the changelog's tail), or
    #: ``memory://`` (everything in RAM, rebuilt from the changelog at every start).
    table_store: str = Field("rocksdb://", validation_alias=_env("COLDSTREAM_TABLE_STORE"))

    app_id: str = Field("coldstream", validation_alias=_env("COLDSTREAM_APP_ID"))
    topic_prefix: str = Field("", validation_alias=_env("COLDSTREAM_TOPIC_PREFIX"))
    topic_partitions: int = Field(8, ge=1, validation_alias=_env("COLDSTREAM_PARTITIONS"))
    replication_factor: int = Field(1, ge=1, validation_alias=_env("COLDSTREAM_REPLICATION"))

    # --- providers ---------------------------------------------------------------------
    providers_mode: Literal["live", "simulated"] | None = Field(
        None, validation_alias=_env("COLDSTREAM_PROVIDERS")
    )
    routing: str = Field("default", validation_alias=_env("COLDSTREAM_ROUTING"))
    openai_api_key: SecretStr | None = Field(None, validation_alias=_env("OPENAI_API_KEY"))
    anthropic_api_key: SecretStr | None = Field(None, validation_alias=_env("ANTHROPIC_API_KEY"))
    openai_base_url: str | None = Field(None, validation_alias=_env("OPENAI_BASE_URL"))
    anthropic_base_url: str | None = Field(None, validation_alias=_env("ANTHROPIC_BASE_URL"))
    sim_time_scale: float = Field(1.0, ge=0, validation_alias=_env("COLDSTREAM_SIM_TIME_SCALE"))
    sim_error_rate: float = Field(
        0.01, ge=0, le=1, validation_alias=_env("COLDSTREAM_SIM_ERROR_RATE")
    )
    sim_seed: int = Field(0, validation_alias=_env("COLDSTREAM_SIM_SEED"))

    #: Circuit breaker per model: consecutive failures that open it, and its cooldown.
    breaker_failures: int = Field(5, ge=1, validation_alias=_env("COLDSTREAM_BREAKER_FAILURES"))
    breaker_cooldown_s: float = Field(
        30.0, gt=0, validation_alias=_env("COLDSTREAM_BREAKER_COOLDOWN")
    )

    # --- worker ------------------------------------------------------------------------
    #: Calls in flight per task agent; the per-model bounds in the routing profile also apply.
    max_in_flight: int = Field(512, ge=1, validation_alias=_env("COLDSTREAM_MAX_IN_FLIGHT"))
    #: Website text longer than this is cut at intake; no model ever sees more.
    max_website_chars: int = Field(
        20_000, ge=100, validation_alias=_env("COLDSTREAM_MAX_WEBSITE_CHARS")
    )
    drain_timeout_s: float = Field(20.0, ge=0, validation_alias=_env("COLDSTREAM_DRAIN_TIMEOUT"))
    state_dir: Path = Field(Path(".coldstream"), validation_alias=_env("COLDSTREAM_STATE_DIR"))
    #: The worker's web server: Prometheus metrics at /metrics.
    web_enabled: bool = Field(True, validation_alias=_env("COLDSTREAM_WEB_ENABLED"))
    web_bind: str = Field("127.0.0.1", validation_alias=_env("COLDSTREAM_WEB_BIND"))
    web_port: int = Field(6066, validation_alias=_env("COLDSTREAM_WEB_PORT"))
    log_level: str = Field("info", validation_alias=_env("COLDSTREAM_LOG_LEVEL"))

    @property
    def live(self) -> bool:
        if self.providers_mode is not None:
            return self.providers_mode == "live"
        return self.openai_api_key is not None or self.anthropic_api_key is not None

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.topic_prefix)

    @property
    def bootstrap_list(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap_servers.split(",") if s.strip()]

    def kafka_client_kwargs(self) -> dict[str, Any]:
        """Security options for aiokafka clients (the producer/consumer/admin we create)."""
        kwargs: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        if self.kafka_sasl_mechanism:
            kwargs["sasl_mechanism"] = self.kafka_sasl_mechanism
            kwargs["sasl_plain_username"] = self.kafka_sasl_username
            if self.kafka_sasl_password is not None:
                kwargs["sasl_plain_password"] = self.kafka_sasl_password.get_secret_value()
        if self.kafka_security_protocol in ("SSL", "SASL_SSL"):
            import ssl

            kwargs["ssl_context"] = ssl.create_default_context(
                cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None
            )
        return kwargs

    def safe_dump(self) -> dict[str, Any]:
        """Settings for logs and ``config check``: secrets masked, never their values."""
        return {
            k: ("**********" if isinstance(v, SecretStr) else v)
            for k, v in self.model_dump().items()
        }
