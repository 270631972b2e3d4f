"""The real OpenAI and Anthropic SDKs against a local server speaking their wire formats."""

from __future__ import annotations

import pytest

from providers.anthropic import AnthropicProvider
from providers.base import CompletionRequest, Provider
from providers.errors import (
    AuthenticationFailed,
    BadRequest,
    InvalidOutput,
    ModelNotFound,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    ServerError,
)
from tests.fakes.llm_server import FakeLLMServer

MODEL = {"openai": "gpt-4", "anthropic": "claude-3-sonnet"}


def provider(kind: str, server: FakeLLMServer) -> Provider:
    if kind == "openai":
        from providers.openai import OpenAIProvider

        return OpenAIProvider(api_key="sk-test-key", base_url=server.openai_url)
    return AnthropicProvider(api_key="ak-test-key", base_url=server.anthropic_url)


def request(kind: str, **kw: object) -> CompletionRequest:
    args: dict = dict(
        model=MODEL[kind],
        system="sys",
        prompt="hello",
        temperature=0.42,
        max_tokens=50,
        timeout=2.0,
    )
    args.update(kw)
    return CompletionRequest(**args)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_completion_carries_text_usage_and_sends_our_parameters(
    kind: str, llm_server: FakeLLMServer
) -> None:
    p = provider(kind, llm_server)
    result = await p.complete(request(kind))
    await p.aclose()
    assert result.text.startswith(f"Hello from {MODEL[kind]}")
    assert result.input_tokens > 0 and result.output_tokens > 0 and result.usage_reported
    assert not result.simulated
    (call,) = llm_server.calls
    assert call.body["temperature"] == 0.42
    assert call.body["max_tokens"] == 50
    auth = call.headers.get("Authorization") or call.headers.get("X-Api-Key")
    assert auth is not None and "test-key" in auth


FAULT_TO_ERROR = [
    ("500", ServerError, True),
    ("503", ServerError, True),
    ("429", RateLimited, True),
    ("401", AuthenticationFailed, False),
    ("400", BadRequest, False),
    ("404", ModelNotFound, False),
    ("malformed", InvalidOutput, False),
]


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
@pytest.mark.parametrize(("fault", "error", "retriable"), FAULT_TO_ERROR)
async def test_sdk_errors_become_typed_errors_with_one_http_call(
    kind: str,
    fault: str,
    error: type[ProviderError],
    retriable: bool,
    llm_server: FakeLLMServer,
) -> None:
    llm_server.fail(MODEL[kind], fault, retry_after=1.5 if fault == "429" else None)
    p = provider(kind, llm_server)
    try:
        with pytest.raises(error) as caught:
            await p.complete(request(kind))
    finally:
        await p.aclose()
    assert type(caught.value) is error
    assert caught.value.retriable is retriable
    assert caught.value.__cause__ is not None  # translated with `raise ... from e`
    assert len(llm_server.calls) == 1  # the SDK's own retries are off
    if fault == "429":
        assert caught.value.retry_after == 1.5


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_hang_becomes_a_timeout_within_the_request_timeout(
    kind: str, llm_server: FakeLLMServer
) -> None:
    import time

    llm_server.fail(MODEL[kind], "hang")
    p = provider(kind, llm_server)
    started = time.monotonic()
    try:
        with pytest.raises(ProviderTimeout):
            await p.complete(request(kind, timeout=0.3))
    finally:
        await p.aclose()
    assert time.monotonic() - started < 1.5
