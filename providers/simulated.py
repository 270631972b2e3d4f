"""SIMULATED provider: a labelled double for the demo and load tests. It calls no API.

Every completion it returns has ``simulated=True``, and the pipeline marks every event built
from it. Provider tests never use it: they drive the real SDKs against a local HTTP server.

Latency follows the seed's P50/P95/P99 per model: log-latency is piecewise linear in the
normal quantile through those three points, so the sampled quantiles match the table.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import re
from collections.abc import Mapping
from statistics import NormalDist

import orjson

from providers.base import Completion, CompletionRequest, Provider
from providers.errors import ProviderTimeout, RateLimited, ServerError
from providers.routing import LatencySpec

_Z95 = NormalDist().inv_cdf(0.95)
_Z99 = NormalDist().inv_cdf(0.99)
_NORMAL = NormalDist()
_FALLBACK_LATENCY = LatencySpec(p50=1.0, p95=2.5, p99=5.0)
#: Hard cap on one sampled latency, in model seconds, so a freak draw cannot stall a test.
_MAX_LATENCY_S = 60.0

_OPENERS = (
    "I noticed {company} has been growing its {industry} work",
    "I came across {company} while looking at {industry} teams",
    "Your team at {company} caught my eye",
    "I have been following how {company} approaches {industry}",
    "A quick thought after reading about {company}",
    "{company}'s recent direction in {industry} stood out to me",
)
_BODIES = (
    "We help teams like yours cut the manual work in their pipeline by about a third.",
    "Teams similar to yours used us to shorten their sales cycle without adding headcount.",
    "We built a small tool that makes outreach feel personal at scale.",
    "Our customers in {industry} typically see results within the first month.",
    "I think there is a simple way to save your team several hours a week.",
)
_CLOSERS = (
    "Would a 15-minute call next week be useful?",
    "Open to a short chat?",
    "Worth a quick conversation?",
    "Happy to send over a two-paragraph summary if that is easier.",
)
_SUBJECTS = (
    "Quick question about {company}",
    "An idea for {company}'s {industry} team",
    "{name}, a thought on your pipeline",
    "The hidden cost in your current setup",
    "A 3-minute read for {company}",
    "What I noticed about {company}",
)
_INDUSTRIES = ("logistics", "fintech", "healthcare", "retail", "manufacturing", "software")
_LABELS = ("hot", "warm", "cold")
_FIELD = re.compile(r"^(\w+):[ \t]*(.*)$", re.MULTILINE)


def sample_latency(spec: LatencySpec, u: float) -> float:
    """Latency in seconds at cumulative probability ``u`` in (0, 1)."""
    z = _NORMAL.inv_cdf(min(max(u, 1e-9), 1 - 1e-9))
    lo, mid, hi = math.log(spec.p50), math.log(spec.p95), math.log(spec.p99)
    slope_low = (mid - lo) / _Z95
    slope_high = (hi - mid) / (_Z99 - _Z95)
    if z <= _Z95:
        log_latency = lo + slope_low * z
    else:
        log_latency = mid + slope_high * (z - _Z95)
    return min(math.exp(log_latency), _MAX_LATENCY_S)


class SimulatedProvider(Provider):
    """Stands in for provider ``name`` (``openai`` or ``anthropic``) without any network."""

    simulated = True

    def __init__(
        self,
        name: str,
        *,
        latencies: Mapping[str, LatencySpec],
        time_scale: float = 1.0,
        error_rate: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.name = name
        self._latencies = dict(latencies)
        self._time_scale = time_scale
        self._error_rate = error_rate
        self._seed = seed
        # Latency and faults come from one seeded stream; text is a pure function of the request.
        self._rng = random.Random(f"{seed}:{name}")

    async def complete(self, request: CompletionRequest) -> Completion:
        spec = self._latencies.get(request.model, _FALLBACK_LATENCY)
        latency = sample_latency(spec, self._rng.random())
        fault = self._rng.random() < self._error_rate
        fault_kind = self._rng.randrange(3)
        if latency > request.timeout:
            await asyncio.sleep(request.timeout * self._time_scale)
            raise ProviderTimeout(f"{self.name} {request.model}: simulated timeout")
        await asyncio.sleep(latency * self._time_scale)
        if fault:
            if fault_kind == 0:
                raise RateLimited(
                    f"{self.name} {request.model}: simulated 429",
                    status_code=429,
                    retry_after=0.05 * self._time_scale,
                )
            if fault_kind == 1:
                raise ServerError(f"{self.name} {request.model}: simulated 503", status_code=503)
            raise ServerError(f"{self.name} {request.model}: simulated 500", status_code=500)

        text = self._text(request)
        return Completion(
            text=text,
            model=request.model,
            provider=self.name,
            # Length-based counts: a double need not pay for a real tokenizer per call.
            input_tokens=(len(request.system) + len(request.prompt)) // 4 + 1,
            output_tokens=min(request.max_tokens, len(text) // 4 + 1),
            simulated=True,
        )

    def _text(self, request: CompletionRequest) -> str:
        digest = hashlib.blake2b(
            f"{self._seed}|{request.model}|{request.temperature:.6f}|{request.prompt}".encode(),
            digest_size=8,
        ).digest()
        rng = random.Random(int.from_bytes(digest))  # an int seeds without hashing again
        fields = dict(_FIELD.findall(request.prompt))
        mentioned = [word for word in _INDUSTRIES if word in request.prompt.lower()]
        industry = fields.get("industry") or (mentioned or [rng.choice(_INDUSTRIES)])[0]
        values = {
            "company": fields.get("company", "your company"),
            "name": fields.get("contact_name", "there").split(" ")[0] or "there",
            "industry": industry,
        }

        # Higher temperature draws from more of each phrase pool, as a real model varies more.
        def pick(pool: tuple[str, ...]) -> str:
            reach = max(1, round(len(pool) * min(1.0, 0.2 + request.temperature)))
            return pool[rng.randrange(reach)].format(**values)

        match request.task:
            case "clean_content":
                raw = request.prompt.split("TEXT:", 1)[-1]
                words = re.sub(r"<[^>]+>", " ", raw).split()
                return " ".join(words[: request.max_tokens * 3 // 4])
            case "extract_business_info":
                return orjson.dumps(
                    {
                        "industry": industry,
                        "employee_range": rng.choice(["1-10", "11-50", "51-200", "201-1000"]),
                        "offering": f"{industry} services",
                        "summary": f"{values['company']} works in {industry}.",
                    }
                ).decode()
            case "classify_lead":
                return orjson.dumps({"label": rng.choice(_LABELS)}).decode()
            case "subject_line":
                return pick(_SUBJECTS)
            case _:
                return (
                    f"Hi {values['name']},\n\n{pick(_OPENERS)}. {pick(_BODIES)}\n\n"
                    f"{pick(_CLOSERS)}\n\n(simulated draft)"
                )
