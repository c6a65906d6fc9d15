"""One case from application to sealed archive under the time-skipping server, with the real
activities (PostgreSQL, postal emulator)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from temporalio.client import WorkflowUpdateFailedError

from schemas.events import ConclusionDecision, ExpertOpinion
from schemas.outcome import Outcome, Verdict
from schemas.steps import Stage
from tests.conftest import CaseEnv
from tests.helpers import Driver, example

GRADE_8 = Outcome(verdict=Verdict.grade_8)


async def test_case_runs_through_all_five_stages(case_env: CaseEnv, db_pool: asyncpg.Pool) -> None:
    async with case_env() as env:
        case = await Driver.start(env, example("initial_complete"))
        await case.attend()
        await case.conclude(GRADE_8)
        final = await case.deliver()
    case_id = case.handle.id

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
    assert final.closed_reason == "delivered" and final.policy_version == "2025-55.1"
    assert all(s.status == "delivered" for s in final.shipments)
    assert final.archive_sha256 and len(final.archive_sha256) == 64

    kinds = [
        r["kind"]
        for r in await db_pool.fetch(
            "SELECT kind FROM case_events WHERE case_id = $1 ORDER BY id", case_id
        )
    ]
    assert kinds[:3] == ["application.received", "stage.entered", "policy.captured"]
    assert kinds.count("opinion.recorded") == 3
    assert kinds.count("letter.sent") == 2 and kinds.count("postal.delivered") == 2
    assert (
        kinds.index("milestone.site_appraisal_done")
        < kinds.index("conclusion.issued")
        < kinds.index("letter.sent")
    )
    assert kinds[-1] == "case.archived"
    row = await db_pool.fetchrow("SELECT * FROM cases WHERE case_id = $1", case_id)
    assert row["stage"] == "archived" and row["outcome"] == "grade_8" and not row["open"]
    assert all(
        row[c]
        for c in (
            "acceptance_at",
            "organizing_at",
            "conclusion_at",
            "delivery_at",
            "complete_at",
            "site_done_at",
        )
    )
    archive = await db_pool.fetchrow("SELECT sha256 FROM archives WHERE case_id = $1", case_id)
    assert archive["sha256"] == final.archive_sha256
    outbox = {
        r["message_key"]
        for r in await db_pool.fetch("SELECT message_key FROM outbox WHERE case_id = $1", case_id)
    }
    assert outbox == {"appointment.notice:1", "benefits_agency.copy"}
    unsent = await db_pool.fetchval(
        "SELECT count(*) FROM outbox WHERE case_id = $1 AND sent_at IS NULL", case_id
    )
    assert unsent == 0


async def test_opinion_and_conclusion_validators(case_env: CaseEnv) -> None:
    async with case_env() as env:
        case = await Driver.start(env, example("initial_complete"))
        status = await case.attend()
        assert status.panel is not None
        member = status.panel.members[0].expert_id

        async def refused(name: str, payload: Any) -> str:
            with pytest.raises(WorkflowUpdateFailedError) as failed:
                await case.update(name, payload)
            return str(failed.value.cause)

        early = ConclusionDecision(event_id="d-early", actor="committee", outcome=GRADE_8)
        assert "未录入意见" in await refused("issue_conclusion", early)
        stranger = ExpertOpinion(event_id="o-x", actor="x", expert_id="EXP-999", outcome=GRADE_8)
        assert "不是本案专家组成员" in await refused("record_opinion", stranger)
        off_scale = ExpertOpinion(
            event_id="o-y",
            actor=member,
            expert_id=member,
            outcome=Outcome(verdict=Verdict.major_loss),
        )
        assert "grade_1" in await refused("record_opinion", off_scale)
        first = ExpertOpinion(event_id="o-1", actor=member, expert_id=member, outcome=GRADE_8)
        assert "recorded (1/3)" in await case.update("record_opinion", first)
        # The same event again is ignored; a second opinion from the same expert is refused.
        assert "duplicate" in await case.update("record_opinion", first)
        again = first.model_copy(update={"event_id": "o-2"})
        assert "已录入意见" in await refused("record_opinion", again)
        await case.handle.terminate("test over")
