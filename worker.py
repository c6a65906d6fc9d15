"""The worker: runs AppraisalCase workflows and their activities on task queue `appraisal`.

Start it with `python worker.py` (make run does). Any number can run side by side: Temporal
hands each task to one of them."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from activities.archive import Archive
from activities.documents import Documents
from activities.experts import Experts
from activities.notices import PublicNotices
from activities.notifications import Notifications
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
from workflows.case import AppraisalCase
from workflows.referral import ProvincialReferral

log = logs.get_logger("worker")


def activities(
    pool: asyncpg.Pool, http: httpx.AsyncClient, config: Settings
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
        Documents(pool).issue_conclusion_letter,
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


def build_worker(
    client: Client, pool: asyncpg.Pool, http: httpx.AsyncClient, config: Settings
) -> Worker:
    return Worker(
        client,
        task_queue=config.task_queue,
        workflows=[AppraisalCase, ProvincialReferral],
        activities=activities(pool, http, config),
        interceptors=[CaseLogContext()],
        max_cached_workflows=config.max_cached_workflows,
    )


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
    try:
        async with (
            httpx.AsyncClient(base_url=config.postal_url, timeout=20) as http,
            build_worker(client, pool, http, config),
        ):
            log.info("worker started", task_queue=config.task_queue)
            await stop.wait()
            log.info("worker stopping: finishing tasks in hand")
    finally:
        await pool.close()


if __name__ == "__main__":
    run_and_exit(lambda: asyncio.run(main()))
