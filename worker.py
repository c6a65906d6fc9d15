"""The worker: runs AppraisalCase workflows and their activities on task queue `appraisal`,
and new cases' conclusion letters on `appraisal-letters`, rendered in processes of their own.

Start it with `python worker.py` (make run does). Any number can run side by side: Temporal
hands each task to one of them. WORKER_QUEUES=cases or letters serves one queue only."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import asyncpg
import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from activities.archive import Archive
from activities.documents import Documents, LetterProcesses
from activities.experts import Experts
from activities.ledger import sweep as ledger_sweep
from activities.notices import PublicNotices
from activities.notifications import Dispatcher, Notifications
from activities.policy import Policies
from activities.postal import PostalActivities
from activities.prior import PriorConclusions
from activities.sessions import Sessions, read_plan
from activities.storage import Storage
from activities.workdays import HolidayCalendar, Workdays
from infra import db, logs, seal
from infra.process import run_and_exit
from infra.settings import Settings, settings
from infra.temporal import CaseLogContext, connect
from schemas.documents import letters_queue
from workflows.case import AppraisalCase
from workflows.inputs import OneInput
from workflows.referral import ProvincialReferral

log = logs.get_logger("worker")


def activities(
    pool: asyncpg.Pool,
    http: httpx.AsyncClient,
    config: Settings,
    renderer: Executor | None = None,
) -> list[Callable[..., Any]]:
    storage = Storage(pool, config.worker_ref_key)
    postal = PostalActivities(http, pool)
    calendar = HolidayCalendar(config.holiday_schedule_dir)
    notifications = Notifications(pool)
    experts = Experts(pool, config.worker_ref_key)
    notices = PublicNotices(
        pool, config.committee_name, config.provincial_committee_name, config.public_notice_place
    )
    return [
        storage.register_case,
        storage.record_stage,
        storage.record_milestone,
        storage.append_event,
        storage.record_conclusion,
        storage.record_transition,
        # An older case's letter, on the case's queue (a new case's: on the letters queue).
        Documents(pool, renderer=renderer).issue_conclusion_letter,
        Policies(config.policy_file).load_policy,
        Workdays(calendar).compute_due,
        experts.draw_panel,
        experts.check_staff_conflict,
        experts.check_actor,
        Sessions(pool, read_plan(config.sessions_file), calendar).book_appointment,
        notifications.queue_message,
        notifications.send_message,
        Archive(pool, seal.signing_key(config)).archive_case,
        PriorConclusions(pool, config.worker_ref_key).find_prior_conclusion,
        postal.send_letter,
        postal.track_shipment,
        notices.publish_notice,
    ]


def build_workers(
    client: Client,
    pool: asyncpg.Pool,
    http: httpx.AsyncClient,
    config: Settings,
    renderer: Executor | None = None,
) -> list[Worker]:
    """The workers of the queues `config.worker_queues` names. `renderer`: where letters render
    (LetterProcesses in production; None: a thread of this process)."""
    workers = []
    if config.worker_queues in ("all", "cases"):
        workers.append(
            Worker(
                client,
                task_queue=config.task_queue,
                workflows=[AppraisalCase, ProvincialReferral],
                activities=activities(pool, http, config, renderer),
                interceptors=[CaseLogContext(), OneInput()],
                max_cached_workflows=config.max_cached_workflows,
            )
        )
    if config.worker_queues in ("all", "letters"):
        workers.append(
            Worker(
                client,
                task_queue=letters_queue(config.task_queue),
                activities=[Documents(pool, renderer=renderer).issue_conclusion_letter],
                interceptors=[CaseLogContext()],
                # No more than render at once: other letters wait on the queue for any worker.
                max_concurrent_activities=config.letter_processes,
            )
        )
    return workers


@asynccontextmanager
async def run_workers(
    client: Client,
    pool: asyncpg.Pool,
    http: httpx.AsyncClient,
    config: Settings,
    renderer: Executor | None = None,
) -> AsyncIterator[list[Worker]]:
    """Runs build_workers' workers until the block ends (then each finishes its tasks)."""
    workers = build_workers(client, pool, http, config, renderer)
    async with AsyncExitStack() as stack:
        for worker in workers:
            await stack.enter_async_context(worker)
        yield workers


async def main() -> None:
    logs.configure()
    config = settings()
    try:
        key = seal.signing_key(config)
    except seal.KeyProblem as problem:
        raise SystemExit(f"cannot start the worker: {problem}") from None
    if key is None:
        log.warning(
            "no archive signing key: cases wait in archiving until ARCHIVE_SIGNING_KEY "
            "(or ARCHIVE_SIGNING_KEY_FILE) is set"
        )
    else:
        log.info("archive seals signed", key_id=key.key_id)
    dsn = db.resolve_dsn(config)
    applied = await db.migrate(dsn)
    log.info("database ready", migrations_applied=applied)
    client = await connect(config)
    pool = await db.create_pool(dsn)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Letters render in processes of their own (fonts parsed once in each), so a render never
    # holds this interpreter; an older case's letter, on the case queue, renders there too.
    renderer = LetterProcesses(config.letter_processes)
    try:
        async with (
            httpx.AsyncClient(base_url=config.postal_url, timeout=20) as http,
            run_workers(client, pool, http, config, renderer) as workers,
        ):
            queues = [worker.task_queue for worker in workers]
            log.info("worker started", task_queues=queues, letter_processes=config.letter_processes)
            if config.worker_queues == "letters":
                await stop.wait()  # the case workers send the outbox
            else:  # the outbox, and the ledger's overdue follow-ups, until told to stop
                await asyncio.gather(Dispatcher(pool).run(stop), ledger_sweep(pool, stop))
            log.info("worker stopping: finishing tasks in hand")
    finally:
        renderer.shutdown(cancel_futures=True)
        await pool.close()


if __name__ == "__main__":
    run_and_exit(lambda: asyncio.run(main()))
