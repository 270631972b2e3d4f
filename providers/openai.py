"""OpenAI (and OpenAI-compatible servers: vLLM, Ollama, llama.cpp) through ``AsyncOpenAI``."""

from __future__ import annotations

import json

import openai

from providers._http import connection_limits, status_error
from providers.base import Completion, CompletionRequest, Provider
from providers.errors import ConnectionFailed, InvalidOutput, ProviderTimeout
from providers.tokens import count_tokens


class OpenAIProvider(Provider):
    name = "openai"

    def __init__(
        self, *, api_key: str, base_url: str | None = None, max_in_flight: int = 256
    ) -> None:
        # The router owns retries, so the SDK's are off.
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            http_client=openai.DefaultAioHttpClient(limits=connection_limits(max_in_flight)),
        )

    async def complete(self, request: CompletionRequest) -> Completion:
        try:
            response = await self._client.chat.completions.create(
                model=request.model,
                messages=[
                    {"role": "system", "content": request.system},
                    {"role": "user", "content": request.prompt},
                ],
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                timeout=request.timeout,
                response_format={"type": "json_object"} if request.json_output else openai.omit,
            )
        except openai.APITimeoutError as e:
            raise ProviderTimeout(f"openai {request.model}: timed out") from e
        except openai.APIConnectionError as e:
            raise ConnectionFailed(f"openai {request.model}: connection failed") from e
        except openai.APIStatusError as e:
            raise status_error(
                "openai", request.model, e.status_code, dict(e.response.headers)
            ) from e
        except openai.APIResponseValidationError as e:
            raise InvalidOutput(f"openai {request.model}: malformed response") from e
        except json.JSONDecodeError as e:  # the SDK hands up undecodable bodies as is
            raise InvalidOutput(f"openai {request.model}: response body is not JSON") from e
        except openai.OpenAIError as e:  # e.g. JSON the SDK could not decode
            raise InvalidOutput(f"openai {request.model}: {type(e).__name__}") from e

        if not response.choices or response.choices[0].message.content is None:
            raise InvalidOutput(f"openai {request.model}: empty completion")
        text = response.choices[0].message.content
        usage = response.usage
        if usage is None:
            return Completion(
                text=text,
                model=request.model,
                provider=self.name,
                input_tokens=count_tokens(request.model, request.system + request.prompt),
                output_tokens=count_tokens(request.model, text),
                usage_reported=False,
            )
        return Completion(
            text=text,
            model=request.model,
            provider=self.name,
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
        )

    async def aclose(self) -> None:
        await self._client.close()
