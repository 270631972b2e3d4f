"""The one interface every provider implements: ``async complete(request) -> Completion``."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    model: str
    system: str
    prompt: str
    temperature: float
    max_tokens: int
    timeout: float
    #: Ask for a JSON object (OpenAI's ``response_format``; a system instruction elsewhere).
    json_output: bool = False
    #: Which task this is for. Providers use it only for labelling (and the simulator for shape).
    task: str = ""


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    model: str
    provider: str
    input_tokens: int
    output_tokens: int
    #: False when the provider reported no usage and the counts were estimated.
    usage_reported: bool = True
    simulated: bool = False
    extra: dict[str, str] = field(default_factory=dict)


class Provider(abc.ABC):
    """A model vendor behind its official async SDK (or the labelled simulator)."""

    #: Name used in routing profiles and on events, e.g. ``openai``.
    name: str
    simulated: bool = False

    @abc.abstractmethod
    async def complete(self, request: CompletionRequest) -> Completion:
        """Run one call. Raise a :class:`providers.errors.ProviderError` subclass on failure."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most providers need nothing
        """Release connections."""
