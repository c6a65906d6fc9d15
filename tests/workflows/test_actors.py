"""Proven actors (issue #10): every decision names a roster member, an expert or a gateway
client whose role fits the step; anyone else is refused, the refusal recorded
(`request.refused`), and nothing else changes."""

from __future__ import annotations

import json

import asyncpg

from schemas.events import ExaminationOrder, ExaminationResults, ReviewLayer
from schemas.vocabulary import EventKind
from tests.conftest import CaseEnv
from tests.helpers import G8, Driver, china, decision, example, new_id, opinion, refused, signoff
from workflows.case import AppraisalCase

MONDAY = china(2026, 10, 12)
RETIRED = "S0198"  # a member of the examination group who left


async def refusals(pool: asyncpg.Pool, case_id: str) -> list[tuple[str, str, str]]:
    rows = await pool.fetch(
        "SELECT actor, data FROM case_events WHERE case_id = $1 AND kind = $2 ORDER BY seq",
        case_id,
        EventKind.request_refused.value,
    )
    return [(r["actor"], *(json.loads(r["data"])[k] for k in ("request", "reason"))) for r in rows]


async def test_only_a_fitting_actor_decides_and_every_refusal_is_recorded(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    await db_pool.execute(
        """INSERT INTO staff (staff_id, name, roles, active, retired_at)
           VALUES ($1, '退休组员', '{examination}', false, now()) ON CONFLICT DO NOTHING""",
        RETIRED,
    )
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        status = await case.attend()
        assert status.panel is not None
        a, b, *_ = [m.expert_id for m in status.panel.members]

        # An expert records only their own opinion.
        for_b = opinion(b, G8).model_copy(update={"actor": a})
        assert "expert's own id" in await refused(case, AppraisalCase.record_opinion, for_b)
        # The panel's order for examinations: a member or a clerk, not an outsider.
        order = ExaminationOrder(
            event_id=new_id("ex"), actor="EXP-999", hospital="济宁市第一人民医院", items=["CT"]
        )
        assert "不在工作人员名册中" in await refused(
            case, AppraisalCase.commission_examination, order
        )
        for member in [m.expert_id for m in status.panel.members]:
            await case.update(AppraisalCase.record_opinion, opinion(member, G8))
        before = await case.status()

        first = signoff(ReviewLayer.examination)
        wrong = {
            "S0102": "S0102 的角色为总检组",  # another layer's member
            "X9999": "X9999 不在工作人员名册中",  # unknown
            RETIRED: f"{RETIRED} 已离任",  # retired
            "W0101": "W0101 的角色为经办人员",  # a clerk
        }
        for actor, reason in wrong.items():
            answer = await refused(
                case, AppraisalCase.sign_off_review, first.model_copy(update={"actor": actor})
            )
            assert reason in answer and "面检组 (examination)" in answer
        by_clerk = decision(G8).model_copy(update={"actor": "W0101"})
        # The stage's rule first: the review is not done yet.
        assert "三级复核尚未完成" in await refused(case, AppraisalCase.issue_conclusion, by_clerk)

        after = await case.status()
        assert after.model_dump(exclude={"deadlines"}) == before.model_dump(exclude={"deadlines"})

        await case.review()
        clerk_decides = decision(G8).model_copy(update={"actor": "W0101"})
        reason = await refused(case, AppraisalCase.issue_conclusion, clerk_decides)
        assert "W0101 的角色为经办人员" in reason and "鉴定委员会委员 (committee)" in reason
        assert (await case.status()).conclusion is None
        assert "being issued" in await case.update(AppraisalCase.issue_conclusion, decision(G8))
        await case.handle.terminate("test over")

    recorded = await refusals(db_pool, case.handle.id)
    assert [(actor, request) for actor, request, _ in recorded] == [
        (a, "ExpertOpinion"),
        ("EXP-999", "ExaminationOrder"),
        ("S0102", "ReviewSignoff"),
        ("X9999", "ReviewSignoff"),
        (RETIRED, "ReviewSignoff"),
        ("W0101", "ReviewSignoff"),
        ("W0101", "ConclusionDecision"),
        ("W0101", "ConclusionDecision"),
    ]
    assert "鉴定委员会委员" in recorded[-1][2]


async def test_a_retired_clerk_is_refused_and_a_revoked_gateway_client_too(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    await db_pool.execute(
        """INSERT INTO staff (staff_id, name, roles, active, retired_at)
           VALUES ('W0199', '离任经办人', '{clerk}', false, now()) ON CONFLICT DO NOTHING"""
    )
    await db_pool.execute(
        """INSERT INTO gateway_clients (client_id, name, scopes, revoked_at)
           VALUES ('old-hospital', '济宁市第一人民医院', '{examinations}', now())
           ON CONFLICT DO NOTHING"""
    )
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        await case.attend()
        order = ExaminationOrder(
            event_id=new_id("ex"), actor="W0199", hospital="济宁市第一人民医院", items=["CT"]
        )
        assert "W0199 已离任" in await refused(case, AppraisalCase.commission_examination, order)
        ordered = order.model_copy(update={"event_id": new_id("ex"), "actor": "W0101"})
        assert "commissioned" in await case.update(AppraisalCase.commission_examination, ordered)
        results = ExaminationResults(
            event_id=new_id("r"),
            actor="old-hospital",
            summary="正常",
            hospital="济宁市第一人民医院",
        )
        reason = await refused(case, AppraisalCase.report_examination_results, results)
        assert "old-hospital 不在工作人员名册中" in reason and "scope examinations" in reason
        assert (await case.status()).pending_actions  # still waiting for the results
        await case.handle.terminate("test over")
