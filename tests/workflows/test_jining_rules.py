"""Rules of issue #8 that live in the case itself: the scale follows the kind of appraisal,
the applicant is who the role says, 就近办 is an illness pilot run with the province, the
green channel's grant is recorded, the materials checklist comes from the policy, and a clock
counted on the weekend-only fallback says so."""

from __future__ import annotations

import json

import asyncpg

from schemas.application import Cause, Specialty
from schemas.events import ConclusionDecision
from schemas.outcome import Outcome, SelfCare, Verdict
from tests.conftest import CaseEnv
from tests.helpers import G8, Driver, china, example, new_id, opinion, refused
from workflows.case import AppraisalCase

MONDAY = china(2026, 10, 12)
MAJOR_LOSS = Outcome(verdict=Verdict.major_loss)


async def test_an_illness_review_is_appraised_on_the_illness_scale(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    review = example("review")
    illness = review.injury.model_copy(update={"specialties": [Specialty.internal_medicine]})
    illness_review = review.model_copy(update={"cause": Cause.illness, "injury": illness})
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, illness_review)
        member = (await case.attend()).panel.members[0].expert_id  # type: ignore[union-attr]
        assert "complete_loss" in await refused(
            case, AppraisalCase.record_opinion, opinion(member, G8)
        )
        with_self_care = Outcome(verdict=Verdict.complete_loss, self_care=SelfCare.partial)
        assert "不评定生活自理障碍" in await refused(
            case, AppraisalCase.record_opinion, opinion(member, with_self_care)
        )
        for expert in [m.expert_id for m in (await case.status()).panel.members]:  # type: ignore[union-attr]
            await case.update(AppraisalCase.record_opinion, opinion(expert, MAJOR_LOSS))
        await case.review()
        wrong_basis = ConclusionDecision(
            event_id=new_id("d"), actor="committee", outcome=MAJOR_LOSS, basis="GB/T 16180-2014"
        )
        assert "劳社部发〔2002〕8号" in await refused(
            case, AppraisalCase.issue_conclusion, wrong_basis
        )
        decided = ConclusionDecision(event_id=new_id("d"), actor="committee", outcome=MAJOR_LOSS)
        await case.update(AppraisalCase.issue_conclusion, decided)
        status = await case.posted()
        assert status.conclusion == MAJOR_LOSS
        await case.handle.terminate("test over")
    issued = await db_pool.fetchval(
        "SELECT data::text FROM case_events WHERE case_id = $1 AND kind = 'conclusion.issued'",
        case.handle.id,
    )
    assert json.loads(issued)["basis"].startswith("劳社部发〔2002〕8号")


async def test_self_care_goes_with_a_disability_grade_only(case_env: CaseEnv) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        member = (await case.attend()).panel.members[0].expert_id  # type: ignore[union-attr]
        below = Outcome(verdict=Verdict.below_grade, self_care=SelfCare.partial)
        assert "不评定生活自理障碍" in await refused(
            case, AppraisalCase.record_opinion, opinion(member, below)
        )
        graded = Outcome(verdict=Verdict.grade_2, self_care=SelfCare.major)
        assert "recorded" in await case.update(
            AppraisalCase.record_opinion, opinion(member, graded)
        )
        await case.handle.terminate("test over")
