"""The case core under a world that does not cooperate: a case number used again, events sent
at once and twice, a courier that refuses letters, bad input, a bad deploy."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import cast

import asyncpg
import httpx
import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowUpdateStage
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.postal import PostalActivities
from infra.settings import Settings
from schemas.application import Address, MaterialKind
from schemas.events import (
    AddressCorrection,
    Attendance,
    AttendanceRecord,
    Reschedule,
    ScheduleAppraisal,
    SupplementItem,
    SupplementNotice,
)
from schemas.steps import LetterRequest, Recipient, Stage
from schemas.vocabulary import CloseReason
from tests.conftest import TASK_QUEUE, CaseEnv
from tests.helpers import (
    Driver,
    china,
    deadline,
    example,
    failure_chain,
    new_id,
    refused,
)
from worker import activities as worker_activities
from workflows.case import AppraisalCase

MONDAY = china(2026, 10, 12)


async def footprint(db_pool: asyncpg.Pool, case_id: str) -> dict[str, object]:
    """Everything PostgreSQL holds of a case."""
    row = await db_pool.fetchrow("SELECT * FROM cases WHERE case_id = $1", case_id)
    counts = {
        table: await db_pool.fetchval(f"SELECT count(*) FROM {table} WHERE case_id = $1", case_id)
        for table in ("case_events", "session_bookings", "documents", "outbox", "panel_draws")
    }
    return {"case": dict(row or {}), **counts}


async def test_a_closed_case_number_started_again_is_refused_and_untouched(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    async with case_env(MONDAY) as env:
        first = await Driver.start(env, example("re_appraisal_ineligible"))
        assert (await first.result()).stage is Stage.archived
        before = await footprint(db_pool, first.handle.id)
        # The Web UI allows a new run under the id of a closed workflow.
        second = await Driver.start(env, example("illness"), case_id=first.handle.id)
        with pytest.raises(WorkflowFailureError) as failed:
            await second.result()
    error = failed.value.cause
    assert isinstance(error, ApplicationError) and error.type == "CaseNumberTaken"
    assert first.handle.id in error.message and "已归档" in error.message
    assert "archived" in error.message and "appraisal number" in error.message
    assert await footprint(db_pool, first.handle.id) == before


async def test_the_same_reschedule_sent_three_times_at_once_applies_once(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        await case.until(lambda s: s.appointment is not None)
        request = Reschedule(event_id=new_id("r"), actor="W0101", reason="住院复查")
        answers = await asyncio.gather(
            *(case.update(AppraisalCase.reschedule, request) for _ in range(3))
        )
        applied = [a for a in answers if not a.startswith("重复事件")]
        assert len(applied) == 1 and "moved 5 days" in applied[0]
        assert all(a.endswith(applied[0]) for a in answers)  # repeats carry the first answer
        status = await case.status()
        assert status.deadline_shift_days == 5
        assert deadline(status, "conclusion").due_on.isoformat() == "2026-12-16"
        kinds = await db_pool.fetch(
            "SELECT kind FROM case_events WHERE case_id = $1 AND kind LIKE 'appointment.%'"
            " ORDER BY id",
            case.handle.id,
        )
        assert [k["kind"] for k in kinds] == [
            "appointment.booked",
            "appointment.rescheduled",
            "appointment.booked",
        ]
        await case.handle.terminate("test over")


async def test_different_reschedules_at_once_apply_one_after_the_other(
    case_env: CaseEnv,
) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        await case.until(lambda s: s.appointment is not None)
        requests = [
            Reschedule(event_id=new_id("r"), actor="W0101", reason=f"第{n}次改期") for n in (1, 2)
        ]
        answers = await asyncio.gather(
            *(case.update(AppraisalCase.reschedule, r) for r in requests)
        )
        # 15 Oct -> 20 Oct -> 22 Oct: each moves from where the other left the appointment.
        assert sorted(answers) == sorted(
            [
                "rescheduled to 2026-10-20 09:00 北京时间; conclusion deadline moved 5 days",
                "rescheduled to 2026-10-22 09:00 北京时间; conclusion deadline moved 2 days",
            ]
        )
        status = await case.status()
        assert status.deadline_shift_days == 7
        assert status.appointment and status.appointment.starts_at.isoformat().startswith(
            "2026-10-22T09:00:00+08:00"
        )
        await case.handle.terminate("test over")


async def test_two_notices_at_once_one_is_issued_the_other_refused(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_incomplete"))
        await case.until(lambda s: bool(s.deadlines))
        items = [
            SupplementItem(kind=MaterialKind.medical_records),
            SupplementItem(kind=MaterialKind.injury_determination),
        ]
        notices = [
            SupplementNotice(event_id=new_id("n"), actor="W0101", items=items) for _ in range(2)
        ]
        outcomes = await asyncio.gather(
            *(case.update(AppraisalCase.issue_supplement_notice, n) for n in notices),
            return_exceptions=True,
        )
        issued = [o for o in outcomes if isinstance(o, str)]
        assert len(issued) == 1 and "materials due by" in issued[0]
        refusal = failure_chain(next(o for o in outcomes if isinstance(o, BaseException)))
        assert "一次性告知已发出" in refusal
        rows = await db_pool.fetch(
            "SELECT message_key FROM outbox WHERE case_id = $1 AND message_key LIKE 'supplement%'",
            case.handle.id,
        )
        assert [r["message_key"] for r in rows] == ["supplement.notice"]
        await case.handle.terminate("test over")


async def test_a_walk_in_booking_during_the_first_booking_is_kept(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        await case.until(lambda s: s.panel is not None)  # the first booking may still run
        walk_in = ScheduleAppraisal(
            event_id=new_id("s"), actor="W0101", at=china(2026, 10, 13, 14), place="鉴定大厅"
        )
        assert "2026-10-13 14:00 北京时间" in await case.update(
            AppraisalCase.schedule_appraisal, walk_in
        )
        status = await case.status()
        assert status.appointment and status.appointment.place == "鉴定大厅"
        booked = await db_pool.fetch(
            "SELECT actor FROM case_events WHERE case_id = $1 AND kind = 'appointment.booked'"
            " ORDER BY id",
            case.handle.id,
        )
        assert [b["actor"] for b in booked] == ["system", "W0101"]  # the clerk's came last
        await case.handle.terminate("test over")


async def test_a_booking_sent_with_attendance_never_rebooks_a_held_appraisal(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        status = await case.until(lambda s: s.appointment is not None)
        assert status.appointment is not None
        await case.skip_to(status.appointment.starts_at)
        attended = AttendanceRecord(
            event_id=new_id("a"), actor="W0101", status=Attendance.attended, identity_verified=True
        )
        later = ScheduleAppraisal(
            event_id=new_id("s"), actor="W0101", at=china(2026, 10, 20, 9), place="鉴定大厅"
        )
        # The attendance is accepted first; the booking sent meanwhile is checked again once
        # the attendance was applied and the case moved on to the conclusion, and refused.
        attending = await case.handle.start_update(
            AppraisalCase.record_attendance, attended, wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        refusal = await refused(case, AppraisalCase.schedule_appraisal, later)
        assert "组织鉴定阶段" in refusal and "stage conclusion" in refusal
        assert "attended" in cast(str, await attending.result())
        events = [
            r["kind"]
            for r in await db_pool.fetch(
                "SELECT kind FROM case_events WHERE case_id = $1 ORDER BY id", case.handle.id
            )
        ]
        attended_at = events.index("attendance.attended")
        assert "appointment.booked" not in events[attended_at:]
        await case.until(lambda s: s.stage is Stage.conclusion)
        await case.handle.terminate("test over")


@pytest.mark.parametrize("answer", ["400", "409"])
async def test_a_courier_refusal_is_escalated_and_the_corrected_letter_goes_out(
    answer: str, case_env: CaseEnv, db_pool: asyncpg.Pool, postal_faults, postal_url: str
) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        await case.attend()
        if answer == "400":
            await postal_faults.set(reject_next=1)
        else:  # another letter already holds this case's key for the worker
            letter = LetterRequest(
                case_id=case.handle.id,
                stage=Stage.delivery,
                recipient=Recipient.worker,
                name="别人",
                mobile=None,
                address=Address(text="山东省济宁市任城区某路1号", postal_code="272000"),
                document_ref="other",
            )
            async with httpx.AsyncClient(base_url=postal_url) as http:
                await PostalActivities(http).send_letter(letter)
        await case.decide()
        # One letter refused and escalated, the other in the post.
        status = await case.until(
            lambda s: (
                any("correct_address" in a for a in s.pending_actions) and len(s.shipments) == 1
            )
        )
        assert status.stage is Stage.delivery
        described = await case.handle.describe()
        assert described.status is WorkflowExecutionStatus.RUNNING
        escalated = await db_pool.fetchval(
            "SELECT count(*) FROM outbox WHERE case_id = $1 AND channel = 'supervisor'"
            " AND message_key LIKE 'letter.rejected:%'",
            case.handle.id,
        )
        assert escalated == 1
        refused_for = next(a for a in status.pending_actions if "correct_address" in a)
        recipient = Recipient.worker if "worker" in refused_for else Recipient.employer
        correction = AddressCorrection(
            event_id=new_id("addr"),
            actor="W0101",
            recipient=recipient,
            address=Address(text="山东省济宁市任城区建设路66号", postal_code="272000"),
            reason="核实后更正地址",
        )
        assert "attempt 2" in await case.update(AppraisalCase.correct_address, correction)
        final = await case.deliver()
    assert final.closed is CloseReason.delivered and len(final.shipments) == 2
    kinds = [
        r["kind"]
        for r in await db_pool.fetch(
            "SELECT kind FROM case_events WHERE case_id = $1 ORDER BY id", case.handle.id
        )
    ]
    assert kinds.count("letter.rejected") == 1 and kinds.count("address.corrected") == 1
    assert kinds.count("letter.sent") == 2


async def test_a_validation_error_after_the_start_fails_a_task_not_the_case(
    case_env: CaseEnv, db_pool: asyncpg.Pool, database_url: str, postal_url: str
) -> None:
    """A model that fails to validate inside workflow code (here: an activity of a bad deploy
    answering in a shape the workflow does not expect) fails the workflow task, which Temporal
    retries; the case stays open for a fixed deploy instead of ending Failed."""
    config = Settings(database_url=database_url, postal_url=postal_url, task_queue="bad-deploy")

    @activity.defn(name="load_policy")
    async def load_policy() -> list[str]:
        return ["not", "a", "policy"]

    async with case_env(MONDAY) as env, httpx.AsyncClient(base_url=postal_url) as http:
        good = worker_activities(db_pool, http, config)
        broken = [load_policy if fn.__name__ == "load_policy" else fn for fn in good]
        async with Worker(
            env.client, task_queue="bad-deploy", workflows=[AppraisalCase], activities=broken
        ):
            case = await Driver.start(env, example("initial_complete"), task_queue="bad-deploy")
            event = await wait_for_event(case, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
            failure = event.workflow_task_failed_event_attributes.failure
            assert "DeadlinePolicy" not in str(event)  # stored encrypted, as every message
            error = await env.client.data_converter.decode_failure(failure)
            assert "DeadlinePolicy" in failure_chain(error)
            assert (await case.handle.describe()).status is WorkflowExecutionStatus.RUNNING
            await case.handle.terminate("test over")


async def wait_for_event(
    case: Driver, kind: EventType.ValueType, timeout: float = 30
) -> HistoryEvent:
    """Poll the history for an event of `kind`."""

    async def poll() -> HistoryEvent:
        while True:
            history = await case.handle.fetch_history()
            if found := [e for e in history.events if e.event_type == kind]:
                return found[0]
            await asyncio.sleep(0.1)

    return await asyncio.wait_for(poll(), timeout)


async def test_conclude_answers_at_once_when_the_letter_cannot_be_issued(
    case_env: CaseEnv, db_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decision is recorded and answered; the letter, long work, runs in the stage (on the
    letters queue): with the font missing it is escalated, and once the font is back the case
    goes on by itself."""
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        await case.attend()
        monkeypatch.setenv("CJK_FONT", "/nonexistent/font.ttf")
        await case.decide()  # asserts the answer: decided, the letter being issued
        status = await case.until(lambda s: "结论书无法出具" in "".join(s.pending_actions))
        assert status.stage is Stage.conclusion and status.conclusion_document is None
        assert "CJK_FONT" in status.pending_actions[0]
        escalated = await db_pool.fetchval(
            "SELECT count(*) FROM outbox WHERE case_id = $1 AND message_key = 'letter.failed'"
            " AND channel = 'supervisor'",
            case.handle.id,
        )
        assert escalated == 1
        monkeypatch.delenv("CJK_FONT")
        await case.skip_to(await env.get_current_time() + timedelta(minutes=10))
        status = await case.posted()
        assert status.conclusion_document == f"{case.handle.id}/conclusion-letter"
        # A new case's letter, each attempt, went to the letters workers, not the case's queue.
        history = await case.handle.fetch_history()
        queues = [
            e.activity_task_scheduled_event_attributes.task_queue.name
            for e in history.events
            if e.activity_task_scheduled_event_attributes.activity_type.name
            == "issue_conclusion_letter"
        ]
        assert len(queues) == 2 and set(queues) == {f"{TASK_QUEUE}-letters"}, queues
        await case.handle.terminate("test over")


async def test_every_time_a_person_reads_is_china_time(case_env: CaseEnv) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        status = await case.until(lambda s: s.appointment is not None)
        assert status.appointment is not None
        assert status.pending_actions == [
            "record_attendance at 2026-10-15 09:00 北京时间 " + status.appointment.place
        ]
        data = json.loads(status.model_dump_json())
        times = [data["appointment"]["starts_at"], *(s["entered_at"] for s in data["stages"])]
        times += [d["due_at"] for d in data["deadlines"]]
        assert times and all(t.endswith("+08:00") for t in times)
        metadata = await case.handle.query("__temporal_workflow_metadata")
        details = metadata.current_details  # what the UI's Current Details panel shows
        assert "2026-10-15 09:00 北京时间" in details and "初次鉴定" in details
        await case.handle.terminate("test over")
