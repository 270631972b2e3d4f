"""What the HTTP providers share: pool sizing and the status -> typed error translation."""

from __future__ import annotations

from collections.abc import Mapping

import httpx2

from providers.errors import ProviderError, error_for_status
from providers.retry import parse_retry_after


def connection_limits(max_in_flight: int) -> httpx2.Limits:
    """Pool sized to the in-flight bound, so calls never queue inside the SDK unseen."""
    return httpx2.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight)


def status_error(
    provider: str, model: str, status: int, headers: Mapping[str, str] | None
) -> ProviderError:
    """Typed error for an HTTP status. The message never includes request headers (keys)."""
    cls = error_for_status(status)
    return cls(
        f"{provider} {model}: HTTP {status}",
        status_code=status,
        retry_after=parse_retry_after(headers),
    )
