"""Organizing on fixed dates: appointments and advance notice, reschedules moving the
conclusion deadline, attendance and no-shows, green channel, home visits, panel shortage,
commissioned examinations."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import asyncpg

from schemas.application import Specialty
from schemas.events import (
    Attendance,
    AttendanceRecord,
    ExaminationOrder,
    ExaminationRefusal,
    ExaminationResults,
    ExpertOpinion,
    PanelRedraw,
    Reschedule,
    ScheduleAppraisal,
)
from schemas.outcome import Outcome, Verdict
from schemas.steps import Stage
from schemas.vocabulary import CloseReason
from tests.conftest import CaseEnv
from tests.helpers import (
    Driver,
    china,
    deadline,
    example,
    green_on_site,
    new_id,
    random_credit_code,
    refused,
    search_attributes,
)
from workflows.case import AppraisalCase

# Monday 12 Oct 2026: +3 days notice -> Thursday 15 Oct session; +60 days -> Friday 11 Dec.
MONDAY = china(2026, 10, 12)


def attendance(status: Attendance, **fields: object) -> AttendanceRecord:
    return AttendanceRecord.model_validate(
        {"event_id": new_id("att"), "actor": "W0101", "status": status, **fields}
    )


async def test_appointment_notice_and_reschedule_moves_the_deadline(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        status = await case.until(lambda s: s.appointment is not None)
        assert status.appointment is not None
        assert status.appointment.session_id == "ON_SITE-20261015-0900"
        assert deadline(status, "conclusion").due_on == date(2026, 12, 11)
        notice = await db_pool.fetchrow(
            "SELECT body::text AS body FROM outbox WHERE case_id = $1 AND message_key = 'appointment.notice:1'",
            case.handle.id,
        )
        assert "2026年10月15日 09:00" in notice["body"] and "身份证" in notice["body"]

        # The worker asks to move it; the next free seat after the 15th is Tuesday 20 Oct.
        moved = await case.update(
            AppraisalCase.reschedule,
            Reschedule(event_id=new_id("r"), actor="W0101", reason="住院复查"),
        )
        assert "2026-10-20" in moved and "moved 5 days" in moved
        status = await case.status()
        assert status.deadline_shift_days == 5
        assert deadline(status, "conclusion").due_on == date(2026, 12, 16)
        # A second move to a set time: 27 Oct, seven more days.
        at = china(2026, 10, 27, 14)
        later = Reschedule(
            event_id=new_id("r"), actor="W0101", reason="家中有事", at=at, place="鉴定中心二楼"
        )
        await case.update(AppraisalCase.reschedule, later)
        status = await case.status()
        assert status.deadline_shift_days == 12 and deadline(status, "conclusion").due_on == date(
            2026, 12, 23
        )
        seats = await db_pool.fetchval(
            "SELECT count(*) FROM session_bookings WHERE case_id = $1", case.handle.id
        )
        assert seats == 1  # earlier seats were given back

        early = attendance(Attendance.attended, identity_verified=True)
        assert "鉴定尚未开始" in await refused(case, AppraisalCase.record_attendance, early)
        await case.skip_to(at)
        no_id = attendance(Attendance.attended)
        assert "identity_verified" in await refused(case, AppraisalCase.record_attendance, no_id)
        await case.update(AppraisalCase.record_attendance, early)
        status = await case.until(lambda s: s.stage is Stage.conclusion)
        assert status.attendance == "attended"
        late = Reschedule(event_id=new_id("r"), actor="W0101", reason="太晚了")
        assert "case is in stage conclusion" in await refused(case, AppraisalCase.reschedule, late)
        await case.handle.terminate("test over")


async def test_no_show_without_good_reason_ends_the_appraisal(case_env: CaseEnv) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        status = await case.until(lambda s: s.appointment is not None)
        assert status.appointment is not None
        await case.skip_to(status.appointment.starts_at + timedelta(hours=3))
        await case.update(AppraisalCase.record_attendance, attendance(Attendance.no_show))
        final = await case.handle.result()
    assert final.stage is Stage.archived
    assert final.closed is CloseReason.terminated
    assert final.closed_reason == "当次鉴定终止: 无正当理由未到场 (no-show without good reason)"


async def test_no_show_with_good_reason_is_rescheduled(case_env: CaseEnv) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        status = await case.until(lambda s: s.appointment is not None)
        assert status.appointment is not None
        await case.skip_to(status.appointment.starts_at + timedelta(hours=1))
        excused = attendance(Attendance.no_show, good_reason="途中交通事故")
        assert "reschedule" in await case.update(AppraisalCase.record_attendance, excused)
        status = await case.status()
        assert status.closed_reason is None and status.pending_actions[0].startswith("reschedule")
        await case.update(
            AppraisalCase.reschedule,
            Reschedule(event_id=new_id("r"), actor="W0101", reason="因交通事故未到"),
        )
        await case.attend()
        assert (await case.status()).stage is Stage.conclusion
        await case.handle.terminate("test over")


async def test_missing_attendance_record_escalates(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        await case.until(lambda s: s.appointment is not None)
        await case.skip_to(china(2026, 10, 16, 1))
        status = await case.until(lambda s: deadline(s, "attendance").overdue)
        assert status.closed_reason is None  # escalated, still waiting for the record
        kinds = await db_pool.fetch(
            "SELECT data->>'clock' AS clock FROM case_events WHERE case_id = $1 AND kind = 'deadline.breached'",
            case.handle.id,
        )
        assert [k["clock"] for k in kinds] == ["attendance"]
        await case.handle.terminate("test over")


async def test_green_channel_gets_short_clocks_reserved_seats_and_five_experts(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    session = f"ON_SITE-GREEN-{uuid.uuid4().hex[:6]}"
    await db_pool.execute(
        "INSERT INTO appraisal_sessions VALUES ($1, 'on_site', $2, '鉴定中心', 1, 1)",
        session,
        china(2026, 10, 14),
    )
    green = green_on_site()
    async with case_env(MONDAY) as env:
        normal = await Driver.start(env, example("initial_complete"))
        urgent = await Driver.start(env, green)
        for case in (normal, urgent):
            await case.until(lambda s: s.appointment is not None)
        status = await urgent.status()
        assert status.green_channel and status.panel and len(status.panel.members) == 5
        # Green clocks: conclusion in 20 days (Sunday 1 Nov -> Monday 2 Nov) beside the legal 60;
        # the notice 1 day ahead.
        assert deadline(status, "green_conclusion").due_on == date(2026, 11, 2)
        assert deadline(status, "conclusion").due_on == date(2026, 12, 11)
        assert status.appointment and status.appointment.starts_at.date() == date(2026, 10, 13)
        # The held-back seat: refused to the ordinary case, given to the green-channel case.
        choice = ScheduleAppraisal(event_id=new_id("s"), actor="W0101", session_id=session)
        assert "已满" in await refused(normal, AppraisalCase.schedule_appraisal, choice)
        assert session in await urgent.update(
            AppraisalCase.schedule_appraisal, choice.model_copy(update={"event_id": new_id("s")})
        )
        for case in (normal, urgent):
            await case.handle.terminate("test over")


async def test_home_visit_and_province_insured(case_env: CaseEnv, db_pool: asyncpg.Pool) -> None:
    async with case_env(MONDAY) as env:
        home = await Driver.start(env, example("home_visit"))
        province = await Driver.start(env, example("province_insured"))
        status = await home.until(lambda s: s.appointment is not None)
        assert status.appointment and status.appointment.session_id.startswith("HOME_VISIT-")
        assert status.appointment.place.startswith(
            "上门鉴定"
        ) and status.appointment.starts_at.date() == date(2026, 10, 15)
        status = await province.until(lambda s: s.appointment is not None)
        assert status.jurisdiction.value == "province"
        found = await search_attributes(province.handle)
        assert found["Jurisdiction"] == "province" and found["CaseStage"] == "organizing"
        row = await db_pool.fetchrow(
            "SELECT jurisdiction, mode FROM cases WHERE case_id = $1", province.handle.id
        )
        assert row["jurisdiction"] == "province"
        for case in (home, province):
            await case.handle.terminate("test over")


async def test_panel_shortage_escalates_and_redraw_after_the_pool_grows(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    application = example("initial_complete")
    application.injury.specialties = [Specialty.stomatology]
    application.employer.credit_code = random_credit_code()
    # Every stomatologist in the (shared) pool declares ties to this employer: none is eligible.
    await db_pool.execute(
        """INSERT INTO expert_conflicts (expert_id, kind, subject, note)
           SELECT expert_id, 'employer', $1, '测试' FROM experts WHERE 'stomatology' = ANY(specialties)""",
        application.employer.credit_code,
    )
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, application)
        status = await case.until(
            lambda s: bool(s.pending_actions) and "shortage" in s.pending_actions[0]
        )
        assert status.stage is Stage.organizing and status.panel is None
        request = PanelRedraw(event_id=new_id("rd"), actor="W0101", reason="已增补口腔科专家")
        for n in (1, 2, 3):
            await db_pool.execute(
                "INSERT INTO experts VALUES ($1, '口腔专家', '主任医师', '济宁医学院附属医院', ARRAY['stomatology'], true, '2026-01-01', '2029-01-01')",
                f"EXP-T{uuid.uuid4().hex[:6]}-{n}",
            )
        await case.update(AppraisalCase.redraw_panel, request)
        status = await case.until(lambda s: s.panel is not None)
        assert status.panel and status.panel.attempt == 2 and len(status.panel.members) == 3
        assert "仅在专家不足时" in await refused(
            case, AppraisalCase.redraw_panel, request.model_copy(update={"event_id": new_id("rd")})
        )
        events = await db_pool.fetch(
            "SELECT kind FROM case_events WHERE case_id = $1 AND kind LIKE 'panel.%' ORDER BY id",
            case.handle.id,
        )
        assert [e["kind"] for e in events] == [
            "panel.drawn",
            "panel.shortage",
            "panel.redraw_requested",
            "panel.drawn",
        ]
        await case.handle.terminate("test over")


async def test_commissioned_examination_waits_escalates_and_refusal_terminates(
    case_env: CaseEnv,
) -> None:
    order = ExaminationOrder(
        event_id=new_id("ex"), actor="W0101", hospital="济宁市中医院", items=["肌电图", "膝关节MRI"]
    )
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        early = order.model_copy(update={"event_id": new_id("ex")})
        await case.until(lambda s: s.appointment is not None)
        assert "结论出具阶段" in await refused(case, AppraisalCase.commission_examination, early)
        status = await case.attend()
        assert "results due by 2026-10-30" in await case.update(
            AppraisalCase.commission_examination, order
        )
        member = status.panel.members[0].expert_id if status.panel else ""
        opinion = ExpertOpinion(
            event_id=new_id("op"),
            actor=member,
            expert_id=member,
            outcome=Outcome(verdict=Verdict.grade_9),
        )
        assert "等待" in await refused(case, AppraisalCase.record_opinion, opinion)
        await case.skip_to(china(2026, 10, 31, 1))
        status = await case.until(lambda s: deadline(s, "examination").overdue)
        await case.handle.signal(
            AppraisalCase.examination_results,
            ExaminationResults(
                event_id=new_id("res"), actor="W0101", summary="肌电图: 腓总神经损伤"
            ),
        )
        status = await case.until(
            lambda s: not s.deadlines or all(d.name != "examination" for d in s.deadlines)
        )
        assert "recorded" in await case.update(AppraisalCase.record_opinion, opinion)

        second = await Driver.start(env, example("initial_complete"))
        await second.attend()
        await second.update(
            AppraisalCase.commission_examination,
            order.model_copy(update={"event_id": new_id("ex")}),
        )
        refusal = ExaminationRefusal(
            event_id=new_id("ref"), actor="W0101", reason="本人拒绝做肌电图"
        )
        await second.update(AppraisalCase.record_examination_refusal, refusal)
        await case.handle.terminate("test over")  # before time may skip for the result
        final = await second.handle.result()
    assert final.closed is CloseReason.terminated
    assert (final.closed_reason or "").startswith("当次鉴定终止: 拒不接受委托检查")
