"""The Faust app: one per worker, built from settings; agents are registered on it."""

from __future__ import annotations

import ssl
from typing import Any

import faust

from streams.settings import Settings
from streams.transport import DropReportingFlowControl, KafkaTransport


def _credentials(settings: Settings) -> Any:
    context = None
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        context = ssl.create_default_context(cafile=cafile)
    if settings.kafka_sasl_mechanism:
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def create_app(settings: Settings) -> faust.App:
    datadir = settings.state_dir / "faust" / settings.app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)
    brokers = ";".join(f"kafka://{server}" for server in settings.bootstrap_list)
    app = faust.App(
        settings.app_id,
        broker=brokers,
        broker_credentials=_credentials(settings),
        # Values are bytes end to end: we validate them ourselves, so bad input becomes a
        # dead letter instead of a Faust decode error.
        key_serializer="raw",
        value_serializer="raw",
        store=settings.table_store,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        table_standby_replicas=0 if settings.replication_factor == 1 else 1,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=settings.kafka_producer_linger_ms / 1000,
        consumer_max_fetch_size=settings.kafka_max_partition_fetch_bytes,
        # Outputs can carry a lead's cut website text; stay under the broker's 1 MB default.
        producer_max_request_size=1_000_000,
        broker_commit_interval=1.0,
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_rebalance_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=max(0.5, settings.kafka_session_timeout_s / 10),
        web_enabled=settings.web_enabled,
        web_port=settings.web_port,
        web_bind=settings.web_bind,
        datadir=str(datadir),
    )
    app.transport = KafkaTransport(app.conf.broker_consumer, app)
    app.flow_control = DropReportingFlowControl(app)
    return app
