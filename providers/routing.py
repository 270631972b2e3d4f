"""Routing policy as data: a TOML profile names each task's chain, temperature and limits.

Profiles ship in ``providers/profiles/``; ``COLDSTREAM_ROUTING`` picks one by name or path.
Validation happens once, at start-up, and lists every problem it finds.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from providers.errors import ConfigError

PROFILES_DIR = Path(__file__).parent / "profiles"

TASKS: tuple[str, ...] = (
    "email_preview",
    "email_final",
    "subject_line",
    "extract_business_info",
    "classify_lead",
    "clean_content",
)
#: As the seed's ``get_config``: a task missing from a profile uses this task's policy.
FALLBACK_TASK = "email_preview"

#: The seed's ``get_timeout``, as data: first matching rule wins; ``None`` matches anything.
SEED_TIMEOUT_RULES: tuple[tuple[tuple[str, ...], tuple[str, ...], float], ...] = (
    (("gpt-4",), ("turbo",), 30.0),
    (("gpt-4-turbo",), (), 15.0),
    (("gpt-3.5",), (), 10.0),
    (("haiku",), (), 8.0),
    (("sonnet",), (), 15.0),
)
SEED_DEFAULT_TIMEOUT = 20.0


def seed_timeout(model: str) -> float:
    """The seed's per-model timeout table (``get_timeout``)."""
    for needles, excluded, seconds in SEED_TIMEOUT_RULES:
        if all(n in model for n in needles) and not any(x in model for x in excluded):
            return seconds
    return SEED_DEFAULT_TIMEOUT


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LatencySpec(_Frozen):
    """Measured latency quantiles in seconds (the seed's LATENCY table); drives the simulator."""

    p50: float = Field(gt=0)
    p95: float = Field(gt=0)
    p99: float = Field(gt=0)


class ModelSpec(_Frozen):
    provider: str
    #: Model id sent to the API, when it differs from the profile's name for the model.
    api_name: str | None = None
    #: Quality tier: 1 low, 2 medium, 3 high. Tasks set a floor.
    quality: int = Field(ge=1, le=3)
    input_per_1m: float | None = Field(default=None, ge=0)
    output_per_1m: float | None = Field(default=None, ge=0)
    cached_input_per_1m: float | None = Field(default=None, ge=0)
    price_source: str = ""
    timeout_s: float | None = Field(default=None, gt=0)
    latency: LatencySpec | None = None
    #: Concurrency bound for this model in one worker.
    max_in_flight: int = Field(default=256, ge=1)
    #: Provider rate limits for this model (requests, tokens per minute); enforced per worker.
    rpm: int | None = Field(default=None, ge=2)
    tpm: int | None = Field(default=None, ge=2)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (
            input_tokens * (self.input_per_1m or 0.0) + output_tokens * (self.output_per_1m or 0.0)
        ) / 1_000_000


class TaskPolicy(_Frozen):
    chain: tuple[str, ...]
    temperature: float
    max_tokens: int = Field(gt=0)
    #: Longest prompt a task may send; bounds worst-case cost and truncates inputs.
    max_input_tokens: int = Field(default=2000, gt=0)
    #: Per-model timeout overrides for this task, in seconds.
    timeouts: dict[str, float] = Field(default_factory=dict)
    #: The whole chain, retries included, must answer within this.
    deadline_s: float = Field(gt=0)
    quality_floor: int = Field(default=1, ge=1, le=3)
    #: No chain step may have a worst-case call cost above this (USD).
    cost_ceiling_usd: float | None = Field(default=None, gt=0)
    json_output: bool = False
    max_attempts_per_step: int | None = Field(default=None, ge=1)
    #: Daily spend cap for this task (USD), and what to do when it is reached.
    daily_budget_usd: float | None = Field(default=None, gt=0)
    #: degrade: skip to a cheaper chain step that fits; pause: wait (backpressure) for room.
    budget_action: Literal["degrade", "pause"] = "pause"


class RoutingProfile(_Frozen):
    name: str
    price_version: str
    description: str = ""
    models: dict[str, ModelSpec]
    tasks: dict[str, TaskPolicy]
    #: Daily spend cap over all tasks (USD).
    daily_budget_usd: float | None = Field(default=None, gt=0)

    def policy(self, task: str) -> TaskPolicy:
        return self.tasks.get(task) or self.tasks[FALLBACK_TASK]

    def model(self, name: str) -> ModelSpec:
        return self.models[name]

    def timeout_for(self, task: str, model: str) -> float:
        policy = self.policy(task)
        if model in policy.timeouts:
            return policy.timeouts[model]
        spec = self.models[model]
        return spec.timeout_s if spec.timeout_s is not None else seed_timeout(model)

    def worst_case_cost(self, task: str, model: str) -> float:
        policy = self.policy(task)
        return self.models[model].cost(policy.max_input_tokens, policy.max_tokens)

    def problems(self) -> list[str]:
        """Every reason this profile is unusable; empty when it is fine."""
        found: list[str] = []
        if FALLBACK_TASK not in self.tasks:
            found.append(f"task {FALLBACK_TASK!r} is required: it is the fallback policy")
        for name, spec in self.models.items():
            if spec.input_per_1m is None or spec.output_per_1m is None:
                found.append(f"model {name!r} has no price (input_per_1m and output_per_1m)")
        for task, policy in self.tasks.items():
            where = f"task {task!r}"
            if task not in TASKS:
                found.append(f"{where}: unknown task; known tasks are {', '.join(TASKS)}")
            if not policy.chain:
                found.append(f"{where}: empty chain")
            if not 0.0 <= policy.temperature <= 2.0:
                found.append(f"{where}: temperature {policy.temperature} is outside [0, 2]")
            for model in (*policy.chain, *policy.timeouts):
                if model not in self.models:
                    found.append(f"{where}: unknown model {model!r}")
            for position, model in enumerate(policy.chain):
                if model not in self.models:
                    continue
                spec = self.models[model]
                if spec.quality < policy.quality_floor:
                    found.append(
                        f"{where}: chain step {position} {model!r} has quality {spec.quality},"
                        f" below the task's floor {policy.quality_floor}"
                    )
                if policy.cost_ceiling_usd is not None and spec.input_per_1m is not None:
                    worst = self.worst_case_cost(task, model)
                    if worst > policy.cost_ceiling_usd:
                        found.append(
                            f"{where}: chain step {position} {model!r} may cost ${worst:.4f}"
                            f" a call, above the ceiling ${policy.cost_ceiling_usd:.4f}"
                        )
        return found


def resolve_profile_path(name_or_path: str) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        return candidate
    return PROFILES_DIR / f"{name_or_path}.toml"


def load_profile(name_or_path: str) -> RoutingProfile:
    """Load and validate a profile; raise :class:`ConfigError` listing every problem."""
    path = resolve_profile_path(name_or_path)
    if not path.exists():
        shipped = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.toml")))
        raise ConfigError(f"routing profile {name_or_path!r} not found (shipped: {shipped})")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    try:
        profile = RoutingProfile.model_validate(raw)
    except ValidationError as e:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise ConfigError(f"{path}: {details}") from e
    problems = profile.problems()
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))
    return profile
