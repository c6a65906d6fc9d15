"""Helpers for driving a case in tests, the way the site and the post office would."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from stdnum.cn import ric, uscc
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    DescribeWorkflowExecutionResponse,
)
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.workflow import UpdateMethodMultiParam

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
    ReviewLayer,
    ReviewSignoff,
)
from schemas.outcome import Outcome, Verdict
from schemas.status import CaseStatus, Deadline
from schemas.steps import Stage
from schemas.vocabulary import ClockName
from workflows.case import AppraisalCase

GRADE_8 = Outcome(verdict=Verdict.grade_8)
# A named member of each review group signs under their own staff id (issue #8).
SIGNERS = {
    ReviewLayer.examination: ("S0101", "孙立新"),
    ReviewLayer.chief_examination: ("S0102", "周海燕"),
    ReviewLayer.recheck: ("S0103", "吴建华"),
}
FINDINGS = "右膝关节活动度丧失约50%，右下肢肌力4级"  # 伤情 as the panel found it
CLAUSE = "5.8.2.14"  # GB/T 16180-2014: the grading clause the letter prints
# An update handler of the case. (The SDK types a described async handler as returning its
# coroutine, hence Any and the cast in Driver.update.)
CaseUpdate = UpdateMethodMultiParam[[AppraisalCase, Any], Any]
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def example(name: str, fresh_worker: bool = True) -> AppraisalApplication:
    return AppraisalApplication.model_validate(example_json(name, fresh_worker))


def green_on_site() -> AppraisalApplication:
    """The green-channel example, appraised at the centre (its file is a home visit)."""
    return example("green_channel").model_copy(
        update={"mode": "on_site", "mobility_impaired": False}
    )


def example_json(name: str, fresh_worker: bool = False) -> dict[str, Any]:
    """An examples/ application; `fresh_worker` gives it a worker of its own, so tests sharing
    one database never look like duplicate applications of each other."""
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    if fresh_worker:
        data["worker"]["citizen_id"] = random_citizen_id(data["worker"]["citizen_id"][6:14])
    return data


def random_credit_code() -> str:
    body = "91370811MA" + "".join(random.choices("0123456789ABCDEFGHJKLMNPQRTUWXY", k=7))
    return body + uscc.calc_check_digit(body + "0")


# Tests share one database per run and leave cases open, so two workers must never share an
# ID: a counter, not chance (1000 random sequence numbers collide within one run).
_WORKERS = itertools.count(random.randrange(1000))


def random_citizen_id(birth: str) -> str:
    """A valid ID born on `birth` (YYYYMMDD), or a later day once 1000 are used."""
    n = next(_WORKERS)
    born = datetime.strptime(birth, "%Y%m%d") + timedelta(days=n // 1000)
    body = f"370811{born:%Y%m%d}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def new_id(prefix: str = "T") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def wait_for(
    handle: WorkflowHandle[Any, Any], predicate: Callable[[CaseStatus], bool], timeout: float = 30
) -> CaseStatus:
    """Poll the status query until `predicate(status)` holds; fails after `timeout` seconds."""

    async def poll() -> CaseStatus:
        while True:
            status: CaseStatus = await handle.query(AppraisalCase.status)
            if predicate(status):
                return status
            await asyncio.sleep(0.05)

    try:
        return await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        raise AssertionError(f"case {handle.id} stuck: {await stuck(handle)}") from None


async def describe_raw(handle: WorkflowHandle[Any, Any]) -> DescribeWorkflowExecutionResponse:
    """The raw describe: the time-skipping server keeps an unset Datetime search attribute as
    null, which the client's describe() cannot decode (the dev server drops it)."""
    return await handle._client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=handle._client.namespace, execution=WorkflowExecution(workflow_id=handle.id)
        )
    )


async def search_attributes(handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    """The case's search attributes by name; an unset one is absent."""
    raw = await describe_raw(handle)
    fields = raw.workflow_execution_info.search_attributes.indexed_fields
    found = {
        name: json.loads(payload.data)
        for name, payload in fields.items()
        if payload.metadata.get("encoding") != b"binary/null"  # unset (a closed case's)
    }
    return {name: value for name, value in found.items() if value is not None}


async def stuck(handle: WorkflowHandle[Any, Any]) -> str:
    """Where a case waits: its stage and pending activities with their last failure."""
    status: CaseStatus = await handle.query(AppraisalCase.status)
    raw = await describe_raw(handle)
    pending = [
        f"{a.activity_type.name} attempt {a.attempt} ({a.last_failure.message or 'no failure'})"
        for a in raw.pending_activities
    ]
    return f"stage {status.stage.value}, pending activities {pending or 'none'}"


async def wait_for_stage(
    handle: WorkflowHandle[Any, Any], stage: Stage, timeout: float = 30
) -> CaseStatus:
    return await wait_for(handle, lambda s: s.stage is stage, timeout)


# How close after a skip a timer may fall before the skip goes past it.
TIMER_GUARD = timedelta(minutes=2)


async def timer_due_soon(
    env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any]
) -> datetime | None:
    """The due time of the case's next timer when it falls within TIMER_GUARD of server time.

    Between skips the test server's clock runs at real pace, and a timer chained to one that
    fired at the end of a skip (a tracking poll every few hours, skipped a whole day) falls due
    just after the skip lands. A signal sent then cancels it while it fires: the time-skipping
    server refuses that workflow task ("invalid history builder state for action",
    temporalio/sdk-java#3088) and never sends it again, so the case would hang. A real server
    takes it. Skips therefore go past such a timer."""
    now = await env.get_current_time()
    pending: dict[str, datetime] = {}
    async for event in handle.fetch_history_events():
        if event.HasField("timer_started_event_attributes"):
            started = event.timer_started_event_attributes
            fire = (
                event.event_time.ToDatetime(tzinfo=UTC)
                + started.start_to_fire_timeout.ToTimedelta()
            )
            pending[started.timer_id] = fire
        elif event.HasField("timer_fired_event_attributes"):
            pending.pop(event.timer_fired_event_attributes.timer_id, None)
        elif event.HasField("timer_canceled_event_attributes"):
            pending.pop(event.timer_canceled_event_attributes.timer_id, None)
    soon = [due for due in pending.values() if due - now < TIMER_GUARD]
    return max(soon) if soon else None


class Driver:
    """One case on a time-skipping server: start it, skip time, send its events."""

    def __init__(self, env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any]) -> None:
        self.env = env
        self.handle = handle

    @classmethod
    async def start(
        cls,
        env: WorkflowEnvironment,
        application: AppraisalApplication,
        case_id: str | None = None,
        task_queue: str = "appraisal-test",
    ) -> Driver:
        handle = await start_case(env.client, application, case_id or new_id(), task_queue)
        return cls(env, handle)

    @classmethod
    async def in_the_post(
        cls, env: WorkflowEnvironment, application: AppraisalApplication | None = None
    ) -> tuple[Driver, CaseStatus]:
        """A case appraised and concluded (grade 8): both letters in the post."""
        case = await cls.start(env, application or example("initial_complete"))
        await case.attend()
        return case, await case.conclude()

    async def status(self) -> CaseStatus:
        result: CaseStatus = await self.handle.query(AppraisalCase.status)
        return result

    async def result(self) -> CaseStatus:
        final: CaseStatus = await self.handle.result()
        return final

    async def until(self, predicate: Callable[[CaseStatus], bool]) -> CaseStatus:
        return await wait_for(self.handle, predicate)

    async def skip_to(self, instant: datetime) -> None:
        """Let server time run to `instant`; timers due before it fire on the way, and so do
        the case's timers due within TIMER_GUARD after it (see `timer_due_soon`)."""
        left = (instant - await self.env.get_current_time()).total_seconds()
        if left > 0:
            await self.env.sleep(left)
        while self.env.supports_time_skipping and (
            due := await timer_due_soon(self.env, self.handle)
        ):
            ahead = (due - await self.env.get_current_time()).total_seconds()
            await self.env.sleep(max(ahead, 0) + 1)

    async def update(self, method: CaseUpdate, payload: Any) -> str:
        """Send an update by its typed method reference; its answer."""
        return cast(str, await self.handle.execute_update(method, payload))

    async def attend(self) -> CaseStatus:
        await self.attended()
        return await self.until(lambda s: s.stage is Stage.conclusion)

    async def attended(self) -> CaseStatus:
        """On the appointment day, the worker attended: recorded, and the case as it stood
        before (a lean case answers once it has moved on to the conclusion)."""
        status = await self.until(lambda s: s.appointment is not None and s.attendance is None)
        assert status.appointment is not None
        await self.skip_to(status.appointment.starts_at)
        await self.update(
            AppraisalCase.record_attendance,
            AttendanceRecord(
                event_id=new_id("att"),
                actor="W0101",
                status=Attendance.attended,
                identity_verified=True,
            ),
        )
        return status

    async def decide(self, outcome: Outcome = GRADE_8) -> CaseStatus:
        """Every panel member's opinion, the three sign-offs, the committee's decision."""
        status = await self.until(lambda s: s.stage is Stage.conclusion and s.panel is not None)
        assert status.panel is not None
        for member in status.panel.members:
            opinion = ExpertOpinion(
                event_id=new_id("op"),
                actor=member.expert_id,
                expert_id=member.expert_id,
                outcome=outcome,
            )
            await self.update(AppraisalCase.record_opinion, opinion)
        await self.review()
        decided = decision(outcome)
        assert "being issued" in await self.update(AppraisalCase.issue_conclusion, decided)
        return status

    async def conclude(self, outcome: Outcome = GRADE_8) -> CaseStatus:
        """Opinions, reviews and the decision; then both letters are in the post."""
        await self.decide(outcome)
        return await self.posted()

    async def posted(self) -> CaseStatus:
        """Both letters in the post and the delivery clock running."""
        return await self.until(
            lambda s: len(s.shipments) == 2 and any(d.name == "delivery" for d in s.deadlines)
        )

    async def review(self) -> None:
        """The three review layers sign off in order."""
        for layer in ReviewLayer:
            await self.update(AppraisalCase.sign_off_review, signoff(layer))

    async def sign(self, status: CaseStatus | None = None) -> CaseStatus:
        """Each recipient's latest letter (of `status`, default: both letters once posted)
        signed for now (server time), by the EMS webhook."""
        status = status or await self.posted()
        signed_at = await self.env.get_current_time()
        latest = {s.recipient: s.waybill_no for s in status.shipments}  # posted in order
        for waybill_no in latest.values():
            await self.handle.signal(
                AppraisalCase.postal_event,
                PostalEvent(
                    event_id=f"ems-{waybill_no}",
                    actor="ems-webhook",
                    waybill_no=waybill_no,
                    status=PostalStatus.delivered,
                    occurred_at=signed_at,
                    signer="本人",
                ),
            )
        return status

    async def deliver(self) -> CaseStatus:
        """Both letters signed for now (server time); the case archives once the dispute
        windows have run. Time is skipped exactly to their end: result() would let the
        test server run on for years after the case completed."""
        await self.sign()
        windows = {ClockName.dispute_window_worker, ClockName.dispute_window_employer}
        status = await self.until(
            lambda s: s.stage is Stage.archived or windows <= {d.name for d in s.deadlines}
        )
        if status.stage is not Stage.archived:
            await self.skip_to(max(d.due_at for d in status.deadlines if d.name in windows))
        await self.until(lambda s: s.stage is Stage.archived)
        with self.env.auto_time_skipping_disabled():
            result: CaseStatus = await self.handle.result()
        return result


G7, G8, G9 = (Outcome(verdict=Verdict(f"grade_{n}")) for n in (7, 8, 9))


def opinion(expert: str, outcome: Outcome) -> ExpertOpinion:
    return ExpertOpinion(event_id=new_id("op"), actor=expert, expert_id=expert, outcome=outcome)


def signoff(layer: ReviewLayer, approve: bool = True, reason: str | None = None) -> ReviewSignoff:
    staff_id, name = SIGNERS[layer]
    return ReviewSignoff(
        event_id=new_id("rv"),
        actor=staff_id,
        layer=layer,
        approve=approve,
        reason=reason,
        signer=name,
    )


def decision(outcome: Outcome) -> ConclusionDecision:
    """The committee's decision with the panel's findings and, on a graded outcome, the clause."""
    graded = outcome.verdict not in {Verdict.below_grade, Verdict.below_standard}
    return ConclusionDecision(
        event_id=new_id("d"),
        actor="C0201",  # a committee member's staff id
        outcome=outcome,
        findings=FINDINGS,
        clause=CLAUSE if graded else None,
    )


def deadline(status: CaseStatus, name: str) -> Deadline:
    found = [d for d in status.deadlines if d.name == name]
    assert found, f"no deadline {name} in {[d.name for d in status.deadlines]}"
    return found[0]


def china(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CHINA_TZ)


async def refused(driver: Driver, method: CaseUpdate, payload: Any) -> str:
    """The reason an update was refused (fails the test when it was accepted)."""
    try:
        await driver.update(method, payload)
    except WorkflowUpdateFailedError as failed:
        return failure_chain(failed)
    raise AssertionError(f"update {method} was accepted")


def failure_chain(error: BaseException | None) -> str:
    """Every message down a failure's cause chain (a payload refused while decoding says
    "Failed decoding arguments" and names the field in its cause)."""
    messages = []
    while error is not None:
        messages.append(str(error))
        error = getattr(error, "cause", None) or error.__cause__
    return " <- ".join(messages[1:] or messages)
