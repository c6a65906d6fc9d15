"""The crash-safety run (issue #11): a batch of cases driven from start to archive on a stack
of the test's own while it breaks: the worker SIGKILLed in every stage and started again, the
Temporal dev server killed once and started again on its database file, PostgreSQL stopped for
30 seconds, the courier answering 5xx, down for a while, and sending every webhook twice. Then
nothing may be lost or done twice: every case archived, its history completed with no failed
workflow task, one shipment per recipient at the courier, each case's event chain whole (no
gap, no fact twice), no message queued twice, every archive verified.

Synchronisation is on what can be observed (the status query); the one deliberate wait is the
database outage itself."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError
from temporalio.worker import Replayer

from activities.chain import CHAIN_COLUMNS, breaks
from infra import db
from infra.temporal import data_converter, send_event, start_case
from postal_emulator.app import running as running_emulator
from schemas.clock import CHINA_TZ
from schemas.events import (
    Attendance,
    AttendanceRecord,
    ReAppraisalRequest,
    ReviewLayer,
    ScheduleAppraisal,
)
from schemas.status import CaseStatus
from schemas.steps import Recipient, Stage
from schemas.vocabulary import ClockName, CloseReason
from tests.gateway_fixtures import SECRET, gateway_at
from tests.helpers import G7, decision, example, new_id, opinion, signoff
from tests.integration.conftest import BIN
from tests.integration.own_stack import DevServer, Postgres, Worker
from tests.postal_fixtures import Courier, PostalFaults
from workflows.case import AppraisalCase
from workflows.referral import ProvincialReferral

CASES = 8
OUTAGE = 30.0  # seconds PostgreSQL stays down
PATIENCE = 150.0  # seconds one step may take through the faults before the test fails
# A 5xx share low enough that no letter meets a long run of them: the courier backs off to
# 5 minutes between tries (workflows/stages/post.py).
COURIER_BAD_DAY = {"error_rate": 0.2, "seed": 11, "duplicate_webhooks": True}
WINDOWS = {ClockName.dispute_window_worker, ClockName.dispute_window_employer}


@dataclass
class Run:
    """The stack, the batch, and what the faults did."""

    client: Client
    server: DevServer
    postgres: Postgres
    worker: Worker
    postal: httpx.AsyncClient
    ids: list[str]
    kills: dict[str, str] = field(default_factory=dict)  # stage: what it had in hand
    postgres_down: float = 0.0
    courier: Counter[str] = field(default_factory=Counter)  # the emulator's fault counters
    started: float = field(default_factory=time.monotonic)
    phases: list[str] = field(default_factory=list)
    open: list[str] = field(default_factory=list)  # the cases started so far

    def handle(self, case_id: str) -> WorkflowHandle[Any, CaseStatus]:
        """A handle on the current client (a new one since the server came back)."""
        return self.client.get_workflow_handle(case_id, result_type=CaseStatus)

    def phase(self, name: str) -> None:
        self.phases.append(f"{time.monotonic() - self.started:5.1f}s {name}")

    async def everyone(self, step: Callable[[str], Awaitable[object]]) -> None:
        await asyncio.gather(*(step(case_id) for case_id in self.ids))

    async def start(self, case_id: str) -> None:
        await start_case(self.client, example("initial_complete"), case_id)
        self.open.append(case_id)

    async def kill_worker(self, stage: Stage) -> None:
        """SIGKILL the worker with whatever it has in hand, then start a new one."""
        described = [await self.handle(case_id).describe() for case_id in self.open]
        await self.worker.kill()
        tasks = sum(d.raw_description.HasField("pending_workflow_task") for d in described)
        activities = sum(len(d.raw_description.pending_activities) for d in described)
        self.kills[stage.value] = f"{tasks} workflow tasks, {activities} activities pending"
        self.phase(f"worker killed in {stage.value}")
        await self.worker.start()

    async def restart_server(self) -> None:
        await self.server.kill()
        self.phase("dev server killed")
        await self.server.start()
        self.client = await self.server.client()
        self.phase("dev server back")

    async def outage(self) -> None:
        """PostgreSQL down for OUTAGE seconds; the dev server killed and started again on its
        file meanwhile."""
        await self.postgres.pause()
        down = time.monotonic()
        self.phase("PostgreSQL stopped")
        await self.restart_server()
        await asyncio.sleep(OUTAGE - (time.monotonic() - down))  # the fault's length
        await self.postgres.resume()
        self.postgres_down = time.monotonic() - down
        self.phase("PostgreSQL back")

    async def courier_refused(self, calls: int) -> None:
        """Until the courier has answered `calls` calls with a 5xx since its faults were set."""

        async def refused() -> None:
            while True:  # another service's counter: polled
                if (await PostalFaults(self.postal).stats())["answered_5xx"] >= calls:
                    return
                await asyncio.sleep(0.2)

        await asyncio.wait_for(refused(), PATIENCE)
        self.phase(f"courier down, {calls}+ calls refused")

    async def set_courier(self, **faults: Any) -> None:
        """Switch the courier's faults, keeping the counts of what the previous ones did."""
        stats = await PostalFaults(self.postal).stats()
        self.courier.update({k: v for k, v in stats.items() if k != "webhooks_pending"})
        await PostalFaults(self.postal).set(**faults)

    async def until(
        self, case_id: str, predicate: Callable[[CaseStatus], bool], what: str
    ) -> CaseStatus:
        """Poll the status query until `predicate` holds; a query that finds no worker
        (killed, starting) or no server is asked again. Fails after PATIENCE, naming `what`."""

        async def poll() -> CaseStatus:
            while True:
                try:
                    status: CaseStatus = await asyncio.wait_for(
                        self.handle(case_id).query(AppraisalCase.status), 10
                    )
                    if predicate(status):
                        return status
                except WorkflowQueryFailedError as failed:
                    if "Nondeterminism" in str(failed):  # wedged: it never answers again
                        raise AssertionError(f"{case_id} cannot be replayed: {failed}") from None
                except (RPCError, TimeoutError):
                    pass  # no worker or no server for now
                await asyncio.sleep(0.25)

        try:
            return await asyncio.wait_for(poll(), PATIENCE)
        except TimeoutError:
            raise AssertionError(
                f"{case_id}: no {what} within {PATIENCE:.0f}s; {await self.stuck(case_id)}"
            ) from None

    async def stuck(self, case_id: str) -> str:
        """Where a case waits: pending activities with their last failure, a pending workflow
        task, the last events of its history and a failed workflow task's message."""
        handle = self.handle(case_id)
        raw = (await handle.describe()).raw_description
        activities = [
            f"{a.activity_type.name} attempt {a.attempt} ({a.last_failure.message or '-'})"
            for a in raw.pending_activities
        ]
        events = [event async for event in handle.fetch_history_events()]
        failed = [
            e.workflow_task_failed_event_attributes.failure.message
            for e in events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        ]
        last = [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events[-8:]]
        task = raw.pending_workflow_task.state if raw.HasField("pending_workflow_task") else None
        history = await handle.fetch_history()
        (self.server.db_file.parent / f"{case_id}.json").write_text(history.to_json())
        try:
            status = await asyncio.wait_for(handle.query(AppraisalCase.status), 10)
            shown = (
                f"stage {status.stage.value}, deadlines {[d.name for d in status.deadlines]}, "
                f"deliveries {[(d.recipient.value, d.waybill_no, str(d.delivered_on), str(d.dispute_window_ends)) for d in status.deliveries]}, "
                f"shipments {[(s.recipient.value, s.waybill_no, s.status.value) for s in status.shipments]}"
            )
        except Exception as error:
            shown = f"no status ({error!r})"
        process = self.worker.process
        if process is not None and process.returncode is not None:
            shown += f"; the worker is not running (exit code {process.returncode}): see worker.log"
        return (
            f"{shown}; pending activities {activities}, workflow task {task}, last events {last}, "
            f"workflow task failures {failed[-3:]}"
        )

    async def send(self, case_id: str, method: Any, payload: Any) -> str:
        """An update with its event id as the update id, sent again while the worker or the
        server is away: the server answers a repeat with the first outcome."""
        deadline = time.monotonic() + PATIENCE
        while True:
            try:
                async with asyncio.timeout(max(deadline - time.monotonic(), 1)):
                    answer: str = await send_event(
                        self.handle(case_id), method, payload, payload.event_id
                    )
                return answer
            except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)


@asynccontextmanager
async def own_stack(folder: Path) -> AsyncIterator[Run]:
    """Dev server, PostgreSQL, the gateway, the emulator (webhooks to the gateway), worker."""
    server, postgres = DevServer(folder), Postgres(folder)
    worker: Worker | None = None
    try:
        await server.start()
        dsn = await postgres.start()
        await db.migrate(dsn)
        async with gateway_at(server.address, dsn) as gateway:
            hooks = str(gateway.base_url.join("/v1/postal/webhooks"))
            async with (
                running_emulator(webhook_url=hooks, webhook_secret=SECRET) as postal_url,
                httpx.AsyncClient(base_url=postal_url, timeout=20) as postal,
            ):
                env = {"TEMPORAL_ADDRESS": server.address, "DATABASE_URL": dsn}
                worker = Worker(
                    {**env, "POSTAL_URL": postal_url, "LOG_JSON": "true"}, folder / "worker.log"
                )
                await worker.start()
                ids = [f"JN-CR-{new_id(str(i))}" for i in range(CASES)]
                yield Run(await server.client(), server, postgres, worker, postal, ids)
    finally:
        if worker is not None:
            await worker.stop()
        await server.kill()
        postgres.stop()


async def test_nothing_lost_or_done_twice_through_crashes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="appraisal-crash-"))
    async with own_stack(folder) as run:
        try:
            await drive(run)
            summary = await check(run)
        except BaseException:
            print(*run.phases, f"logs kept in {folder}", sep="\n")
            raise
    with capsys.disabled():  # the run's account, in every test log
        print("\n" + summary)
    shutil.rmtree(folder, ignore_errors=True)


async def drive(run: Run) -> None:
    """Each case from start to archive, the faults on the way."""
    half = CASES // 2
    # Acceptance: half the batch started, the worker killed at once.
    for case_id in run.ids[:half]:
        await run.start(case_id)
    await run.kill_worker(Stage.acceptance)
    # Organizing: the other half started, the worker killed as the first of them draws its
    # panel and books its appointment.
    for case_id in run.ids[half:]:
        await run.start(case_id)
    await run.until(run.ids[half], lambda s: s.stage is Stage.organizing, "organizing")
    await run.kill_worker(Stage.organizing)

    async def walk_in(case_id: str) -> None:
        await run.until(case_id, lambda s: s.appointment is not None, "booking")
        at = datetime.now(CHINA_TZ)
        walk_in = ScheduleAppraisal(event_id=new_id("s"), actor="W0101", at=at, place="鉴定大厅")
        await run.send(case_id, AppraisalCase.schedule_appraisal, walk_in)

    await run.everyone(walk_in)
    run.phase("every case booked")

    # Conclusion: the attendance moves a case on; the worker killed after the first.
    async def attend(case_id: str) -> None:
        record = AttendanceRecord(
            event_id=new_id("att"),
            actor="W0101",
            status=Attendance.attended,
            identity_verified=True,
        )
        await run.send(case_id, AppraisalCase.record_attendance, record)

    await attend(run.ids[0])
    await run.kill_worker(Stage.conclusion)

    # The other attendances and the opinions come in while PostgreSQL is down and the dev
    # server is killed and started again on its file; the sign-offs once it is back.
    async def opinions(case_id: str) -> None:
        status = await run.until(
            case_id, lambda s: s.stage is Stage.conclusion and s.panel is not None, "conclusion"
        )
        assert status.panel is not None
        for member in status.panel.members:
            await run.send(case_id, AppraisalCase.record_opinion, opinion(member.expert_id, G7))

    async def reviews(case_id: str) -> None:
        for layer in ReviewLayer:
            await run.send(case_id, AppraisalCase.sign_off_review, signoff(layer))

    await asyncio.gather(*map(attend, run.ids[1:]), run.everyone(opinions), run.outage())
    await run.everyone(reviews)
    run.phase("every opinion and review recorded")

    # Delivery: the courier down while the letters are issued, the worker killed once every
    # case is trying to post them; then the courier's bad day: 5xx, every webhook twice.
    await run.set_courier(down=True)

    async def conclude(case_id: str) -> None:
        await run.send(case_id, AppraisalCase.issue_conclusion, decision(G7))
        await run.until(case_id, lambda s: s.stage is Stage.delivery, "delivery")

    await run.everyone(conclude)
    await run.kill_worker(Stage.delivery)
    await run.courier_refused(CASES)
    await run.set_courier(**COURIER_BAD_DAY)
    courier = Courier(run.postal)

    async def deliver(case_id: str) -> None:
        status = await run.until(case_id, lambda s: len(s.shipments) == 2, "both letters posted")
        for shipment in status.shipments:
            await courier.deliver(shipment.waybill_no, "本人")

    await run.everyone(deliver)
    run.phase("every letter posted and signed for")
    # Archiving: the worker killed as the first case enters it.
    await run.until(run.ids[0], lambda s: s.stage is Stage.archiving, "archiving")
    await run.kill_worker(Stage.archiving)

    async def dispute(case_id: str) -> None:
        await run.until(
            case_id, lambda s: {d.name for d in s.deadlines} >= WINDOWS, "dispute windows"
        )
        request = ReAppraisalRequest(
            event_id=new_id("ra"),
            actor="W0102",
            requested_by=Recipient.employer,
            reason="认为伤残等级评定偏高",
        )
        await run.send(case_id, AppraisalCase.request_re_appraisal, request)
        await run.until(case_id, lambda s: s.stage is Stage.archived, "archive")

    await run.everyone(dispute)
    run.phase("every case archived")
    await run.set_courier()  # keeps the bad day's counts


async def check(run: Run) -> str:
    """Nothing lost, nothing done twice; the run's account."""
    recovered: Counter[str] = Counter()
    replayer = Replayer(
        workflows=[AppraisalCase, ProvincialReferral], data_converter=data_converter()
    )
    for case_id in run.ids:
        handle = run.handle(case_id)
        final = await handle.result()
        assert final.stage is Stage.archived and final.closed is CloseReason.referred, case_id
        assert (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED
        history = await handle.fetch_history()
        kinds = Counter(event.event_type for event in history.events)
        assert not kinds[EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED], case_id
        # What the faults cost, recovered from: lost workflow tasks, activities retried.
        recovered["workflow tasks timed out"] += kinds[EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT]
        recovered["activity retries"] += sum(
            e.activity_task_started_event_attributes.attempt - 1
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        )
        # The history a restarted worker replays: the next worker must be able to, too.
        replayed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert replayed.replay_failure is None, f"{case_id}: {replayed.replay_failure}"

    couriers: Counter[str] = Counter()  # letters per recipient at the courier
    for case_id in run.ids:
        answer = await run.postal.get("/v1/shipments", params={"reference": case_id})
        answer.raise_for_status()
        roles = Counter(shipment["recipient_role"] for shipment in answer.json())
        assert roles == {"worker": 1, "employer": 1}, (case_id, roles)
        couriers.update(roles)

    conn = await asyncpg.connect(run.postgres.dsn)
    try:
        found = await database_findings(conn, run.ids)
    finally:
        await conn.close()
    assert found["cases archived"] == CASES, found
    for what in ("chain gaps", "chain breaks", "facts twice", "messages twice"):
        assert found[what] == 0, found
    assert found["shipments"] == 2 * CASES and found["webhooks taken"] == 4 * CASES, found

    env = {"DATABASE_URL": run.postgres.dsn, "TEMPORAL_ADDRESS": run.server.address}
    code, out, err = await cli(env, "archive", "verify", "--all", "--anchor", "--json")
    assert code == 0, err or out
    archives = json.loads(out)
    assert len(archives) == CASES and all(a["ok"] for a in archives), out

    courier = run.courier  # the faults did happen: 5xx, and every webhook sent twice
    assert courier["answered_5xx"] and courier["webhooks_duplicated"] == found["webhooks taken"]
    return "\n".join(
        [
            f"crash-safety run: {CASES} cases, each archived (referred), in "
            f"{time.monotonic() - run.started:.0f}s",
            *(f"  {line}" for line in run.phases),
            "  worker SIGKILLed in "
            + ", ".join(f"{stage} ({pending})" for stage, pending in run.kills.items())
            + f"; started {run.worker.starts} times",
            f"  dev server: started {run.server.starts} times on {run.server.db_file.name}",
            f"  PostgreSQL down {run.postgres_down:.1f}s",
            f"  courier: {courier['answered_5xx']} answers 5xx "
            f"({courier['failed_after_create']} after the shipment was made), "
            f"{courier['webhooks_duplicated']} webhooks sent twice, "
            f"{courier['webhooks_delivered']} webhooks answered, "
            f"{courier['webhooks_given_up']} given up",
            f"  shipments at the courier: {dict(couriers)} (one per recipient per case)",
            "  recovered in the histories: "
            + ", ".join(f"{n} {what}" for what, n in recovered.items())
            + ", 0 workflow tasks failed, every history replays",
            "  PostgreSQL: " + ", ".join(f"{what} {n}" for what, n in found.items()),
            f"  archive verify --all --anchor: {len(archives)} archives, 0 altered",
        ]
    )


async def database_findings(conn: asyncpg.Connection, ids: list[str]) -> dict[str, int]:
    """Counts of what PostgreSQL holds for the batch; every 'twice', gap or break is a fault."""
    found: Counter[str] = Counter()
    for case_id in ids:
        rows = await conn.fetch(
            f"SELECT {CHAIN_COLUMNS} FROM case_events WHERE case_id = $1 ORDER BY seq", case_id
        )
        found["events"] += len(rows)
        found["chain gaps"] += sum(row["seq"] != n for n, row in enumerate(rows, start=1))
        found["chain breaks"] += len(breaks(rows))
        facts = Counter((row["kind"], row["stage"], row["data"]) for row in rows)
        found["facts twice"] += sum(n - 1 for n in facts.values())
    found["cases archived"] = await conn.fetchval(
        "SELECT count(*) FROM cases WHERE case_id = ANY($1) AND stage = 'archived'", ids
    )
    found["messages twice"] = await conn.fetchval(
        """SELECT coalesce(sum(n - 1), 0) FROM (
               SELECT count(*) AS n FROM outbox WHERE case_id = ANY($1)
               GROUP BY case_id, channel, recipient, subject, body) AS m""",
        ids,
    )
    found["shipments"] = await conn.fetchval(
        "SELECT count(*) FROM shipments WHERE case_id = ANY($1)", ids
    )
    found["webhooks taken"] = await conn.fetchval(
        "SELECT count(*) FROM postal_webhooks WHERE case_id = ANY($1)", ids
    )
    return dict(found)


async def cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(BIN / "appraisal"),
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()
