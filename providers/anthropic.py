"""Anthropic through ``AsyncAnthropic`` messages."""

from __future__ import annotations

import json

import anthropic

from providers._http import connection_limits, status_error
from providers.base import Completion, CompletionRequest, Provider
from providers.errors import ConnectionFailed, InvalidOutput, ProviderTimeout
from providers.tokens import count_tokens

JSON_INSTRUCTION = "\nAnswer with one JSON object and nothing else."


class AnthropicProvider(Provider):
    name = "anthropic"

    def __init__(
        self, *, api_key: str, base_url: str | None = None, max_in_flight: int = 256
    ) -> None:
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            http_client=anthropic.DefaultAioHttpClient(limits=connection_limits(max_in_flight)),
        )

    async def complete(self, request: CompletionRequest) -> Completion:
        system = request.system + (JSON_INSTRUCTION if request.json_output else "")
        try:
            response = await self._client.messages.create(
                model=request.model,
                system=system,
                messages=[{"role": "user", "content": request.prompt}],
                max_tokens=request.max_tokens,
                timeout=request.timeout,
                # This SDK release dropped the typed parameter; the API still takes the field.
                extra_body={"temperature": request.temperature},
            )
        except anthropic.APITimeoutError as e:
            raise ProviderTimeout(f"anthropic {request.model}: timed out") from e
        except anthropic.APIConnectionError as e:
            raise ConnectionFailed(f"anthropic {request.model}: connection failed") from e
        except anthropic.APIStatusError as e:
            raise status_error(
                "anthropic", request.model, e.status_code, dict(e.response.headers)
            ) from e
        except json.JSONDecodeError as e:  # the SDK hands up undecodable bodies as is
            raise InvalidOutput(f"anthropic {request.model}: response body is not JSON") from e
        except anthropic.AnthropicError as e:
            raise InvalidOutput(f"anthropic {request.model}: {type(e).__name__}") from e

        text = "".join(
            block.text for block in response.content if isinstance(block, anthropic.types.TextBlock)
        )
        if not text:
            raise InvalidOutput(f"anthropic {request.model}: empty completion")
        usage = response.usage
        if usage is None:
            return Completion(
                text=text,
                model=request.model,
                provider=self.name,
                input_tokens=count_tokens(request.model, system + request.prompt),
                output_tokens=count_tokens(request.model, text),
                usage_reported=False,
            )
        return Completion(
            text=text,
            model=request.model,
            provider=self.name,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
        )

    async def aclose(self) -> None:
        await self._client.close()
