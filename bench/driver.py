"""The bench's driver: plays clerk, experts, review groups, committee and post office for a
case as soon as each step opens, and sends a baseline's script its updates and signals.

Each step waits on the `status` query for the stage the step needs, so it works whether an
update answers before or after the case has moved on; a step refused as too early is retried
(bounded) and counted."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stdnum.cn import ric
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError

from bench import baseline
from bench.stack import BASELINE_QUEUE, CASE_QUEUE
from infra.settings import ROOT
from infra.temporal import start_case
from schemas.application import AppraisalApplication
from schemas.clock import CHINA_TZ
from schemas.events import (
    Attendance,
    AttendanceRecord,
    ConclusionDecision,
    ExpertOpinion,
    PostalEvent,
    PostalStatus,
    ReAppraisalRequest,
    ReviewLayer,
    ReviewSignoff,
    ScheduleAppraisal,
)
from schemas.outcome import Outcome, Verdict
from schemas.status import CaseStatus
from schemas.steps import Recipient, Stage
from workflows.case import AppraisalCase

# The demo roster's members (migration 014): the clerk, each review group, a committee member.
CLERK, COMMITTEE = "W0101", "C0201"
SIGNERS = {
    ReviewLayer.examination: ("S0101", "孙立新"),
    ReviewLayer.chief_examination: ("S0102", "周海燕"),
    ReviewLayer.recheck: ("S0103", "吴建华"),
}
GRADE_7 = Outcome(verdict=Verdict.grade_7)
RETRIES = 5  # a step refused as too early is sent again at most this often
_ids = itertools.count(1)


@dataclass
class Tally:
    """What the driver saw in one batch."""

    latencies: list[float] = field(default_factory=list)  # start to result, per case
    updates: list[float] = field(default_factory=list)  # each update's round trip
    queries: int = 0
    refusals: int = 0  # updates refused as too early (then retried)


_template: dict[str, Any] | None = None
_workers = itertools.count(random.randrange(100_000))


def application() -> AppraisalApplication:
    """The complete example with a worker of its own (no case looks like a duplicate)."""
    global _template
    if _template is None:
        _template = json.loads((ROOT / "examples" / "initial_complete.json").read_text("utf-8"))
    data = json.loads(json.dumps(_template))
    n = next(_workers)
    body = f"370811{1975 + n // 1_000 % 25}0101{n % 1000:03d}"
    data["worker"]["citizen_id"] = body + ric.calc_check_digit(body + "0")
    return AppraisalApplication.model_validate(data)


def event_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}-{random.randrange(1 << 30):x}"


# When each step is open, by the status query.
def booked(s: CaseStatus) -> bool:
    return s.stage is Stage.organizing and s.appointment is not None


def deciding(s: CaseStatus) -> bool:
    return s.stage is Stage.conclusion and s.panel is not None


def posted(s: CaseStatus) -> bool:
    return len(s.shipments) == 2


def waiting(s: CaseStatus) -> bool:
    """Both letters delivered, both dispute windows running."""
    return (
        s.stage is Stage.archiving
        and len(s.deliveries) == 2
        and all(d.dispute_window_ends for d in s.deliveries)
    )


class CaseDriver:
    def __init__(self, handle: WorkflowHandle[Any, CaseStatus], tally: Tally) -> None:
        self.handle = handle
        self.tally = tally

    async def status(self) -> CaseStatus:
        self.tally.queries += 1
        result: CaseStatus = await self.handle.query(AppraisalCase.status)
        return result

    async def until(self, ready: Callable[[CaseStatus], bool], timeout: float = 600) -> CaseStatus:
        """Poll the status query until the step is open (backing off to 0.2 s)."""
        pause, deadline = 0.02, time.monotonic() + timeout
        while True:
            status = await self.status()
            if ready(status):
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"case {self.handle.id} stuck in stage {status.stage.value}")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.2)

    async def update(self, method: Any, payload: Any, opened: Callable[[CaseStatus], bool]) -> str:
        """Send an update; a refusal while the step is not yet open is retried."""
        for attempt in itertools.count():
            began = time.perf_counter()
            try:
                answer = await self.handle.execute_update(method, payload)
            except WorkflowUpdateFailedError:
                if attempt >= RETRIES:
                    raise
                self.tally.refusals += 1
                await self.until(opened)
                continue  # the same event again: a refused one is not marked seen
            self.tally.updates.append(time.perf_counter() - began)
            return str(answer)
        raise AssertionError("unreachable")

    async def run(self) -> None:
        """Walk-in appraisal, opinions, sign-offs, conclusion, both letters delivered, then a
        party's re-appraisal request within the window: referred, and the case archives."""
        await self.until(booked)
        now = datetime.now(CHINA_TZ)
        await self.update(
            AppraisalCase.schedule_appraisal,
            ScheduleAppraisal(event_id=event_id("walk-in"), actor=CLERK, at=now, place="鉴定大厅"),
            booked,
        )
        attendance = AttendanceRecord(
            event_id=event_id("att"),
            actor=CLERK,
            status=Attendance.attended,
            identity_verified=True,
        )
        await self.update(AppraisalCase.record_attendance, attendance, booked)
        status = await self.until(deciding)
        assert status.panel is not None
        for member in status.panel.members:
            opinion = ExpertOpinion(
                event_id=event_id("op"),
                actor=member.expert_id,
                expert_id=member.expert_id,
                outcome=GRADE_7,
            )
            await self.update(AppraisalCase.record_opinion, opinion, deciding)
        for layer, (staff, name) in SIGNERS.items():
            signoff = ReviewSignoff(
                event_id=event_id("rv"), actor=staff, layer=layer, approve=True, signer=name
            )
            await self.update(AppraisalCase.sign_off_review, signoff, deciding)
        decision = ConclusionDecision(
            event_id=event_id("d"),
            actor=COMMITTEE,
            outcome=GRADE_7,
            findings="右膝关节活动度丧失约50%",
            clause="5.7.2.10",
        )
        await self.update(AppraisalCase.issue_conclusion, decision, deciding)
        status = await self.until(posted)
        for shipment in status.shipments:
            event = PostalEvent(
                event_id=f"ems-{shipment.waybill_no}",
                actor="ems-webhook",
                waybill_no=shipment.waybill_no,
                status=PostalStatus.delivered,
                occurred_at=datetime.now(CHINA_TZ),
                signer="本人",
            )
            await self.update(AppraisalCase.report_postal_event, event, posted)
        await self.until(waiting)
        request = ReAppraisalRequest(
            event_id=event_id("ra"),
            actor=CLERK,
            requested_by=Recipient.employer,
            reason="认为伤残等级评定偏高",
        )
        await self.update(AppraisalCase.request_re_appraisal, request, waiting)
        await self.handle.result()


async def drive_case(client: Client, case_id: str, tally: Tally) -> None:
    began = time.perf_counter()
    handle = await start_case(client, application(), case_id, CASE_QUEUE)
    await CaseDriver(handle, tally).run()
    tally.latencies.append(time.perf_counter() - began)


async def drive_script(
    client: Client,
    workflow_id: str,
    script: list[baseline.Op],
    inputs: list[dict[str, Any]],
    start_size: int,
    tally: Tally,
) -> None:
    """A baseline case: start, then its updates and signals in the script's order."""
    began = time.perf_counter()
    handle = await client.start_workflow(
        baseline.WORKFLOW,
        args=[script, "x" * start_size],
        id=workflow_id,
        task_queue=BASELINE_QUEUE,
    )
    updates = 0
    for sent in inputs:
        if sent["kind"] == "update":
            await until_waiting(handle, updates, tally)
            t = time.perf_counter()
            await handle.execute_update("step", args=[updates, "x" * sent["size"]])
            tally.updates.append(time.perf_counter() - t)
            updates += 1
        else:
            await handle.signal("event", "x" * sent["size"])
    await handle.result()
    tally.latencies.append(time.perf_counter() - began)


async def until_waiting(handle: WorkflowHandle[Any, Any], n: int, tally: Tally) -> None:
    """Poll the script's `waiting` query until it waits for update `n` (backing off as the
    case's driver does)."""
    pause = 0.02
    while True:
        tally.queries += 1
        if await handle.query("waiting", result_type=int) == n:
            return
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.2)


async def end_referrals(client: Client, ids: list[str]) -> None:
    """The provincial cases (and the baselines' stand-ins) wait for ever: ended after a batch."""

    async def end(workflow_id: str) -> None:
        with contextlib.suppress(RPCError):  # none was started (or it ended)
            await client.get_workflow_handle(f"{workflow_id}-SD").terminate("bench over")

    await asyncio.gather(*(end(i) for i in ids))


async def bounded(concurrency: int, jobs: list[Callable[[], Awaitable[None]]]) -> float:
    """Run the jobs, `concurrency` at a time; the wall time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await job()

    began = time.perf_counter()
    await asyncio.gather(*(one(job) for job in jobs))
    return time.perf_counter() - began


async def start_waiting(client: Client, ids: list[str]) -> None:
    """Start cases and leave them: each books its appraisal day (in the future) and waits."""
    gate = asyncio.Semaphore(10)

    async def one(case_id: str) -> None:
        async with gate:
            await start_case(client, application(), case_id, CASE_QUEUE)

    await asyncio.gather(*(one(i) for i in ids))
    # The last one booked: the step's cases have (nearly all) settled into waiting.
    last = client.get_workflow_handle(ids[-1], result_type=CaseStatus)
    await CaseDriver(last, Tally()).until(booked, timeout=600)
