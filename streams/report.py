"""Tables for people: the effective routing table and cost summaries."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from providers.errors import ConfigError
from providers.routing import TASKS, RoutingProfile
from topics.schemas import CostEvent, EmailEvent


def render(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    table = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def profile_table(profile: RoutingProfile) -> str:
    rows = []
    for task in TASKS:
        policy = profile.policy(task)
        chain = " -> ".join(f"{m} ({profile.timeout_for(task, m):g}s)" for m in policy.chain)
        rows.append(
            (
                task if task in profile.tasks else f"{task} (fallback)",
                chain,
                policy.temperature,
                policy.max_tokens,
                f"{policy.deadline_s:g}s",
                policy.quality_floor,
                f"${policy.cost_ceiling_usd:g}" if policy.cost_ceiling_usd else "-",
            )
        )
    return render(
        ("task", "chain (timeout)", "temp", "max_tokens", "deadline", "floor", "ceiling"), rows
    )


def email_table(emails: Iterable[EmailEvent]) -> str:
    """How many emails each task's model produced."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for e in emails:
        for task, model in e.models.items():
            counts[(task, model)] += 1
    return render(("task", "model", "emails"), [(t, m, n) for (t, m), n in sorted(counts.items())])


# --- planning: `coldstream estimate` -------------------------------------------------------

#: The write-up's day: volumes from its TASK REQUIREMENTS table; ~800 tokens per email, split
#: evenly in/out (the split that gives its $180/day for 5,000 GPT-4 emails). Token counts for
#: the other tasks are not in the write-up; these are our stated assumptions.
SEED_WORKLOAD: dict[str, tuple[int, int, int]] = {
    "email_final": (5000, 400, 400),
    "subject_line": (5000, 450, 15),
    "classify_lead": (5000, 250, 5),
    "extract_business_info": (500, 1500, 150),
    "clean_content": (500, 2000, 200),
    "email_preview": (100, 400, 400),
}
DAYS_PER_MONTH = 30


@dataclass(frozen=True, slots=True)
class EstimateRow:
    task: str
    model: str
    volume: int
    input_tokens: int
    output_tokens: int
    daily_usd: float
    baseline_usd: float


def most_expensive_model(profile: RoutingProfile) -> str:
    return max(
        profile.models,
        key=lambda m: (
            (profile.models[m].input_per_1m or 0) + (profile.models[m].output_per_1m or 0)
        ),
    )


def estimate(
    profile: RoutingProfile,
    workload: dict[str, tuple[int, int, int]],
    baseline: str | None = None,
) -> list[EstimateRow]:
    base = profile.models[baseline or most_expensive_model(profile)]
    rows = []
    for task, (volume, tin, tout) in workload.items():
        model = profile.policy(task).chain[0]
        rows.append(
            EstimateRow(
                task,
                model,
                volume,
                tin,
                tout,
                daily_usd=volume * profile.models[model].cost(tin, tout),
                baseline_usd=volume * base.cost(tin, tout),
            )
        )
    return rows


def estimate_table(rows: list[EstimateRow], baseline: str) -> str:
    body = [
        (
            r.task,
            r.model,
            f"{r.volume:,}",
            f"{r.input_tokens}/{r.output_tokens}",
            f"${r.daily_usd:,.2f}",
            f"${r.daily_usd * DAYS_PER_MONTH:,.2f}",
            f"${r.baseline_usd:,.2f}",
        )
        for r in rows
    ]
    total = sum(r.daily_usd for r in rows)
    base = sum(r.baseline_usd for r in rows)
    body.append(
        (
            "TOTAL",
            "",
            f"{sum(r.volume for r in rows):,}",
            "",
            f"${total:,.2f}",
            f"${total * DAYS_PER_MONTH:,.2f}",
            f"${base:,.2f}",
        )
    )
    table = render(
        (
            "task",
            "model",
            "volume/day",
            "tokens in/out",
            "cost/day",
            "cost/month",
            f"all {baseline}/day",
        ),
        body,
    )
    saving = (1 - total / base) * 100 if base else 0.0
    return (
        f"{table}\n\nrouted ${total:,.2f}/day vs ${base:,.2f}/day with {baseline} for "
        f"everything: {saving:.1f}% saved"
    )


# --- reports from `llm.costs` ----------------------------------------------------------------


def summarize_costs(
    costs: Sequence[CostEvent], profile: RoutingProfile, baseline: str | None = None
) -> dict[str, Any]:
    base_name = baseline or most_expensive_model(profile)
    base = profile.models[base_name]
    rows: dict[tuple[str, str, str], dict[str, float]] = defaultdict(
        lambda: {"calls": 0, "cost_usd": 0.0, "baseline_usd": 0.0}
    )
    for c in costs:
        status = "ok" if c.outcome == "ok" else "failed"
        row = rows[(c.task, c.model, status)]
        row["calls"] += 1
        row["cost_usd"] += c.cost_usd
        if status == "ok":
            row["baseline_usd"] += base.cost(c.input_tokens, c.output_tokens)
    ok_cost = sum(v["cost_usd"] for k, v in rows.items() if k[2] == "ok")
    failed_cost = sum(v["cost_usd"] for k, v in rows.items() if k[2] == "failed")
    baseline_cost = sum(v["baseline_usd"] for v in rows.values())
    return {
        "rows": [
            {"task": t, "model": m, "status": s, **v}
            for (t, m, s), v in sorted(rows.items(), key=lambda kv: (kv[0][2] != "ok", kv[0]))
        ],
        "total_usd": ok_cost + failed_cost,
        "failed_usd": failed_cost,
        "calls": sum(int(v["calls"]) for v in rows.values()),
        "failed_calls": sum(int(v["calls"]) for k, v in rows.items() if k[2] == "failed"),
        "baseline_model": base_name,
        "baseline_usd": baseline_cost,
        "saving_usd": baseline_cost - ok_cost,
    }


def costs_table(summary: dict[str, Any]) -> str:
    body = [
        (
            r["task"],
            r["model"] + (" (failed)" if r["status"] == "failed" else ""),
            int(r["calls"]),
            f"${r['cost_usd']:.4f}",
        )
        for r in summary["rows"]
    ]
    body.append(("TOTAL", "", summary["calls"], f"${summary['total_usd']:.4f}"))
    text = render(("task", "model", "volume", "cost"), body)
    return (
        f"{text}\n\nfailed attempts: {summary['failed_calls']} costing "
        f"${summary['failed_usd']:.4f}\nsame calls with {summary['baseline_model']} for "
        f"everything: ${summary['baseline_usd']:.4f}; saved ${summary['saving_usd']:.4f}"
    )


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49], q[94], q[98]


def summarize_latency(costs: Sequence[CostEvent]) -> dict[str, Any]:
    by_model: dict[str, list[float]] = defaultdict(list)
    attempts: dict[str, int] = defaultdict(int)
    timeouts: dict[str, int] = defaultdict(int)
    requests: dict[str, dict[str, tuple[bool, bool]]] = defaultdict(dict)
    for c in costs:
        attempts[c.task] += 1
        timeouts[c.task] += c.outcome == "timeout"
        ok_before, fb_before = requests[c.task].get(c.request_id, (False, False))
        if c.outcome == "ok":
            by_model[c.model].append(c.latency_ms / 1000)
            requests[c.task][c.request_id] = (True, c.chain_position > 0)
        else:
            requests[c.task][c.request_id] = (ok_before, fb_before)
    models = []
    for model, values in sorted(by_model.items()):
        p50, p95, p99 = _percentiles(sorted(values))
        models.append(
            {"model": model, "calls": len(values), "p50_s": p50, "p95_s": p95, "p99_s": p99}
        )
    tasks = []
    for task in sorted(attempts):
        outcomes = list(requests[task].values())
        ok = sum(o for o, _ in outcomes)
        tasks.append(
            {
                "task": task,
                "requests": len(outcomes),
                "attempts": attempts[task],
                "success_rate": ok / len(outcomes) if outcomes else 0.0,
                "timeout_rate": timeouts[task] / attempts[task],
                "fallback_rate": sum(f for o, f in outcomes if o) / ok if ok else 0.0,
            }
        )
    return {"models": models, "tasks": tasks}


def latency_table(summary: dict[str, Any]) -> str:
    models = render(
        ("model", "calls", "P50 s", "P95 s", "P99 s"),
        [
            (m["model"], m["calls"], f"{m['p50_s']:.2f}", f"{m['p95_s']:.2f}", f"{m['p99_s']:.2f}")
            for m in summary["models"]
        ],
    )
    tasks = render(
        ("task", "requests", "attempts", "success", "timeouts", "fallbacks"),
        [
            (
                t["task"],
                t["requests"],
                t["attempts"],
                f"{t['success_rate']:.1%}",
                f"{t['timeout_rate']:.1%}",
                f"{t['fallback_rate']:.1%}",
            )
            for t in summary["tasks"]
        ],
    )
    return f"{models}\n\n{tasks}"


def plot_costs(summary: dict[str, Any], path: str) -> None:
    plt = _pyplot()
    ok_rows = [r for r in summary["rows"] if r["status"] == "ok"]
    tasks = sorted({r["task"] for r in ok_rows})
    models = sorted({r["model"] for r in ok_rows})
    fig, ax = plt.subplots(figsize=(9, 4.5))
    left = [0.0] * len(tasks)
    for model in models:
        widths = [
            sum(r["cost_usd"] for r in ok_rows if r["task"] == t and r["model"] == model)
            for t in tasks
        ]
        ax.barh(tasks, widths, left=left, label=model)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    for y, total in enumerate(left):
        ax.annotate(
            f"{total:.4f}",
            (total, y),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize="small",
        )
    ax.set_xlim(0, max(left, default=0) * 1.15 or 1)
    ax.set_xlabel("cost (USD)")
    # Plain text: matplotlib reads a pair of dollar signs as math.
    ax.set_title(
        f"Cost per task and model: {summary['total_usd']:.4f} USD in all; "
        f"{summary['baseline_usd']:.4f} USD with {summary['baseline_model']} for everything"
    )
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency(summary: dict[str, Any], path: str) -> None:
    plt = _pyplot()
    models = summary["models"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.27
    xs = range(len(models))
    for i, key in enumerate(("p50_s", "p95_s", "p99_s")):
        ax.bar(
            [x + (i - 1) * width for x in xs],
            [m[key] for m in models],
            width,
            label=key[:3].upper(),
        )
    ax.set_xticks(list(xs), [m["model"] for m in models], rotation=15)
    ax.set_ylabel("seconds")
    ax.set_title("Latency percentiles per model (successful calls)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ConfigError("--plot needs matplotlib: pip install 'coldstream[plot]'") from e
    return plt


def prices_table(profiles: Sequence[RoutingProfile]) -> str:
    rows = []
    for profile in profiles:
        for name, spec in sorted(profile.models.items()):
            rows.append(
                (
                    profile.name,
                    name,
                    spec.provider,
                    f"{spec.quality}",
                    f"${spec.input_per_1m:g}",
                    f"${spec.output_per_1m:g}",
                    f"${spec.cached_input_per_1m:g}"
                    if spec.cached_input_per_1m is not None
                    else "-",
                    spec.price_source,
                )
            )
    return render(
        ("profile", "model", "provider", "tier", "in/1M", "out/1M", "cached/1M", "source"), rows
    )
