"""The router's own cost: coldstream's provider+router path vs the bare AsyncOpenAI client.

Both talk to bench/instant_server.py (a separate process on loopback that answers at once),
interleaved in one run. Prints added latency at concurrency 1 (p50, p99) and calls per second
at concurrency 100 for each path.

    .venv/bin/python bench/overhead.py [--calls 2000] [--concurrent-calls 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import openai

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from providers.base import Completion, CompletionRequest, Provider
from providers.openai import OpenAIProvider
from providers.router import Router
from providers.routing import load_profile
from streams.prompts import parse_body

PROFILE = """
name = "bench"
price_version = "bench"
[models."bench-model"]
provider = "openai"
quality = 3
input_per_1m = 2.0
output_per_1m = 8.0
timeout_s = 10
max_in_flight = 256
[tasks.email_preview]
chain = ["bench-model"]
temperature = 0.7
max_tokens = 50
deadline_s = 30
[tasks.email_final]
chain = ["bench-model"]
temperature = 0.7
max_tokens = 50
deadline_s = 30
"""
SYSTEM = "You write short emails."
PROMPT = "company: Acme\ncontact_name: Jo\nindustry: logistics"

Call = Callable[[], Awaitable[object]]


class AnswersAtOnce(Provider):
    """In-process, no I/O: what is left of a call through it is the router's own work."""

    name = "openai"

    async def complete(self, request: CompletionRequest) -> Completion:
        return Completion(
            text="Hi Jo, a short note.",
            model=request.model,
            provider="openai",
            input_tokens=20,
            output_tokens=8,
        )


async def router_alone(profile: object, calls: int) -> list[float]:
    """Per-call time of ``Router.complete`` with a provider that answers at once: no network,
    so loopback and scheduler jitter on a shared machine do not hide the router's cost."""
    router = Router(profile, {"openai": AnswersAtOnce()})  # type: ignore[arg-type]
    for _ in range(200):
        await router.complete("email_final", system=SYSTEM, prompt=PROMPT, validate=parse_body)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        await router.complete("email_final", system=SYSTEM, prompt=PROMPT, validate=parse_body)
        times.append((time.perf_counter() - started) * 1000)
    return times


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def concurrent_rate(call: Call, calls: int, concurrency: int) -> float:
    queue = iter(range(calls))

    async def worker() -> None:
        for _ in queue:
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return calls / (time.perf_counter() - started)


async def run(args: argparse.Namespace, base_url: str) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(PROFILE)
    profile = load_profile(f.name)
    router = Router(
        profile, {"openai": OpenAIProvider(api_key="bench", base_url=base_url, max_in_flight=256)}
    )
    bare_httpx = openai.AsyncOpenAI(api_key="bench", base_url=base_url, max_retries=0)
    bare_aiohttp = openai.AsyncOpenAI(
        api_key="bench", base_url=base_url, max_retries=0, http_client=openai.DefaultAioHttpClient()
    )

    def bare(client: openai.AsyncOpenAI) -> Call:
        async def call() -> object:
            return await client.chat.completions.create(
                model="bench-model",
                max_tokens=50,
                temperature=0.7,
                timeout=10,
                messages=[
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": PROMPT},
                ],
            )

        return call

    async def ours() -> object:
        return await router.complete(
            "email_final", system=SYSTEM, prompt=PROMPT, temperature=0.7, validate=parse_body
        )

    paths = {
        "coldstream (aiohttp)": ours,
        "bare SDK, httpx (default)": bare(bare_httpx),
        "bare SDK, aiohttp": bare(bare_aiohttp),
    }
    for call in paths.values():  # warm up connections and code paths
        for _ in range(50):
            await call()

    latencies: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(args.calls):
        for name, call in paths.items():  # interleaved
            started = time.perf_counter()
            await call()
            latencies[name].append((time.perf_counter() - started) * 1000)

    rates: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(3):
        for name, call in paths.items():
            rates[name].append(await concurrent_rate(call, args.concurrent_calls, 100))

    print(f"concurrency 1, {args.calls} calls per path (ms):")
    for name, values in latencies.items():
        print(f"  {name:28s} p50 {pct(values, 50):6.3f}  p99 {pct(values, 99):6.3f}")
    base = latencies["bare SDK, aiohttp"]
    mine = latencies["coldstream (aiohttp)"]
    print(
        f"  added by coldstream vs the same transport: p50 {pct(mine, 50) - pct(base, 50):+.3f}"
        f" ms, p99 {pct(mine, 99) - pct(base, 99):+.3f} ms"
    )
    default = latencies["bare SDK, httpx (default)"]
    print(
        f"  coldstream vs the bare default client:     p50 "
        f"{pct(mine, 50) - pct(default, 50):+.3f} ms, p99 {pct(mine, 99) - pct(default, 99):+.3f}"
        " ms"
    )
    alone = await router_alone(profile, args.calls * 5)
    print(
        f"  the router alone (in-process provider that answers at once, {len(alone)} calls):"
        f" p50 {pct(alone, 50):.3f} ms, p99 {pct(alone, 99):.3f} ms"
    )
    print(f"concurrency 100, {args.concurrent_calls} calls per path, median of 3 rounds:")
    medians = {name: statistics.median(v) for name, v in rates.items()}
    for name, rate in medians.items():
        print(f"  {name:28s} {rate:7.0f} calls/s")
    ours_rate = medians["coldstream (aiohttp)"]
    print(
        f"  coldstream / bare aiohttp: {ours_rate / medians['bare SDK, aiohttp']:.0%}"
        f"   coldstream / bare default: {ours_rate / medians['bare SDK, httpx (default)']:.0%}"
    )
    await router.aclose()
    await bare_httpx.close()
    await bare_aiohttp.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrent-calls", type=int, default=4000)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("instant_server.py")), str(port)]
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.1)
        asyncio.run(run(args, f"http://127.0.0.1:{port}/v1"))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
