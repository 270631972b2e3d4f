"""The worker's readiness probe, on a Faust app that is built but not started."""

from __future__ import annotations

from pathlib import Path

import faust

from streams.worker import not_ready_reason


def _app(tmp_path: Path) -> faust.App:
    return faust.App("readiness-test", broker="kafka://127.0.0.1:1", datadir=str(tmp_path))


def test_a_worker_is_not_ready_before_its_first_recovery(tmp_path: Path) -> None:
    assert not_ready_reason(_app(tmp_path)) == "starting: partitions not assigned and recovered yet"


def test_a_worker_is_ready_after_recovery_and_not_while_it_rebalances(tmp_path: Path) -> None:
    app = _app(tmp_path)
    app.tables.recovery.completed.set()
    assert not_ready_reason(app) is None
    app.rebalancing = True
    assert not_ready_reason(app) == "rebalancing"
    app.rebalancing = False
    app.in_recovery = True
    assert not_ready_reason(app) == "recovering tables"
