"""One case from application to sealed archive under the time-skipping server, with the real
activities (PostgreSQL, postal emulator)."""

from __future__ import annotations

import asyncpg

from schemas.outcome import Outcome, Verdict
from schemas.steps import Stage
from schemas.vocabulary import CloseReason
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
    assert final.closed is CloseReason.delivered and final.policy_version == "2025-55.4"
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
    # On time throughout: reminders to the case officer, never an escalation.
    assert {k for k in outbox if not k.startswith("deadline.reminder:")} == {
        "appointment.notice:1",
        "benefits_agency.copy",
    }
    unsent = await db_pool.fetchval(
        "SELECT count(*) FROM outbox WHERE case_id = $1 AND sent_at IS NULL", case_id
    )
    assert unsent == 0
