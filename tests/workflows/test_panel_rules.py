"""The panel under the rules of issue #8: experts able to sit on the appraisal day (not the day
of the draw) and holding a senior title; the panel checked again when the day moves; a party's
recusal (回避) redrawing one seat; staff and committee members with a declared conflict refused.

Tests share one database (with the demo pool and other tests' experts): each test gives its
case a fresh employer with which every expert already in the specialty has a tie, then adds
the experts it needs, so every draw here is decided by the test's own experts."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

import asyncpg

from activities.experts import verify_draw
from activities.storage import worker_ref
from infra.settings import Settings
from schemas.application import AppraisalApplication, Specialty
from schemas.events import (
    Attendance,
    AttendanceRecord,
    ConclusionExtension,
    PanelRedraw,
    RecusalRequest,
    Reschedule,
    ReviewLayer,
    ScheduleAppraisal,
)
from schemas.status import CaseStatus
from schemas.steps import ExclusionReason, RecusalParty
from tests.conftest import CaseEnv
from tests.helpers import (
    G8,
    Driver,
    china,
    decision,
    example,
    new_id,
    opinion,
    random_credit_code,
    refused,
    signoff,
)
from workflows.case import AppraisalCase

# Monday 23 Nov 2026: +3 days notice -> the Thursday 26 Nov session.
MONDAY = china(2026, 11, 23)
APPRAISAL_DAY = date(2026, 11, 26)
SPECIALTY = Specialty.cardiology


async def own_pool(db_pool: asyncpg.Pool) -> AppraisalApplication:
    """An application whose draws see only the experts the test adds (see the module doc)."""
    application = example("initial_complete")
    application.injury.specialties = [SPECIALTY]
    application.employer.credit_code = random_credit_code()
    await db_pool.execute(
        """INSERT INTO expert_conflicts (expert_id, kind, subject, note)
           SELECT expert_id, 'employer', $1, '测试' FROM experts WHERE $2 = ANY(specialties)""",
        application.employer.credit_code,
        SPECIALTY.value,
    )
    return application


async def add_experts(db_pool: asyncpg.Pool, *names: str, title: str = "主任医师") -> list[str]:
    ids = [f"EXP-T{uuid.uuid4().hex[:6]}-{name}" for name in names]
    for expert_id in ids:
        await db_pool.execute(
            """INSERT INTO experts VALUES ($1, '心内专家', $2, '济宁医学院附属医院',
                                          ARRAY['cardiology'], true, '2026-01-01', '2029-01-01')""",
            expert_id,
            title,
        )
    return ids


async def leave(db_pool: asyncpg.Pool, expert_id: str, day: date, reason: str = "外出进修") -> None:
    await db_pool.execute(
        "INSERT INTO expert_leaves (expert_id, starts, ends, reason) VALUES ($1, $2, $2, $3)",
        expert_id,
        day,
        reason,
    )


def members(status: CaseStatus) -> set[str]:
    assert status.panel is not None
    return {m.expert_id for m in status.panel.members}


async def panel_events(db_pool: asyncpg.Pool, case_id: str) -> list[tuple[str, dict[str, Any]]]:
    rows = await db_pool.fetch(
        """SELECT kind, data::text AS data FROM case_events
           WHERE case_id = $1 AND (kind LIKE 'panel.%' OR kind LIKE 'recusal.%') ORDER BY id""",
        case_id,
    )
    return [(r["kind"], json.loads(r["data"])) for r in rows]


async def test_the_panel_is_drawn_for_the_appraisal_day_and_checked_again_when_it_moves(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    application = await own_pool(db_pool)
    a, b, c, d = await add_experts(db_pool, "a", "b", "c", "d")
    [junior] = await add_experts(db_pool, "junior", title="主治医师")
    await leave(db_pool, d, APPRAISAL_DAY)  # free when the case starts, away on the day
    await leave(db_pool, b, date(2026, 12, 1), "学术会议")
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, application)
        status = await case.until(lambda s: s.panel is not None and s.appointment is not None)
        assert status.appointment and status.appointment.starts_at.date() == APPRAISAL_DAY
        # Drawn for the appraisal day: D (away that day) and the junior title never sit.
        assert members(status) == {a, b, c}
        assert status.panel is not None
        reasons = {x.expert_id: (x.reason, x.detail) for x in status.panel.exclusions}
        assert reasons[d] == (
            ExclusionReason.on_leave,
            f"请假 {APPRAISAL_DAY} 至 {APPRAISAL_DAY}（外出进修）",
        )
        assert reasons[junior] == (ExclusionReason.not_senior, "职称 主治医师 非高级职称")

        # Granted reschedule to 1 Dec, when B is away: B's seat is drawn again, A and C stay.
        moved = await case.update(
            AppraisalCase.reschedule,
            Reschedule(
                event_id=new_id("r"),
                actor="W0101",
                reason="住院复查",
                at=china(2026, 12, 1, 14),
                place="鉴定中心二楼",
            ),
        )
        assert "2026-12-01" in moved and f"重抽席位 {d}" in moved and f"{b}: 请假" in moved
        status = await case.status()
        assert members(status) == {a, c, d} and status.panel and status.panel.attempt == 2
        # The office moves it again, to a day everyone can sit: nobody is replaced.
        booked = await case.update(
            AppraisalCase.schedule_appraisal,
            ScheduleAppraisal(
                event_id=new_id("s"), actor="W0101", at=china(2026, 12, 3, 9), place="鉴定大厅"
            ),
        )
        assert booked.startswith("booked ") and "重抽" not in booked  # nobody replaced
        status = await case.status()
        assert members(status) == {a, c, d} and status.panel and status.panel.attempt == 3

        events = await panel_events(db_pool, case.handle.id)
        assert [kind for kind, _ in events] == ["panel.drawn", "panel.rechecked", "panel.rechecked"]
        assert events[0][1]["on"] == APPRAISAL_DAY.isoformat()
        rechecked = events[1][1]
        assert rechecked["on"] == "2026-12-01" and rechecked["cause"] == "reschedule"
        assert rechecked["replaced"] == [
            {
                "expert_id": b,
                "reason": "on_leave",
                "detail": "请假 2026-12-01 至 2026-12-01（学术会议）",
            }
        ]
        assert events[2][1]["cause"] == "schedule" and events[2][1]["replaced"] == []
        rows = await db_pool.fetch(
            "SELECT * FROM panel_draws WHERE case_id = $1 ORDER BY attempt", case.handle.id
        )
        assert [r["attempt"] for r in rows] == [1, 2, 3] and all(verify_draw(r) for r in rows)
        await case.handle.terminate("test over")


async def test_a_party_recusal_redraws_that_seat_and_keeps_the_expert_out(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    application = await own_pool(db_pool)
    a, b, c = await add_experts(db_pool, "a", "b", "c")
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, application)
        status = await case.until(lambda s: s.panel is not None and s.appointment is not None)
        assert members(status) == {a, b, c}
        [d] = await add_experts(db_pool, "d")

        request = RecusalRequest(
            event_id=new_id("rc"),
            actor="W0101",
            expert_id=b,
            requested_by=RecusalParty.worker,
            reason="该专家曾为职工主治医生",
        )
        answer = await case.update(AppraisalCase.request_recusal, request)
        assert answer.startswith(f"职工申请 {b} 回避, 已准许") and f"重抽席位 {d}" in answer
        status = await case.status()
        assert members(status) == {a, c, d}
        assert [(r.expert_id, r.requested_by) for r in status.recusals] == [
            (b, RecusalParty.worker)
        ]
        again = request.model_copy(update={"event_id": new_id("rc")})
        assert "不是本案专家组成员" in await refused(case, AppraisalCase.request_recusal, again)

        # The employer asks for A's recusal: B (recused) may not take the seat, so the panel
        # is short; the case escalates and cannot hold the appraisal until the pool grows.
        by_employer = RecusalRequest(
            event_id=new_id("rc"),
            actor="W0101",
            expert_id=a,
            requested_by=RecusalParty.employer,
            reason="该专家与职工系亲属",
        )
        assert "专家不足 1 人" in await case.update(AppraisalCase.request_recusal, by_employer)
        status = await case.until(lambda s: any("shortage" in p for p in s.pending_actions))
        assert status.appointment is not None
        await case.skip_to(status.appointment.starts_at)
        attended = AttendanceRecord(
            event_id=new_id("att"),
            actor="W0101",
            status=Attendance.attended,
            identity_verified=True,
        )
        assert "专家组尚未抽定" in await refused(case, AppraisalCase.record_attendance, attended)
        [e] = await add_experts(db_pool, "e")
        redraw = PanelRedraw(event_id=new_id("rd"), actor="W0101", reason="已增补心内科专家")
        await case.update(AppraisalCase.redraw_panel, redraw)
        status = await case.until(lambda s: not any("shortage" in p for p in s.pending_actions))
        assert members(status) == {c, d, e}

        events = await panel_events(db_pool, case.handle.id)
        assert [kind for kind, _ in events] == [
            "panel.drawn",
            "recusal.requested",
            "panel.rechecked",
            "recusal.requested",
            "panel.rechecked",
            "panel.shortage",
            "panel.redraw_requested",
            "panel.rechecked",
        ]
        assert events[1][1] == {
            "expert_id": b,
            "requested_by": "worker",
            "reason": "该专家曾为职工主治医生",
        }
        assert events[2][1]["replaced"] == [
            {"expert_id": b, "reason": "recused", "detail": "职工申请回避: 该专家曾为职工主治医生"}
        ]
        assert {x["expert_id"]: x["reason"] for x in events[-1][1]["replaced"]} == {a: "recused"}

        await case.attend()
        late = request.model_copy(update={"event_id": new_id("rc"), "expert_id": c})
        assert "现场鉴定之前" in await refused(case, AppraisalCase.request_recusal, late)
        await case.handle.terminate("test over")


EXAMINER = signoff(ReviewLayer.examination).actor  # the examination group's signer


async def test_staff_with_a_declared_conflict_may_not_act_on_the_case(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    application = await own_pool(db_pool)
    await add_experts(db_pool, "a", "b", "c")
    key = Settings().worker_ref_key
    # A deputy of the examination group and a committee member of this test's own.
    await db_pool.execute(
        """INSERT INTO staff (staff_id, name, roles) VALUES
           ('S0111', '面检组副组长', '{examination}'), ('C0299', '王委员', '{committee}')
           ON CONFLICT DO NOTHING"""
    )
    await db_pool.execute(
        """INSERT INTO staff_conflicts (staff_id, kind, subject, note)
           VALUES ($3, 'worker', $1, '配偶'), ('C0299', 'employer', $2, '曾任该单位顾问')""",
        worker_ref(application.worker.citizen_id, key),
        application.employer.credit_code,
        EXAMINER,
    )
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, application)
        status = await case.attend()
        assert status.panel is not None
        for member in status.panel.members:
            await case.update(AppraisalCase.record_opinion, opinion(member.expert_id, G8))

        conflicted = signoff(ReviewLayer.examination)  # actor EXAMINER
        reason = await refused(case, AppraisalCase.sign_off_review, conflicted)
        assert f"{EXAMINER} 已申报与本案职工有利害关系, 应当回避" in reason
        assert "第二十七条" in reason
        assert application.worker.citizen_id not in reason
        other = signoff(ReviewLayer.examination).model_copy(update={"actor": "S0111"})
        await case.update(AppraisalCase.sign_off_review, other)
        for layer in (ReviewLayer.chief_examination, ReviewLayer.recheck):
            await case.update(AppraisalCase.sign_off_review, signoff(layer))

        extension = ConclusionExtension(event_id=new_id("x"), actor="C0299", reason="案情复杂")
        assert "用人单位有利害关系" in await refused(
            case, AppraisalCase.extend_conclusion_deadline, extension
        )
        by_director = decision(G8).model_copy(update={"actor": "C0299"})
        assert "应当回避" in await refused(case, AppraisalCase.issue_conclusion, by_director)
        assert "being issued" in await case.update(AppraisalCase.issue_conclusion, decision(G8))

        rows = await db_pool.fetch(
            """SELECT actor, data->>'step' AS step, data->>'kind' AS kind FROM case_events
               WHERE case_id = $1 AND kind = 'recusal.staff' ORDER BY id""",
            case.handle.id,
        )
        assert [tuple(r) for r in rows] == [
            (EXAMINER, "复核签署", "worker"),
            ("C0299", "延长鉴定期限", "employer"),
            ("C0299", "鉴定结论", "employer"),
        ]
        await case.handle.terminate("test over")
