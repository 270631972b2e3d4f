"""Tables for people: the effective routing table and cost summaries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

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


def cost_table(costs: Iterable[CostEvent]) -> str:
    """The seed's DAILY COSTS shape: task, model, calls, cost; failed attempts apart."""
    ok: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0])
    failed: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0])
    for c in costs:
        bucket = ok if c.outcome == "ok" else failed
        bucket[(c.task, c.model)][0] += 1
        bucket[(c.task, c.model)][1] += c.cost_usd
    rows = [
        (task, model, int(n), f"${cost:.4f}") for (task, model), (n, cost) in sorted(ok.items())
    ]
    rows += [
        (task, f"{model} (failed)", int(n), f"${cost:.4f}")
        for (task, model), (n, cost) in sorted(failed.items())
    ]
    total = sum(v[1] for v in ok.values()) + sum(v[1] for v in failed.values())
    calls = sum(int(v[0]) for v in ok.values()) + sum(int(v[0]) for v in failed.values())
    rows.append(("TOTAL", "", calls, f"${total:.4f}"))
    return render(("task", "model", "calls", "cost"), rows)


def email_table(emails: Iterable[EmailEvent]) -> str:
    """How many emails each task's model produced."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for e in emails:
        for task, model in e.models.items():
            counts[(task, model)] += 1
    return render(("task", "model", "emails"), [(t, m, n) for (t, m), n in sorted(counts.items())])
