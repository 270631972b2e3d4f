from providers.base import CompletionRequest
from providers.openai import OpenAIProvider
from providers.tokens import count_tokens
from tests.fakes.llm_server import FakeLLMServer


def test_openai_models_use_their_bpe_tables() -> None:
    # cl100k_base: "hello world" is two tokens; o200k_base for the 4.1 family.
    assert count_tokens("gpt-4", "hello world") == 2
    assert count_tokens("gpt-4.1", "hello world") == 2
    assert count_tokens("gpt-4", "x" * 4000) < 4000 // 4 + 1


def test_other_models_use_four_characters_a_token() -> None:
    assert count_tokens("claude-3-haiku", "a" * 40) == 10
    assert count_tokens("claude-3-haiku", "") == 1


async def test_missing_usage_is_estimated_and_flagged(llm_server: FakeLLMServer) -> None:
    llm_server.omit_usage = True
    provider = OpenAIProvider(api_key="k", base_url=llm_server.openai_url)
    try:
        completion = await provider.complete(
            CompletionRequest(
                model="gpt-4",
                system="sys",
                prompt="hello world",
                temperature=0.1,
                max_tokens=20,
                timeout=2,
            )
        )
    finally:
        await provider.aclose()
    assert not completion.usage_reported
    assert completion.input_tokens == count_tokens("gpt-4", "syshello world")
    assert completion.output_tokens == count_tokens("gpt-4", completion.text)
