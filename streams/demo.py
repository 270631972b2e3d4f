"""``coldstream demo``: local broker, one worker, the bundled 200 leads, emails and costs out."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson

from providers.routing import load_profile
from streams.admin import ensure_topics
from streams.kafka_io import Progress, consume, produce
from streams.report import costs_table, email_table, summarize_costs
from streams.settings import Settings
from topics.schemas import CostEvent, EmailEvent, TaskDeadLetter

SAMPLE = Path(__file__).parent / "data" / "sample_leads.jsonl"


def run_demo(settings: Settings, leads_file: Path | None, *, timeout_s: float) -> int:
    started = time.monotonic()
    if "KAFKA_BOOTSTRAP_SERVERS" not in os.environ:
        from streams.broker import LocalKafka

        broker = LocalKafka(settings.state_dir / "kafka")
        print(f"kafka: {broker.start()} on {broker.bootstrap} (state: {broker.state_dir})")
    asyncio.run(ensure_topics(settings))

    run = uuid.uuid4().hex[:6]
    campaign = f"demo-{run}"
    leads = []
    for line in (leads_file or SAMPLE).read_bytes().splitlines():
        if line.strip():
            lead = orjson.loads(line)
            lead["lead_id"] = f"{run}-{lead['lead_id']}"
            lead["campaign_id"] = campaign
            leads.append(lead)
    ids = {lead["lead_id"] for lead in leads}

    settings.state_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.state_dir / "demo-worker.log"
    mode = "live" if settings.live else "SIMULATED providers (no API key set)"
    print(f"worker: starting ({mode}); log: {log_path}")
    with log_path.open("ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        records = [(lead["company"]["domain"].encode(), orjson.dumps(lead)) for lead in leads]
        asyncio.run(produce(settings, settings.topics.leads, records, total=len(records)))
        emails, letters = asyncio.run(_collect(settings, ids, timeout_s, worker))
        costs = asyncio.run(_costs(settings, campaign))
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()

    print(
        f"\n{len(emails)} emails for {len(ids)} leads"
        f" ({len(letters)} in tasks.dlq) in {time.monotonic() - started:.1f}s\n"
    )
    if emails:
        sample = next(
            (e for e in emails.values() if e.kind == "final"), next(iter(emails.values()))
        )
        print(f"--- one of them ({sample.kind}, to {sample.contact_email}) ---")
        print(f"Subject: {sample.subject}\n\n{sample.body}\n")
        print("Emails per task and model:")
        print(email_table(emails.values()), "\n")
    print("Cost of this run (llm.costs):")
    print(costs_table(summarize_costs(costs, load_profile(settings.routing))))
    if not any(c.task == "extract_business_info" for c in costs):
        print("(company-level results were reused from an earlier run: no clean/extract calls)")
    print("\nThe broker keeps running; stop it with: .venv/bin/coldstream kafka stop")
    return 0 if len(emails) + len(letters) == len(ids) and emails else 1


async def _collect(
    settings: Settings, ids: set[str], timeout_s: float, worker: subprocess.Popen[bytes]
) -> tuple[dict[str, EmailEvent], dict[str, TaskDeadLetter]]:
    emails: dict[str, EmailEvent] = {}
    letters: dict[str, TaskDeadLetter] = {}
    progress = Progress(len(ids), "emails")
    deadline = time.monotonic() + timeout_s

    def finished() -> bool:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}; see its log")
        return len(emails) + len(letters) >= len(ids) or time.monotonic() > deadline

    async def read_emails() -> None:
        async for record in consume(settings, settings.topics.emails, stop=finished):
            email = EmailEvent.model_validate_json(record.value)
            if email.lead_id in ids and email.lead_id not in emails:
                emails[email.lead_id] = email
                progress.advance()

    async def read_letters() -> None:
        async for record in consume(settings, settings.topics.tasks_dlq, stop=finished):
            letter = TaskDeadLetter.model_validate_json(record.value)
            if letter.job is not None and letter.job.lead.lead_id in ids:
                letters[letter.job.lead.lead_id] = letter

    await asyncio.gather(read_emails(), read_letters())
    progress.close()
    return emails, letters


async def _costs(settings: Settings, campaign: str) -> list[CostEvent]:
    costs = []
    async for record in consume(settings, settings.topics.costs, idle_timeout_s=2.0):
        cost = CostEvent.model_validate_json(record.value)
        if cost.campaign_id == campaign:
            costs.append(cost)
    return costs
