"""One case from application to sealed archive under the time-skipping server, with the real
activities (PostgreSQL, postal emulator)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from infra.settings import Settings
from schemas.events import ConclusionDecision, ExpertOpinion, PostalEvent, PostalStatus
from schemas.outcome import Outcome, Verdict
from schemas.status import CaseStatus
from schemas.steps import Stage
from tests.helpers import example, wait_for, wait_for_stage
from workflows.case import AppraisalCase

GRADE_8 = Outcome(verdict=Verdict.grade_8)


async def drive_to_archive(env: WorkflowEnvironment, task_queue: str) -> tuple[Any, CaseStatus]:
    case_id = f"TS-{uuid.uuid4().hex[:8]}"
    handle = await env.client.start_workflow(
        AppraisalCase.run, example("initial_complete"), id=case_id, task_queue=task_queue
    )
    status = await wait_for_stage(handle, Stage.conclusion)
    assert status.panel is not None and len(status.panel.members) == 3
    for i, member in enumerate(status.panel.members):
        outcome = GRADE_8 if i < 2 else Outcome(verdict=Verdict.grade_9)
        await handle.execute_update(
            AppraisalCase.record_opinion,
            ExpertOpinion(
                event_id=f"op-{i}",
                actor=member.expert_id,
                expert_id=member.expert_id,
                outcome=outcome,
            ),
        )
    await handle.execute_update(
        AppraisalCase.issue_conclusion,
        ConclusionDecision(event_id="decision-1", actor="committee", outcome=GRADE_8),
    )
    status = await wait_for(handle, lambda s: len(s.shipments) == 2)
    for shipment in status.shipments:
        await handle.signal(
            AppraisalCase.postal_event,
            PostalEvent(
                event_id=f"ems-{shipment.waybill_no}",
                actor="ems",
                waybill_no=shipment.waybill_no,
                status=PostalStatus.delivered,
                occurred_at=datetime.now(UTC),
                signer="本人",
            ),
        )
    return handle, await handle.result()


async def test_case_runs_through_all_five_stages(
    time_env: WorkflowEnvironment, time_worker: Settings, db_pool: asyncpg.Pool
) -> None:
    handle, final = await drive_to_archive(time_env, time_worker.task_queue)

    assert [s.stage for s in final.stages] == [
        Stage.acceptance,
        Stage.organizing,
        Stage.conclusion,
        Stage.delivery,
        Stage.archiving,
        Stage.archived,
    ]
    assert final.stage is Stage.archived
    assert final.conclusion == GRADE_8 and final.panel_majority == GRADE_8
    assert final.closed_reason == "delivered"
    assert all(s.status == "delivered" for s in final.shipments)
    assert final.archive_sha256 and len(final.archive_sha256) == 64

    kinds = [
        r["kind"]
        for r in await db_pool.fetch(
            "SELECT kind FROM case_events WHERE case_id = $1 ORDER BY id", handle.id
        )
    ]
    assert kinds[:2] == ["application.received", "stage.entered"]
    assert kinds.count("opinion.recorded") == 3
    assert kinds.count("letter.sent") == 2 and kinds.count("postal.delivered") == 2
    assert kinds.index("conclusion.issued") < kinds.index("letter.sent")
    assert kinds[-1] == "case.archived"
    row = await db_pool.fetchrow("SELECT * FROM cases WHERE case_id = $1", handle.id)
    assert row["stage"] == "archived" and row["outcome"] == "grade_8"
    assert all(row[f"{s}_at"] for s in ("acceptance", "organizing", "conclusion", "delivery"))
    archive = await db_pool.fetchrow("SELECT sha256 FROM archives WHERE case_id = $1", handle.id)
    assert archive["sha256"] == final.archive_sha256
    outbox = {
        r["message_key"]
        for r in await db_pool.fetch("SELECT message_key FROM outbox WHERE case_id = $1", handle.id)
    }
    assert outbox == {"appraisal.notice", "benefits_agency.copy"}


async def test_validators_refuse_wrong_events(
    time_env: WorkflowEnvironment, time_worker: Settings
) -> None:
    handle = await time_env.client.start_workflow(
        AppraisalCase.run,
        example("initial_complete"),
        id=f"TS-{uuid.uuid4().hex[:8]}",
        task_queue=time_worker.task_queue,
    )
    early = ConclusionDecision(event_id="d-early", actor="committee", outcome=GRADE_8)
    status = await wait_for_stage(handle, Stage.conclusion)
    assert status.panel is not None
    member = status.panel.members[0].expert_id

    async def refused(update: Any, payload: Any) -> str:
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await handle.execute_update(update, payload)
        return str(failed.value.cause)

    assert "未录入意见" in await refused(AppraisalCase.issue_conclusion, early)
    stranger = ExpertOpinion(event_id="o-x", actor="x", expert_id="EXP-999", outcome=GRADE_8)
    assert "不是本案专家组成员" in await refused(AppraisalCase.record_opinion, stranger)
    off_scale = ExpertOpinion(
        event_id="o-y", actor=member, expert_id=member, outcome=Outcome(verdict=Verdict.major_loss)
    )
    assert "grade_1" in await refused(AppraisalCase.record_opinion, off_scale)
    first = ExpertOpinion(event_id="o-1", actor=member, expert_id=member, outcome=GRADE_8)
    assert "recorded (1/3)" in await handle.execute_update(AppraisalCase.record_opinion, first)
    # The same event again is ignored, a second opinion from the same expert is refused.
    assert "duplicate" in await handle.execute_update(AppraisalCase.record_opinion, first)
    again = first.model_copy(update={"event_id": "o-2"})
    assert "已录入意见" in await refused(AppraisalCase.record_opinion, again)
    await handle.terminate("test over")
