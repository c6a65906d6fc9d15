"""Every update refuses a wrong-stage or malformed event at once, with a reason a clerk can act
on, and the case goes on unharmed."""

from __future__ import annotations

from datetime import date

from schemas.application import MaterialKind
from schemas.events import (
    Attendance,
    AttendanceRecord,
    ExaminationRefusal,
    ScheduleAppraisal,
    SupplementExtension,
    SupplementItem,
    SupplementNotice,
)
from schemas.steps import Stage
from tests.conftest import CaseEnv
from tests.helpers import Driver, china, example, new_id, refused
from workflows.case import AppraisalCase


def notice(*kinds: MaterialKind) -> SupplementNotice:
    return SupplementNotice(
        event_id=new_id("n"), actor="W0101", items=[SupplementItem(kind=k) for k in kinds]
    )


async def test_acceptance_validators(case_env: CaseEnv) -> None:
    async with case_env(china(2026, 10, 12)) as env:
        complete = await Driver.start(env, example("initial_complete"))
        incomplete = await Driver.start(env, example("initial_incomplete"))
        await incomplete.until(lambda s: bool(s.deadlines))
        await complete.until(lambda s: s.stage is Stage.organizing)

        assert "材料受理阶段" in await refused(
            complete, AppraisalCase.issue_supplement_notice, notice(MaterialKind.other)
        )
        reason = await refused(
            incomplete, AppraisalCase.issue_supplement_notice, notice(MaterialKind.medical_records)
        )
        assert "还缺: 工伤认定决定书 (injury_determination)" in reason
        extension = SupplementExtension(
            event_id=new_id("x"), actor="W0101", reason="住院", until=date(2026, 12, 31)
        )
        assert "没有进行中的补正期限" in await refused(
            incomplete, AppraisalCase.extend_supplement_deadline, extension
        )
        await incomplete.update(
            AppraisalCase.issue_supplement_notice,
            notice(MaterialKind.medical_records, MaterialKind.injury_determination),
        )
        again = notice(MaterialKind.medical_records, MaterialKind.injury_determination)
        assert "已发出" in await refused(incomplete, AppraisalCase.issue_supplement_notice, again)
        for case in (complete, incomplete):
            await case.handle.terminate("test over")


async def test_organizing_validators_and_malformed_payloads(case_env: CaseEnv) -> None:
    async with case_env(china(2026, 10, 12)) as env:
        case = await Driver.start(env, example("initial_complete"))
        await case.until(lambda s: s.appointment is not None)
        both = ScheduleAppraisal(
            event_id=new_id("s"), actor="W0101", session_id="X", at=china(2026, 10, 20), place="p"
        )
        assert "只能选其一" in await refused(case, AppraisalCase.schedule_appraisal, both)
        no_place = ScheduleAppraisal(event_id=new_id("s"), actor="W0101", at=china(2026, 10, 20))
        assert "须同时注明地点" in await refused(case, AppraisalCase.schedule_appraisal, no_place)
        past = ScheduleAppraisal(
            event_id=new_id("s"), actor="W0101", at=china(2026, 10, 1), place="p"
        )
        assert "不能早于今天" in await refused(case, AppraisalCase.schedule_appraisal, past)
        unknown = ScheduleAppraisal(event_id=new_id("s"), actor="W0101", session_id="NO-SUCH")
        assert "没有场次 NO-SUCH" in await refused(case, AppraisalCase.schedule_appraisal, unknown)
        refusal = ExaminationRefusal(event_id=new_id("r"), actor="W0101", reason="不愿意")
        assert "没有待做的委托检查" in await refused(
            case, AppraisalCase.record_examination_refusal, refusal
        )

        # Malformed: a payload the model rejects never reaches the case.
        assert "actor" in await refused(
            case, AppraisalCase.record_attendance, {"event_id": "m-1", "status": "attended"}
        )
        assert "status" in await refused(
            case,
            AppraisalCase.record_attendance,
            {"event_id": "m-2", "actor": "c", "status": "late"},
        )

        await case.attend()
        twice = AttendanceRecord(
            event_id=new_id("a"), actor="W0101", status=Attendance.attended, identity_verified=True
        )
        assert "stage conclusion" in await refused(case, AppraisalCase.record_attendance, twice)
        status = await case.status()
        assert status.stage is Stage.conclusion and status.closed_reason is None
        await case.handle.terminate("test over")
