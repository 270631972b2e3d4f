"""What Faust's fetcher pays to hand one record to a stream: ``Service.wait_first(delivery,
suspend_flow.wait())`` (faust ``Consumer._drain_messages``), against what our consumer does
(``streams.transport``: the delivery as one task, awaited) and against awaiting it inline.

    .venv/bin/python bench/faust_delivery.py [--records 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from mode import Service


class _Probe(Service):
    pass


async def run(records: int) -> None:
    service = _Probe()
    await service.start()
    suspend_flow = asyncio.Event()
    delivered: list[int] = []

    async def deliver(n: int) -> None:  # a delivery into a queue with room: never blocks
        delivered.append(n)

    started = time.process_time()
    for n in range(records):
        await service.wait_first(deliver(n), suspend_flow.wait())
    through_wait_first = (time.process_time() - started) / records
    started = time.process_time()
    for n in range(records):
        await asyncio.create_task(deliver(n))
    one_task = (time.process_time() - started) / records
    started = time.process_time()
    for n in range(records):
        await deliver(n)
    direct = (time.process_time() - started) / records
    await service.stop()
    assert delivered == list(range(records)) * 3
    print(
        f"per record: wait_first {through_wait_first * 1e6:.1f} us of CPU, "
        f"one task {one_task * 1e6:.1f} us, awaited inline {direct * 1e6:.2f} us "
        f"({records} records)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    asyncio.run(run(parser.parse_args().records))


if __name__ == "__main__":
    main()
