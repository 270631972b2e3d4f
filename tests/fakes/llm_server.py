"""A local HTTP server that speaks the OpenAI chat-completions and Anthropic messages wire
formats, with faults injected per model. The official SDKs are pointed at it by base_url.

It is a test peer, not a provider: the code under test is the real SDK path.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

#: Fault kinds: HTTP statuses, "hang" (never answers in time), "malformed" (200, broken JSON).
FAULTS = ("500", "503", "429", "401", "400", "404", "hang", "malformed", "bad_json_content")

#: One object that satisfies both structured tasks (extra keys are ignored by each).
STRUCTURED_ANSWER = {
    "label": "warm",
    "industry": "software",
    "employee_range": "11-50",
    "offering": "tools",
    "summary": "A software company.",
}


@dataclass
class Fault:
    kind: str
    times: int | None  # None: every request
    retry_after: float | None = None


@dataclass
class Call:
    api: str  # "openai" or "anthropic"
    model: str
    body: dict[str, Any]
    headers: dict[str, str]
    status: int


@dataclass
class FakeLLMServer:
    hang_s: float = 30.0
    #: Seconds every good answer takes.
    answer_delay_s: float = 0.0
    #: Answer without a ``usage`` block, as some OpenAI-compatible servers do.
    omit_usage: bool = False
    calls: list[Call] = field(default_factory=list)
    _faults: dict[str, deque[Fault]] = field(default_factory=lambda: defaultdict(deque))
    _runner: web.AppRunner | None = None
    port: int = 0

    # --- control ---------------------------------------------------------------------

    def fail(
        self, model: str, kind: str, *, times: int | None = None, retry_after: float | None = None
    ) -> None:
        assert kind in FAULTS, kind
        self._faults[model].append(Fault(kind, times, retry_after))

    def heal(self, model: str | None = None) -> None:
        if model is None:
            self._faults.clear()
        else:
            self._faults.pop(model, None)

    def calls_for(self, model: str) -> list[Call]:
        return [c for c in self.calls if c.model == model]

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- serving ---------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/v1/messages", self._anthropic)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _next_fault(self, model: str) -> Fault | None:
        queue = self._faults.get(model)
        if not queue:
            return None
        fault = queue[0]
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                queue.popleft()
        return fault

    async def _fault_response(self, api: str, fault: Fault) -> web.Response:
        if fault.kind == "hang":
            await asyncio.sleep(self.hang_s)
            return web.json_response({"error": "too late"}, status=200)
        if fault.kind == "malformed":
            return web.Response(
                body=b'{"id": "x", "choices": [', status=200, content_type="application/json"
            )
        status = int(fault.kind)
        headers = {}
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
        if api == "openai":
            body: dict[str, Any] = {
                "error": {"message": f"injected {status}", "type": "injected", "code": None}
            }
        else:
            body = {"type": "error", "error": {"type": "injected", "message": f"injected {status}"}}
        return web.json_response(body, status=status, headers=headers)

    def _answer(
        self, model: str, json_wanted: bool, temperature: float | None, fault: Fault | None
    ) -> str:
        if fault is not None and fault.kind == "bad_json_content":
            return "this is not json"
        if json_wanted:
            return orjson.dumps(STRUCTURED_ANSWER).decode()
        return f"Hello from {model} at temperature {temperature}."

    async def _openai(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        model = body.get("model", "")
        fault = self._next_fault(model)
        status = 200 if fault is None or not fault.kind.isdigit() else int(fault.kind)
        self.calls.append(Call("openai", model, body, dict(request.headers), status))
        if fault is not None and fault.kind != "bad_json_content":
            return await self._fault_response("openai", fault)
        if self.answer_delay_s:
            await asyncio.sleep(self.answer_delay_s)
        json_wanted = (body.get("response_format") or {}).get("type") == "json_object"
        text = self._answer(model, json_wanted, body.get("temperature"), fault)
        prompt = " ".join(m.get("content", "") for m in body.get("messages", []))
        return web.json_response(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": text},
                    }
                ],
                **(
                    {}
                    if self.omit_usage
                    else {
                        "usage": {
                            "prompt_tokens": max(1, len(prompt) // 4),
                            "completion_tokens": max(1, len(text) // 4),
                            "total_tokens": max(1, len(prompt) // 4) + max(1, len(text) // 4),
                        }
                    }
                ),
            }
        )

    async def _anthropic(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        model = body.get("model", "")
        fault = self._next_fault(model)
        status = 200 if fault is None or not fault.kind.isdigit() else int(fault.kind)
        self.calls.append(Call("anthropic", model, body, dict(request.headers), status))
        if fault is not None and fault.kind != "bad_json_content":
            return await self._fault_response("anthropic", fault)
        if self.answer_delay_s:
            await asyncio.sleep(self.answer_delay_s)
        json_wanted = "JSON" in str(body.get("system", ""))
        text = self._answer(model, json_wanted, body.get("temperature"), fault)
        prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        return web.json_response(
            {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {
                    "input_tokens": max(1, len(prompt) // 4),
                    "output_tokens": max(1, len(text) // 4),
                },
            }
        )


class ThreadedFakeLLMServer:
    """The same server on its own thread and loop, for tests that run a worker subprocess."""

    def __init__(self, **kwargs: Any) -> None:
        self.server = FakeLLMServer(**kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> FakeLLMServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(10)
        return self.server

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
