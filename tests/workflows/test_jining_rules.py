"""Rules of issue #8 that live in the case itself: the scale follows the kind of appraisal,
the applicant is who the role says, 就近办 is an illness pilot run with the province, the
green channel's grant is recorded, the materials checklist comes from the policy, and a clock
counted on the weekend-only fallback says so."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.workdays import package_covers
from schemas.application import (
    AppraisalApplication,
    Cause,
    GreenChannelGrant,
    GreenReason,
    Jurisdiction,
    MaterialKind,
    Specialty,
)
from schemas.events import ConclusionDecision, ConclusionExtension
from schemas.outcome import Outcome, SelfCare, Verdict
from tests.conftest import TASK_QUEUE, CaseEnv
from tests.helpers import (
    G8,
    Driver,
    china,
    deadline,
    decision,
    example,
    example_json,
    green_on_site,
    new_id,
    opinion,
    refused,
)
from tests.unit.test_documents import text_of
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
            event_id=new_id("d"), actor="C0201", outcome=MAJOR_LOSS, basis="GB/T 16180-2014"
        )
        assert "劳社部发〔2002〕8号" in await refused(
            case, AppraisalCase.issue_conclusion, wrong_basis
        )
        decided = ConclusionDecision(
            event_id=new_id("d"),
            actor="C0201",
            outcome=MAJOR_LOSS,
            findings="慢性肾功能衰竭尿毒症期, 规律血液透析",
            clause="4.2",
        )
        await case.update(AppraisalCase.issue_conclusion, decided)
        status = await case.posted()
        assert status.conclusion == MAJOR_LOSS
        await case.handle.terminate("test over")
    issued = await db_pool.fetchval(
        "SELECT data::text FROM case_events WHERE case_id = $1 AND kind = 'conclusion.issued'",
        case.handle.id,
    )
    assert json.loads(issued)["basis"].startswith("劳社部发〔2002〕8号")
    pdf = await db_pool.fetchval("SELECT content FROM documents WHERE case_id = $1", case.handle.id)
    text = text_of(bytes(pdf))
    assert "劳社部发〔2002〕8号《职工非因工伤残或因病丧失劳动能力鉴定标准（试行）》第4.2条" in text
    assert "病情慢性肾功能衰竭" in text and "GB/T16180" not in text


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


async def invalid_start(
    env: WorkflowEnvironment, application: dict[str, Any], case_id: str | None = None
) -> str:
    """The reason a case with this application failed at once."""
    handle = await env.client.start_workflow(
        "AppraisalCase", application, id=case_id or new_id(), task_queue=TASK_QUEUE
    )
    # Time stands still meanwhile: a test server waiting on a result may skip time ahead.
    with env.auto_time_skipping_disabled(), pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    error = failed.value.cause
    assert isinstance(error, ApplicationError) and error.type == "InvalidApplication"
    return error.message


async def test_an_applicant_is_who_the_role_says(case_env: CaseEnv, db_pool: asyncpg.Pool) -> None:
    not_the_worker = example_json("initial_complete", fresh_worker=True)
    not_the_worker["applicant"] = {"role": "worker", "name": "王小明"}
    a_friend = example_json("initial_complete", fresh_worker=True)
    a_friend["applicant"] = {"role": "relative", "name": "王小明", "relationship": "朋友"}
    the_worker_as_relative = example_json("initial_complete", fresh_worker=True)
    name = the_worker_as_relative["worker"]["name"]
    the_worker_as_relative["applicant"] = {"role": "relative", "name": name, "relationship": "配偶"}
    refused_ids = [new_id() for _ in range(3)]
    async with case_env(MONDAY) as env:
        assert "applicant.name: 申请人身份为职工本人" in await invalid_start(
            env, not_the_worker, refused_ids[0]
        )
        assert "applicant.relationship: 近亲属指配偶" in await invalid_start(
            env, a_friend, refused_ids[1]
        )
        assert "近亲属与职工同名" in await invalid_start(
            env, the_worker_as_relative, refused_ids[2]
        )
        spouse = example_json("initial_complete", fresh_worker=True)
        spouse["applicant"] = {"role": "relative", "name": "王丽", "relationship": "配偶"}
        case = await Driver.start(env, AppraisalApplication.model_validate(spouse))
        assert (await case.until(lambda s: s.complete_on is not None)).stage is not None
        await case.handle.terminate("test over")
    registered = await db_pool.fetchval(
        "SELECT count(*) FROM cases WHERE case_id = ANY($1::text[])", refused_ids
    )
    assert registered == 0  # refused before anything was written


async def test_province_pilot_is_for_illness_and_the_provincial_agency_gets_the_copy(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    injury = example_json("initial_complete", fresh_worker=True) | {"jurisdiction": "province"}
    illness = example("illness").model_copy(update={"jurisdiction": Jurisdiction.province})
    async with case_env(MONDAY) as env:
        assert "jurisdiction: 就近办仅适用于省直参保职工的因病鉴定" in await invalid_start(
            env, injury
        )
        case = await Driver.start(env, illness)
        await case.attend()
        await case.conclude(MAJOR_LOSS)
        await case.handle.terminate("test over")
    copy = await db_pool.fetchrow(
        "SELECT recipient, sent_at FROM outbox WHERE case_id = $1 AND message_key = 'benefits_agency.copy'",
        case.handle.id,
    )
    assert copy["recipient"] == "provincial_agency" and copy["sent_at"] is not None
    pdf = await db_pool.fetchval(
        "SELECT content FROM documents WHERE case_id = $1 AND kind = 'conclusion-letter'",
        case.handle.id,
    )
    text = text_of(bytes(pdf))
    assert text.startswith("山东省劳动能力鉴定委员会济宁市劳动能力鉴定委员会")
    assert "受山东省劳动能力鉴定委员会委托就近组织鉴定" in text


async def test_who_granted_the_green_channel_and_why_is_on_record(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    ungranted = green_on_site().model_dump(mode="json") | {"green_channel_grant": None}
    grant = GreenChannelGrant(granted_by="王主任", reason=GreenReason.terminal)
    granted = green_on_site().model_copy(update={"green_channel_grant": grant})
    async with case_env(MONDAY) as env:
        assert "green_channel_grant: 绿色通道须注明批准人和理由" in await invalid_start(
            env, ungranted
        )
        case = await Driver.start(env, granted)
        status = await case.until(lambda s: s.complete_on is not None)
        assert status.green_channel_grant == grant
        metadata = await case.handle.query("__temporal_workflow_metadata")
        assert "绿色通道理由 granted: 终末期 (terminal), 批准人 王主任" in metadata.current_details
        await case.handle.terminate("test over")
    event = await db_pool.fetchrow(
        "SELECT actor, data::text AS data FROM case_events WHERE case_id = $1 AND kind = 'green_channel.granted'",
        case.handle.id,
    )
    assert event["actor"] == "王主任" and json.loads(event["data"])["reason"] == "terminal"


async def test_a_re_appraisal_needs_the_injury_determination_and_the_first_conclusion(
    case_env: CaseEnv,
) -> None:
    data = example_json("re_appraisal", fresh_worker=True)
    data["materials"] = [m for m in data["materials"] if m["kind"] != "injury_determination"]
    async with case_env(china(2026, 11, 16)) as env:  # the example was received on 10 Nov
        case = await Driver.start(env, AppraisalApplication.model_validate(data))
        status = await case.until(
            lambda s: "issue_supplement_notice" in " ".join(s.pending_actions)
        )
        assert status.missing_materials == [MaterialKind.injury_determination]
        assert status.policy_version == "2025-55.4"
        await case.handle.terminate("test over")


async def test_a_clock_counted_without_the_years_holiday_schedule_says_so(
    case_env: CaseEnv, tmp_path: Path
) -> None:
    year = next(y for y in itertools.count(2026) if not package_covers(y))
    # Received mid-November: the 60-day legal limit ends in January of the uncovered year.
    received = china(year - 1, 11, 16)
    async with case_env(received, holiday_schedule_dir=tmp_path) as env:
        case = await Driver.start(env, example("initial_complete"))
        status = await case.until(lambda s: s.complete_on is not None and bool(s.deadlines))
        limit = deadline(status, "conclusion")
        assert limit.due_on.year == year
        assert limit.calendar_warning and f"{year}年节假日安排未载入" in limit.calendar_warning
        metadata = await case.handle.query("__temporal_workflow_metadata")
        assert f"注意 日历 calendar: {year}年节假日安排未载入" in metadata.current_details
        await case.handle.terminate("test over")
    schedule = {"year": year, "source": "test", "holidays": [{"date": f"{year}-01-01"}]}
    (tmp_path / f"{year}.json").write_text(json.dumps(schedule), encoding="utf-8")
    async with case_env(received, holiday_schedule_dir=tmp_path) as env:
        case = await Driver.start(env, example("initial_complete"))
        status = await case.until(lambda s: s.complete_on is not None and bool(s.deadlines))
        assert deadline(status, "conclusion").calendar_warning is None
        await case.handle.terminate("test over")


async def test_a_decision_is_taken_under_a_persons_own_id(case_env: CaseEnv) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        for member in [m.expert_id for m in (await case.attend()).panel.members]:  # type: ignore[union-attr]
            await case.update(AppraisalCase.record_opinion, opinion(member, G8))
        await case.review()
        by_role = ConclusionExtension(event_id=new_id("x"), actor="director", reason="案情复杂")
        assert "不接受通用身份 director" in await refused(
            case, AppraisalCase.extend_conclusion_deadline, by_role
        )
        as_committee = decision(G8).model_copy(update={"actor": "committee"})
        assert "不接受通用身份 committee" in await refused(
            case, AppraisalCase.issue_conclusion, as_committee
        )
        assert "being issued" in await case.update(AppraisalCase.issue_conclusion, decision(G8))
        await case.handle.terminate("test over")
