"""Daily spend caps that hold under concurrency.

Each call reserves its worst-case cost before it starts and settles its real cost when it
ends. Reservation and its check are one synchronous step on the event loop, so concurrent
calls cannot jointly pass a cap (the LiteLLM race: 4 of 5 concurrent calls admitted against a
cap). The ledger knows nothing of Kafka; the worker seeds it from ``llm.costs`` at start.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from providers.errors import BudgetExceeded

GLOBAL = "*"


@dataclass(slots=True)
class Reservation:
    day: dt.date
    task: str
    amount: float
    settled: bool = False


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


class BudgetLedger:
    def __init__(
        self,
        *,
        daily_usd: float | None,
        task_daily_usd: Mapping[str, float],
        today: Callable[[], dt.date] = utc_today,
        spent_today: Mapping[str, float] | None = None,
    ) -> None:
        self._caps: dict[str, float] = dict(task_daily_usd)
        if daily_usd is not None:
            self._caps[GLOBAL] = daily_usd
        self._today = today
        self._day = today()
        self._spent: defaultdict[str, float] = defaultdict(float)
        self._reserved: defaultdict[str, float] = defaultdict(float)
        for task, amount in (spent_today or {}).items():
            self._spent[task] += amount
            self._spent[GLOBAL] += amount
        self._changed = asyncio.Event()

    @property
    def enabled(self) -> bool:
        return bool(self._caps)

    def _roll(self) -> None:
        day = self._today()
        if day != self._day:
            self._day = day
            self._spent.clear()
            # Reservations made yesterday settle against yesterday: drop their weight today.
            self._reserved.clear()

    def remaining(self, scope: str) -> float | None:
        self._roll()
        cap = self._caps.get(scope)
        if cap is None:
            return None
        return cap - self._spent[scope] - self._reserved[scope]

    def spent(self, scope: str = GLOBAL) -> float:
        self._roll()
        return self._spent[scope]

    def reserve(self, task: str, amount: float) -> Reservation:
        """Reserve ``amount`` for ``task`` or raise :class:`BudgetExceeded`. Never awaits."""
        self._roll()
        for scope in (task, GLOBAL):
            left = self.remaining(scope)
            if left is not None and amount > left + 1e-12:
                raise BudgetExceeded(scope, amount, left)
        self._reserved[task] += amount
        self._reserved[GLOBAL] += amount
        return Reservation(self._day, task, amount)

    def settle(self, reservation: Reservation, actual: float) -> None:
        if reservation.settled:
            return
        reservation.settled = True
        if reservation.day == self._day:
            for scope in (reservation.task, GLOBAL):
                self._reserved[scope] = max(0.0, self._reserved[scope] - reservation.amount)
                self._spent[scope] += actual
        self._changed.set()

    async def wait_for_room(self, task: str, amount: float, *, poll_s: float = 30.0) -> None:
        """Block until ``amount`` fits (a settle frees room, or a new budget day starts)."""
        while True:
            try:
                self.settle(self.reserve(task, amount), 0.0)
                return
            except BudgetExceeded:
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), poll_s)
                except TimeoutError:
                    pass
