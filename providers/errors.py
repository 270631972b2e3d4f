"""Typed errors. Decisions (retry, fallback, breaker) read attributes, never message text.

``ColdstreamError`` is the root of every error the project raises. It lives here because
``providers`` is the bottom layer: it imports nothing else from the project.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar


class ColdstreamError(Exception):
    """Root of every coldstream error."""


class ConfigError(ColdstreamError):
    """Invalid settings or routing profile. Raised at start-up, never per message."""


class ProviderError(ColdstreamError):
    """A model call failed. Subclasses say whether it is worth retrying."""

    #: Retrying the same model may succeed (429, 5xx, timeouts, connection errors).
    retriable: ClassVar[bool] = False
    #: The failure says something about the model's health, so the breaker counts it.
    counts_against_health: ClassVar[bool] = True
    #: Short machine-readable name, used as ``outcome`` on ``llm.costs`` events.
    outcome: ClassVar[str] = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


class RateLimited(ProviderError):
    retriable = True
    outcome = "rate_limited"


class ServerError(ProviderError):
    retriable = True
    outcome = "server_error"


class ProviderTimeout(ProviderError):
    retriable = True
    outcome = "timeout"


class ConnectionFailed(ProviderError):
    retriable = True
    outcome = "connection_error"


class BadRequest(ProviderError):
    counts_against_health = False
    outcome = "bad_request"


class AuthenticationFailed(ProviderError):
    outcome = "authentication_failed"


class PermissionDenied(ProviderError):
    outcome = "permission_denied"


class ModelNotFound(ProviderError):
    outcome = "not_found"


class InvalidOutput(ProviderError):
    """The model answered, but not in the shape the task needs."""

    counts_against_health = False
    outcome = "invalid_output"


class CircuitOpen(ProviderError):
    """Skipped without a call: the model's breaker is open."""

    counts_against_health = False
    outcome = "circuit_open"


class DeadlineExceeded(ProviderError):
    """No time left in the task's total deadline for another attempt."""

    counts_against_health = False
    outcome = "deadline_exceeded"


class BudgetExceeded(ProviderError):
    """No budget left today for this call: its worst-case cost does not fit the cap."""

    counts_against_health = False
    outcome = "budget_exceeded"

    def __init__(self, scope: str, needed: float, left: float) -> None:
        super().__init__(f"budget {scope!r}: needs ${needed:.6f}, ${max(left, 0):.6f} left today")
        self.scope = scope
        self.needed = needed


class AllModelsFailed(ColdstreamError, ExceptionGroup):
    """Every step of a fallback chain failed. Holds every attempt's error, in order."""

    def __new__(cls, task: str, errors: Sequence[Exception]) -> AllModelsFailed:
        self = super().__new__(cls, f"all models failed for task {task!r}", list(errors))
        self.task = task
        return self

    def __init__(self, task: str, errors: Sequence[Exception]) -> None:
        super().__init__(f"all models failed for task {task!r}", list(errors))
        self.task = task

    def derive(self, excs: Sequence[Exception]) -> AllModelsFailed:  # type: ignore[override]
        return AllModelsFailed(self.task, excs)


#: HTTP status -> error class. One table, shared by every HTTP provider.
ERROR_BY_STATUS: dict[int, type[ProviderError]] = {
    400: BadRequest,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: ModelNotFound,
    408: ProviderTimeout,
    409: ServerError,
    422: BadRequest,
    429: RateLimited,
}


def error_for_status(status: int) -> type[ProviderError]:
    if status in ERROR_BY_STATUS:
        return ERROR_BY_STATUS[status]
    if status >= 500:
        return ServerError
    return BadRequest if 400 <= status < 500 else ProviderError
