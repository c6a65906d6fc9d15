"""Acceptance on fixed dates: the supplement notice clock across the 2026 National Day holiday,
supplement in time or abandoned, eligibility refusals, duplicates."""

from __future__ import annotations

import json
import re
from datetime import date

import asyncpg

from schemas.application import CaseType, MaterialKind
from schemas.events import (
    MaterialsSupplemented,
    SupplementExtension,
    SupplementItem,
    SupplementNotice,
)
from schemas.steps import Stage
from schemas.vocabulary import CloseReason
from tests.conftest import CaseEnv
from tests.helpers import Driver, china, deadline, example, new_id, refused
from workflows.case import AppraisalCase

MISSING = [MaterialKind.medical_records, MaterialKind.injury_determination]


def notice(*kinds: MaterialKind) -> SupplementNotice:
    items = [SupplementItem(kind=k, note="请补交") for k in kinds]
    return SupplementNotice(event_id=new_id("notice"), actor="W0101", items=items)


def handed_in(*kinds: MaterialKind) -> MaterialsSupplemented:
    materials = [{"kind": k, "title": k.value} for k in kinds]
    return MaterialsSupplemented.model_validate(
        {"event_id": new_id("sup"), "actor": "W0102", "materials": materials}
    )


async def events(db_pool: asyncpg.Pool, case_id: str, kind: str) -> list[asyncpg.Record]:
    return list(
        await db_pool.fetch(
            "SELECT * FROM case_events WHERE case_id = $1 AND kind = $2", case_id, kind
        )
    )


async def test_notice_clock_runs_over_national_day_and_escalates(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    # Received Wednesday 30 Sep 2026. Days off 1-7 Oct; Saturday 10 Oct is a working day.
    # Five working days: 8, 9, 10 (Sat), 12, 13 Oct -> due Tuesday 13 Oct.
    async with case_env(china(2026, 9, 30)) as env:
        case = await Driver.start(env, example("initial_incomplete"))
        status = await case.until(lambda s: any(d.name == "supplement_notice" for d in s.deadlines))
        assert deadline(status, "supplement_notice").due_on == date(2026, 10, 13)
        assert status.missing_materials == MISSING
        assert status.pending_actions[0].startswith("issue_supplement_notice")

        await case.skip_to(china(2026, 10, 13, 23, 30))
        assert not deadline(await case.status(), "supplement_notice").overdue
        await case.skip_to(china(2026, 10, 14, 0, 30))
        status = await case.until(lambda s: deadline(s, "supplement_notice").overdue)
        breach = await events(db_pool, case.handle.id, "deadline.breached")
        assert [json.loads(b["data"]) for b in breach] == [
            {"clock": "supplement_notice", "due_on": "2026-10-13", "detail": ""}
        ]
        escalations = await db_pool.fetchval(
            "SELECT count(*) FROM outbox WHERE case_id = $1 AND channel = 'supervisor'",
            case.handle.id,
        )
        assert escalations == 1

        # Late, but the duty remains: the notice stops the clock and starts the 30-day wait.
        assert "2026-11-13" in await case.update(
            AppraisalCase.issue_supplement_notice, notice(*MISSING)
        )
        status = await case.until(lambda s: any(d.name == "supplement" for d in s.deadlines))
        assert [d.name for d in status.deadlines] == ["supplement"]
        await case.handle.terminate("test over")


async def test_notice_in_time_then_supplement_accepts(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    async with case_env(china(2026, 9, 30)) as env:
        case = await Driver.start(env, example("initial_incomplete"))
        await case.until(lambda s: bool(s.deadlines))
        await case.skip_to(china(2026, 10, 9, 10))
        # 30 days from 9 Oct end on Sunday 8 Nov: the period moves to Monday 9 Nov.
        assert "2026-11-09" in await case.update(
            AppraisalCase.issue_supplement_notice, notice(*MISSING)
        )
        await case.handle.signal(
            AppraisalCase.materials_supplemented, handed_in(MaterialKind.medical_records)
        )
        status = await case.until(
            lambda s: s.missing_materials == [MaterialKind.injury_determination]
        )
        assert (
            status.stage is Stage.acceptance and "injury_determination" in status.pending_actions[0]
        )
        await case.handle.signal(
            AppraisalCase.materials_supplemented, handed_in(MaterialKind.injury_determination)
        )
        status = await case.until(lambda s: s.complete_on is not None)
        # The 60-day conclusion clock runs from the complete application: 9 Oct -> 8 Dec.
        assert status.complete_on == date(2026, 10, 9)
        assert deadline(status, "conclusion").due_on == date(2026, 12, 8)
        assert await events(db_pool, case.handle.id, "deadline.breached") == []
        await case.handle.terminate("test over")


async def test_supplement_deadline_passed_abandons_the_case(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    async with case_env(china(2026, 11, 2)) as env:
        case = await Driver.start(env, example("initial_incomplete"))
        await case.until(lambda s: bool(s.deadlines))
        await case.update(AppraisalCase.issue_supplement_notice, notice(*MISSING))
        await case.handle.signal(
            AppraisalCase.materials_supplemented, handed_in(MaterialKind.medical_records)
        )
        final = await case.handle.result()  # time skips to the end of 2 Dec, then archiving
    assert final.stage is Stage.archived
    assert final.closed is CloseReason.abandoned
    assert (
        final.closed_reason
        == "补正期限 2026-12-02 届满仍未补齐: 工伤认定决定书 (injury_determination)"
    )
    # What the applicant reads is Chinese throughout.
    notices = await db_pool.fetch(
        "SELECT subject, body->>'text' AS text FROM outbox WHERE case_id = $1"
        " AND recipient = 'applicant' ORDER BY created_at",
        case.handle.id,
    )
    assert [n["subject"] for n in notices] == [
        "补正材料一次性告知书",
        "劳动能力鉴定视为放弃申请通知",
    ]
    assert notices[0]["text"].startswith("请于2026年12月02日前补交: 完整病历、工伤认定决定书")
    assert notices[1]["text"] == (
        "您的劳动能力鉴定申请视为放弃申请: 补正期限 2026-12-02 届满仍未补齐: 工伤认定决定书。"
    )
    assert not re.search("[A-Za-z]", "".join(n["subject"] + n["text"] for n in notices))
    row = await db_pool.fetchrow(
        "SELECT closed_reason, open FROM cases WHERE case_id = $1", case.handle.id
    )
    assert row["closed_reason"].startswith("abandoned") and not row["open"]
    assert len(await events(db_pool, case.handle.id, "case.abandoned")) == 1


async def test_good_reason_extends_the_supplement_deadline(case_env: CaseEnv) -> None:
    async with case_env(china(2026, 11, 2)) as env:
        case = await Driver.start(env, example("initial_incomplete"))
        await case.until(lambda s: bool(s.deadlines))
        await case.update(AppraisalCase.issue_supplement_notice, notice(*MISSING))
        early = SupplementExtension(
            event_id=new_id("x"), actor="W0101", reason="住院治疗中", until=date(2026, 12, 1)
        )
        assert "须晚于 2026-12-02" in await refused(
            case, AppraisalCase.extend_supplement_deadline, early
        )
        later = early.model_copy(update={"event_id": new_id("x"), "until": date(2026, 12, 21)})
        await case.update(AppraisalCase.extend_supplement_deadline, later)
        await case.skip_to(china(2026, 12, 10))
        status = await case.status()
        assert status.closed_reason is None and deadline(status, "supplement").due_on == date(
            2026, 12, 21
        )
        await case.handle.signal(AppraisalCase.materials_supplemented, handed_in(*MISSING))
        status = await case.until(lambda s: s.stage is Stage.organizing)
        assert status.complete_on == date(2026, 12, 10)
        await case.handle.terminate("test over")


async def test_a_mailed_re_appraisal_posted_in_time_is_in_time(case_env: CaseEnv) -> None:
    """Received 20 Apr, after the window closed on 17 Mar, but postmarked 16 Mar: the time in
    transit is not counted (Civil Procedure Law art. 85)."""
    mailed = example("re_appraisal_ineligible").model_copy(
        update={"received_on": date(2026, 4, 20), "posted_on": date(2026, 3, 16)}
    )
    late = example("re_appraisal_ineligible").model_copy(  # another worker
        update={"received_on": date(2026, 4, 20), "posted_on": date(2026, 3, 18)}
    )
    async with case_env(china(2026, 11, 12)) as env:
        in_time = await Driver.start(env, mailed)
        status = await in_time.until(lambda s: s.stage is Stage.organizing)
        assert status.closed is None
        refused_case = await (await Driver.start(env, late)).result()
        await in_time.handle.terminate("test over")
    assert refused_case.closed is CloseReason.refused
    assert "本申请邮寄于 (邮戳) 2026-03-18" in (refused_case.closed_reason or "")


async def test_ineligible_applications_are_refused_with_rule_and_dates(case_env: CaseEnv) -> None:
    async with case_env(china(2026, 11, 12)) as env:
        late = await Driver.start(env, example("re_appraisal_ineligible"))
        early_review = await Driver.start(env, example("review_too_early"))
        no_determination = example("initial_complete").model_copy(deep=True)
        no_determination.injury.determination_no = None
        undetermined = await Driver.start(env, no_determination)
        results = [await c.handle.result() for c in (late, early_review, undetermined)]
    late_reason, review_reason, initial_reason = (r.closed_reason or "" for r in results)
    assert all(r.closed is CloseReason.refused for r in results)
    assert late_reason.startswith("再次鉴定须在收到鉴定结论之日起15日内申请")
    assert "收到结论 2026-03-02, 期限届满 2026-03-17, 本申请受理于 2026-04-20" in late_reason
    assert "结论作出 2026-06-15, 最早可申请 2027-06-15, 本申请受理于 2026-11-12" in review_reason
    assert "工伤认定决定书" in initial_reason
    assert all(r.stage is Stage.archived for r in results)


async def test_eligible_case_types_go_on_to_organizing(case_env: CaseEnv) -> None:
    async with case_env(china(2026, 11, 12)) as env:
        cases = [
            await Driver.start(env, example(name)) for name in ("re_appraisal", "review", "illness")
        ]
        for case in cases:
            status = await case.until(lambda s: s.stage is Stage.organizing)
            assert status.closed_reason is None and status.complete_on is not None
            await case.handle.terminate("test over")
    assert {example(n).case_type for n in ("re_appraisal", "review", "illness")} == {
        CaseType.re_appraisal,
        CaseType.review,
        CaseType.illness,
    }


async def test_duplicate_application_is_refused_naming_the_open_case(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    first_application = example("initial_complete")
    duplicate = example("duplicate", fresh_worker=False).model_copy(
        update={"worker": first_application.worker}
    )
    async with case_env() as env:
        first = await Driver.start(env, first_application)
        await first.until(lambda s: s.stage is Stage.organizing)
        second = await Driver.start(env, duplicate)
        # Not result(): waiting on a result lets the test server skip time while the first case
        # idles, past its run timeout. Polling keeps server time still.
        refused_case = await second.until(lambda s: s.stage is Stage.archived)
        # Same worker, another case type: not a duplicate.
        same_person = {"worker": first_application.worker, "applicant": first_application.applicant}
        illness = example("illness").model_copy(update=same_person)
        third = await Driver.start(env, illness)
        await third.until(lambda s: s.stage is Stage.organizing)
        await first.handle.terminate("test over")
        await third.handle.terminate("test over")
    assert refused_case.closed_reason and "重复申请" in refused_case.closed_reason
    assert first.handle.id in refused_case.closed_reason
    row = await db_pool.fetchrow(
        "SELECT duplicate_of, open FROM cases WHERE case_id = $1", second.handle.id
    )
    assert row["duplicate_of"] == first.handle.id and not row["open"]
