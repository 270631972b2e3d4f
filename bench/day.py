"""The write-up's day on one worker: 5,000 leads across 500 companies (10 each) plus 100
previews, through the real broker, with the simulated provider at real time scale.

Prints wall time (first lead produced -> last email consumed), calls per second, peak calls
in flight, lead-to-email latency percentiles, the worker's peak RSS, and the Little's-law
bound for the configured in-flight limits. ``--runs 3`` repeats the day on the same worker
to check that RSS does not grow.

    .venv/bin/python bench/day.py [--runs 1] [--time-scale 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections import Counter

from common import (
    EmailReader,
    Worker,
    drop_topics,
    ensure_broker,
    http_get,
    produce,
    wait_topics,
)

from providers.routing import load_profile
from providers.simulated import sample_latency
from streams.sample import generate_leads

COMPANIES, PER_COMPANY, PREVIEWS = 500, 10, 100


def mean_latency(spec: object, draws: int = 50_000) -> float:
    rng = random.Random(1)
    return statistics.fmean(sample_latency(spec, rng.random()) for _ in range(draws))  # type: ignore[arg-type]


def littles_bound(routing: str, leads: list[dict], time_scale: float) -> tuple[float, str]:
    """Lower bound on wall time: per model, calls x mean latency / in-flight limit; and the
    critical path of one lead through its stages. The larger one binds."""
    profile = load_profile(routing)
    companies_with_text = {
        x["company"]["domain"]
        for x in leads
        if x["company"].get("website_text") and not x.get("preview")
    }
    finals = sum(not x.get("preview") for x in leads)
    previews = len(leads) - finals
    volume = {
        "clean_content": len(companies_with_text),
        "extract_business_info": len(companies_with_text),
        "classify_lead": finals,
        "email_final": finals,
        "subject_line": finals,
        "email_preview": previews,
    }
    calls: Counter[str] = Counter()
    for task, n in volume.items():
        calls[profile.policy(task).chain[0]] += n
    means = {m: mean_latency(profile.models[m].latency) * time_scale for m in calls}
    per_model = {m: calls[m] * means[m] / profile.models[m].max_in_flight for m in calls}
    path = sum(
        means[profile.policy(t).chain[0]]
        for t in (
            "clean_content",
            "extract_business_info",
            "classify_lead",
            "email_final",
            "subject_line",
        )
    )
    binding = max(per_model, key=per_model.__getitem__)
    detail = ", ".join(
        f"{m}: {calls[m]} calls x {means[m]:.2f}s / {profile.models[m].max_in_flight} = {t:.1f}s"
        for m, t in per_model.items()
    )
    bound = max(per_model[binding], path)
    return bound, f"{detail}; one lead's critical path {path:.1f}s"


def metrics_lines(port: int) -> list[str]:
    return http_get(f"http://127.0.0.1:{port}/metrics").decode().splitlines()


def scrape_in_flight(port: int) -> float:
    for line in metrics_lines(port):
        if line.startswith("coldstream_llm_in_flight "):
            return float(line.split()[1])
    return 0.0


async def one_day(bootstrap: str, worker: Worker, run: int, args: argparse.Namespace) -> dict:
    leads = list(
        generate_leads(
            companies=COMPANIES,
            per_company=PER_COMPANY,
            seed=run,
            run=f"d{run}-",
            campaign=f"day{run}",
        )
    )
    previews = list(
        generate_leads(
            companies=PREVIEWS,
            per_company=1,
            seed=1000 + run,
            run=f"p{run}-",
            campaign=f"day{run}",
            previews_every=1,
        )
    )
    for lead in leads:  # new content per run, so company work is really done each day
        if lead["company"].get("website_text"):
            lead["company"]["website_text"] += f" (run {run})"
    everything = leads + previews
    ids = {x["lead_id"] for x in everything}
    reader = EmailReader(bootstrap, worker.topic("emails"))
    waiting = asyncio.create_task(reader.until(ids, args.timeout))
    peak = 0.0
    calls_before = scrape_calls(worker.web_port)

    async def sample() -> None:
        nonlocal peak
        while not waiting.done():
            try:
                peak = max(peak, await asyncio.to_thread(scrape_in_flight, worker.web_port))
            except OSError:
                pass
            # Once a second: rendering /metrics costs the worker CPU (a real Prometheus
            # scrapes every 15-30 s); 4 Hz took ~2% of the worker's CPU in a day's profile.
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample())
    cpu_before = worker.cpu_seconds()
    first = await produce(bootstrap, worker.topic("leads"), everything)
    last = await waiting
    cpu = worker.cpu_seconds() - cpu_before
    await sampler
    wall = last - first
    calls = scrape_calls(worker.web_port) - calls_before
    latencies = sorted(email_ts - received for email_ts, received in reader.seen.values())
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    bound, detail = littles_bound(args.routing, everything, args.time_scale)
    return {
        "wall": wall,
        "calls": calls,
        "peak": peak,
        "p50": q[49],
        "p95": q[94],
        "p99": q[98],
        "cpu": cpu,
        "rss_peak": worker.peak_rss_mb(),
        "rss": worker.rss_mb(),
        "bound": bound,
        "detail": detail,
        "leads": len(everything),
        "failed": len(reader.failed),
    }


def scrape_calls(port: int) -> float:
    return sum(
        float(line.split()[-1])
        for line in metrics_lines(port)
        if line.startswith("coldstream_llm_calls_total{")
    )


async def run(args: argparse.Namespace) -> None:
    bootstrap = ensure_broker()
    worker = Worker(
        bootstrap,
        COLDSTREAM_SIM_TIME_SCALE=str(args.time_scale),
        COLDSTREAM_ROUTING=args.routing,
        COLDSTREAM_PARTITIONS="8",
    )
    try:
        await wait_topics(bootstrap, [worker.topic("leads"), worker.topic("emails")])
        # The day is timed on a running worker: its start-up (group join, table recovery)
        # is printed apart, not counted in day 1 only.
        print(f"worker ready {await worker.ready():.1f}s after it was started")
        for run_no in range(1, args.runs + 1):
            r = await one_day(bootstrap, worker, run_no, args)
            print(
                f"day {run_no}: {r['leads']} leads ({r['failed']} to tasks.dlq) in "
                f"{r['wall']:.1f}s wall "
                f"(target <= 120s); {r['calls']:.0f} calls = {r['calls'] / r['wall']:.0f} "
                f"calls/s; peak in flight {r['peak']:.0f}"
            )
            print(
                f"  lead->email latency p50 {r['p50']:.1f}s  p95 {r['p95']:.1f}s  "
                f"p99 {r['p99']:.1f}s"
            )
            print(
                f"  Little's-law bound {r['bound']:.1f}s ({r['detail']}); wall/bound "
                f"{r['wall'] / r['bound']:.2f} (target <= 1.5)"
            )
            print(
                f"  worker RSS now {r['rss']:.0f} MB, peak {r['rss_peak']:.0f} MB "
                f"(target <= 400 MB); worker CPU {r['cpu']:.1f}s = {r['cpu'] / r['wall']:.0%} "
                f"of one core, {r['cpu'] * 1000 / r['leads']:.1f} ms per lead"
            )
            if run_no == 1:
                first_rss = r["rss"]
        if args.runs > 1:
            print(
                f"RSS after day 1: {first_rss:.0f} MB; after day {args.runs}: {r['rss']:.0f} "
                f"MB; growth {(r['rss'] / first_rss - 1):+.1%} (target <= +10%)"
            )
    finally:
        worker.stop()
        await drop_topics(bootstrap, *worker.topic_prefixes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--routing", default="default")
    parser.add_argument("--timeout", type=float, default=900)
    started = time.monotonic()
    asyncio.run(run(parser.parse_args()))
    print(f"(benchmark took {time.monotonic() - started:.0f}s)")


if __name__ == "__main__":
    main()
