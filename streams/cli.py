"""``coldstream`` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

import orjson

from providers.errors import ColdstreamError
from streams.settings import Settings


def _settings() -> Settings:
    return Settings()


def cmd_kafka(args: argparse.Namespace) -> int:
    from streams.broker import LocalKafka

    settings = _settings()
    broker = LocalKafka(settings.state_dir / "kafka", port=args.port, controller_port=args.port + 1)
    if args.action == "start":
        print(f"kafka: {broker.start()} on {broker.bootstrap} (state: {broker.state_dir})")
    elif args.action == "stop":
        print(f"kafka: {broker.stop()}")
    else:
        print(f"kafka: {broker.status()}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.worker import run_worker

    run_worker(_settings())
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    from streams.kafka_io import lead_key, produce

    settings = _settings()
    path = Path(args.file)
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    topic = args.topic or settings.topics.leads
    sent = asyncio.run(
        produce(settings, topic, ((lead_key(v), v) for v in lines), total=len(lines))
    )
    print(f"produced {sent} records to {topic}", file=sys.stderr)
    return 0


def cmd_consume(args: argparse.Namespace) -> int:
    from streams.kafka_io import consume

    settings = _settings()
    names = {
        "emails": settings.topics.emails,
        "llm.costs": settings.topics.costs,
        "leads.dlq": settings.topics.leads_dlq,
        "tasks.dlq": settings.topics.tasks_dlq,
        "leads": settings.topics.leads,
    }
    topic = names.get(args.topic, args.topic)

    async def run() -> int:
        count = 0
        async for record in consume(settings, topic, idle_timeout_s=args.idle_exit):
            sys.stdout.write((record.value or b"null").decode("utf-8", "replace") + "\n")
            count += 1
            if args.max and count >= args.max:
                break
        return count

    asyncio.run(run())
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from topics.schemas import PUBLIC_SCHEMAS

    schemas = {topic: model.model_json_schema() for topic, model in PUBLIC_SCHEMAS.items()}
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for topic, schema in schemas.items():
            name = topic.replace("*", "task") + ".schema.json"
            (out / name).write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2))
        print(f"wrote {len(schemas)} schemas to {out}")
    else:
        sys.stdout.write(orjson.dumps(schemas, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from providers.routing import load_profile
    from streams.report import profile_table

    settings = _settings()
    profile = load_profile(args.routing or settings.routing)
    print(f"routing profile {profile.name!r} is valid (prices: {profile.price_version})")
    print(profile_table(profile))
    print(f"providers: {'live' if settings.live else 'simulated'}")
    return 0


def cmd_prices(args: argparse.Namespace) -> int:
    from providers.routing import PROFILES_DIR, load_profile
    from streams.report import prices_table

    names = [args.routing] if args.routing else sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))
    print(prices_table([load_profile(n) for n in names]))
    return 0


def _workload(args: argparse.Namespace) -> dict[str, tuple[int, int, int]]:
    from streams.report import SEED_WORKLOAD

    workload = dict(SEED_WORKLOAD)
    for item in args.volume or []:
        task, _, n = item.partition("=")
        workload[task] = (int(n), *workload.get(task, (0, 400, 400))[1:])
    for item in args.tokens or []:
        task, _, pair = item.partition("=")
        tin, _, tout = pair.partition(":")
        workload[task] = (workload.get(task, (0, 0, 0))[0], int(tin), int(tout))
    return workload


def cmd_estimate(args: argparse.Namespace) -> int:
    from providers.routing import load_profile
    from streams.report import estimate, estimate_table, most_expensive_model

    profile = load_profile(args.routing or _settings().routing)
    baseline = args.baseline or most_expensive_model(profile)
    rows = estimate(profile, _workload(args), baseline)
    print(f"routing profile {profile.name!r}, prices {profile.price_version}\n")
    print(estimate_table(rows, baseline))
    final = next((r for r in rows if r.task == "email_final"), None)
    if final is not None:
        print(
            f"final emails alone with {baseline}: ${final.baseline_usd:,.2f}/day "
            f"({final.volume:,} x {final.input_tokens + final.output_tokens} tokens)"
        )
    return 0


def _parse_time(value: str | None) -> float | None:
    import datetime as dt

    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def cmd_report(args: argparse.Namespace) -> int:
    import csv
    import io

    from providers.routing import load_profile
    from streams import report
    from streams.kafka_io import consume
    from topics.schemas import CostEvent

    settings = _settings()
    since, until = _parse_time(args.since), _parse_time(args.until)

    skipped = 0

    async def read() -> list[CostEvent]:
        nonlocal skipped
        out = []
        async for record in consume(settings, settings.topics.costs, idle_timeout_s=2.0):
            try:
                event = CostEvent.model_validate_json(record.value)
            except ValueError:
                skipped += 1  # not a cost event of this version: say so, do not crash
                continue
            if (since is None or event.timestamp >= since) and (
                until is None or event.timestamp < until
            ):
                out.append(event)
        return out

    costs = asyncio.run(read())
    if skipped:
        print(f"skipped {skipped} records that are not valid cost events", file=sys.stderr)
    if args.kind == "costs":
        profile = load_profile(args.routing or settings.routing)
        summary = report.summarize_costs(costs, profile, args.baseline)
        rows, text = summary["rows"], report.costs_table(summary)
        if args.plot:
            report.plot_costs(summary, args.plot)
    else:
        summary = report.summarize_latency(costs)
        rows, text = summary["models"] + summary["tasks"], report.latency_table(summary)
        if args.plot:
            report.plot_latency(summary, args.plot)
    if args.format == "json":
        print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    elif args.format == "csv":
        buffer = io.StringIO()
        fields = sorted({k for row in rows for k in row})
        writer = csv.DictWriter(buffer, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
        print(buffer.getvalue(), end="")
    else:
        print(f"{len(costs)} cost events\n\n{text}")
    if args.plot:
        print(f"chart written to {args.plot}", file=sys.stderr)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from streams.replay import ReplaySelection, parse_offsets, replay

    since, until = _parse_time(args.since), _parse_time(args.until)
    selection = ReplaySelection(
        since_ms=int(since * 1000) if since is not None else None,
        until_ms=int(until * 1000) if until is not None else None,
        offsets=parse_offsets(args.offsets or []),
        lead_ids=frozenset(args.lead_id or []),
        campaigns=frozenset(args.campaign or []),
    )
    count, replay_id = asyncio.run(
        replay(_settings(), selection, force=args.force, dry_run=args.dry_run)
    )
    if args.dry_run:
        print(f"{count} records match")
    else:
        print(
            f"replayed {count} records (replay id {replay_id}"
            f"{', new generation' if args.force else ', from stored results'})"
        )
    return 0


def cmd_dlq(args: argparse.Namespace) -> int:
    from streams.replay import redrive

    count, redrive_id = asyncio.run(
        redrive(_settings(), args.topic, reason=args.reason, dry_run=args.dry_run)
    )
    verb = "would redrive" if args.dry_run else "redrove"
    print(f"{verb} {count} dead letters from {args.topic} (redrive id {redrive_id})")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from streams.sample import generate_leads

    for lead in generate_leads(
        companies=args.companies,
        per_company=args.per_company,
        seed=args.seed,
        previews_every=args.previews_every,
    ):
        sys.stdout.write(orjson.dumps(lead).decode() + "\n")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from streams.demo import run_demo

    return run_demo(_settings(), Path(args.file) if args.file else None, timeout_s=args.timeout)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coldstream", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("kafka", help="run a local single-node Kafka broker (no Docker)")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.add_argument("--port", type=int, default=9092)
    p.set_defaults(func=cmd_kafka)

    sub.add_parser("worker", help="run the pipeline worker").set_defaults(func=cmd_worker)

    p = sub.add_parser("produce", help="publish a JSON-lines file of leads")
    p.add_argument("file")
    p.add_argument("--topic", default=None, help="default: the leads topic")
    p.set_defaults(func=cmd_produce)

    p = sub.add_parser("consume", help="print a topic as JSON lines")
    p.add_argument("topic", help="emails, llm.costs, leads.dlq, tasks.dlq or a topic name")
    p.add_argument("--max", type=int, default=0, help="stop after N records")
    p.add_argument(
        "--idle-exit",
        type=float,
        default=None,
        help="stop after this many seconds without a record (default: follow)",
    )
    p.set_defaults(func=cmd_consume)

    p = sub.add_parser("schema", help="JSON Schema of the public events")
    p.add_argument("--out", default=None, help="write one file per topic into this folder")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("config", help="validate configuration")
    p.add_argument("action", choices=["check"])
    p.add_argument("--routing", default=None, help="profile name or TOML path")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("prices", help="price table per model")
    p.add_argument("--routing", default=None, help="one profile (default: all shipped)")
    p.set_defaults(func=cmd_prices)

    p = sub.add_parser("estimate", help="plan daily and monthly cost before traffic")
    p.add_argument("--routing", default=None)
    p.add_argument("--baseline", default=None, help="one model for everything (default: priciest)")
    p.add_argument("--volume", action="append", metavar="TASK=N", help="calls per day")
    p.add_argument(
        "--tokens",
        action="append",
        metavar="TASK=IN:OUT",
        help="average input and output tokens per call",
    )
    p.set_defaults(func=cmd_estimate)

    p = sub.add_parser("report", help="cost or latency tables from llm.costs")
    p.add_argument("kind", choices=["costs", "latency"])
    p.add_argument("--since", default=None, help="ISO time (UTC if no zone)")
    p.add_argument("--until", default=None, help="ISO time (UTC if no zone)")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--baseline", default=None, help="costs: one model for everything")
    p.add_argument("--routing", default=None, help="costs: profile whose prices price it")
    p.add_argument("--plot", default=None, metavar="FILE.png", help="also draw a chart")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("replay", help="re-process leads from the leads topic")
    p.add_argument("--since", default=None, help="record time, ISO (UTC if no zone)")
    p.add_argument("--until", default=None, help="record time, ISO (UTC if no zone)")
    p.add_argument(
        "--offsets",
        action="append",
        metavar="P:FROM-TO",
        help="partition offsets, inclusive; repeatable",
    )
    p.add_argument("--lead-id", action="append", help="repeatable")
    p.add_argument("--campaign", action="append", help="repeatable")
    p.add_argument(
        "--force",
        action="store_true",
        help="new generation: call the models again instead of stored results",
    )
    p.add_argument("--dry-run", action="store_true", help="only count what matches")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("dlq", help="dead-letter tools")
    p.add_argument("action", choices=["redrive"])
    p.add_argument("topic", choices=["leads.dlq", "tasks.dlq"])
    p.add_argument("--reason", default=None, help="only letters with this reason")
    p.add_argument("--dry-run", action="store_true", help="only count")
    p.set_defaults(func=cmd_dlq)

    p = sub.add_parser("sample", help="print deterministic sample leads")
    p.add_argument("--companies", type=int, default=20)
    p.add_argument("--per-company", type=int, default=10)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--previews-every", type=int, default=0)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("demo", help="broker + worker + 200 sample leads, end to end")
    p.add_argument("--file", default=None, help="leads file (default: the bundled sample)")
    p.add_argument("--timeout", type=float, default=300.0)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except ColdstreamError as e:
        print(f"coldstream: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
