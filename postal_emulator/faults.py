"""The faults in force, with the seeded random behind `error_rate` and what they did."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from postal_emulator.models import Faults, FaultStats

SERVER_ERRORS = (500, 502, 503, 504)


@dataclass(frozen=True)
class Failure:
    """A courier call that fails: its status, and whether the work was done first."""

    status: int
    after_work: bool


class BadDay:
    def __init__(self) -> None:
        self.set(Faults())

    def set(self, faults: Faults) -> None:
        """Replace the faults; the random sequence and the counters start again."""
        self.faults = faults
        self.stats = FaultStats()
        self._random = random.Random(faults.seed)

    async def slow(self) -> None:
        if self.faults.delay_ms:
            await asyncio.sleep(self.faults.delay_ms / 1000)

    def failure(self) -> Failure | None:
        """Whether this courier call fails: always when down, else with error_rate's odds.
        Draws happen only when error_rate is on, so one seed gives one sequence of answers."""
        if self.faults.down:
            return Failure(503, after_work=False)
        if not self.faults.error_rate or self._random.random() >= self.faults.error_rate:
            return None
        status = self._random.choice(SERVER_ERRORS)
        return Failure(status, after_work=self._random.random() < 0.5)
