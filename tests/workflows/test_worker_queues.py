"""WORKER_QUEUES: a worker serves the case queue and its letters queue, or one of them (to run
letters workers apart); both serve the conclusion letter (an older case's is on the case
queue)."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import httpx

from infra.settings import Settings
from schemas.clock import CHINA_TZ
from tests.conftest import time_skipping
from worker import build_workers


async def test_a_worker_serves_the_queues_it_is_told(db_pool: asyncpg.Pool) -> None:
    served = {}
    async with (
        time_skipping(datetime(2026, 11, 2, 9, 0, tzinfo=CHINA_TZ)) as env,
        httpx.AsyncClient() as http,
    ):
        for queues in ("all", "cases", "letters"):
            # A queue each: the SDK refuses a second worker for a queue on one client.
            config = Settings(task_queue=queues, worker_queues=queues, letter_processes=3)
            workers = build_workers(env.client, db_pool, http, config)
            served[queues] = {w.task_queue: w.config() for w in workers}
    assert list(served["all"]) == ["all", "all-letters"]
    assert list(served["cases"]) == ["cases"]
    assert list(served["letters"]) == ["letters-letters"]
    cases, letters = served["all"]["all"], served["all"]["all-letters"]
    assert cases.get("workflows")
    assert "issue_conclusion_letter" in {fn.__name__ for fn in cases.get("activities", [])}
    assert not letters.get("workflows")
    assert [fn.__name__ for fn in letters.get("activities", [])] == ["issue_conclusion_letter"]
    assert letters.get("max_concurrent_activities") == 3  # as many as render at once
