"""The structured pending list (`appraisal due`): each action with whom it waits for and the
clock that governs it, from case states built by hand (pure: no workflow runs)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from schemas.application import ApplicantRole, MaterialKind
from schemas.clock import CHINA_TZ
from schemas.delivery import LetterReturn
from schemas.events import ExaminationOrder, ReviewLayer, SupplementItem, SupplementNotice
from schemas.status import PendingAction, WaitsFor
from schemas.steps import Appointment, Panel, PanelMember, Recipient, Stage
from schemas.vocabulary import ClockName, CloseReason
from tests.helpers import GRADE_8, example, signoff
from workflows.case_file import CaseFile, Clock, Delivery
from workflows.clocks import end_of

RECEIVED = datetime(2026, 10, 9, 9, 0, tzinfo=CHINA_TZ)


def case_file(name: str = "initial_complete", **fields: object) -> CaseFile:
    application = example(name)
    case = CaseFile("JN-2026-000001", application, RECEIVED, RECEIVED.date())
    for key, value in fields.items():
        setattr(case, key, value)
    return case


def clock(due_on: date, overdue: bool = False) -> Clock:
    return Clock(due_on=due_on, due_at=end_of(due_on), started_at=RECEIVED, overdue=overdue)


def panel(*experts: str) -> Panel:
    members = [PanelMember(expert_id=e, name=e, specialties=[], title="主任医师") for e in experts]
    return Panel(seed=1, pool_size=9, eligible=9, members=members)


def only(case: CaseFile) -> PendingAction:
    (pending,) = case.pending()
    return pending


def test_supplement_notice_waits_for_the_clerk_and_materials_for_the_applicant() -> None:
    case = case_file(missing=[MaterialKind.medical_records])
    case.clocks[ClockName.supplement_notice] = clock(date(2026, 10, 14))
    notice = only(case)
    assert notice.waits_for is WaitsFor.clerk and notice.clock is ClockName.supplement_notice
    assert notice.due_at == datetime(2026, 10, 15, tzinfo=CHINA_TZ) and not notice.overdue
    assert notice.due_at.utcoffset() == timedelta(hours=8)  # China time
    assert case.pending_actions() == ["issue_supplement_notice listing: medical_records"]


def test_materials_wait_for_whoever_applied() -> None:
    item = SupplementItem(kind=MaterialKind.medical_records, note="缺病历")
    notice = SupplementNotice(event_id="n-1", actor="W0101", items=[item])
    case = case_file(missing=[MaterialKind.medical_records], notice=notice)
    case.supplement_due = date(2026, 10, 30)
    case.clocks[ClockName.supplement] = clock(date(2026, 10, 30), overdue=True)
    pending = only(case)
    assert pending.action == ("materials_supplemented by 2026-10-30 (北京时间): medical_records")
    assert (pending.waits_for, pending.clock, pending.overdue) == (
        WaitsFor.worker,
        ClockName.supplement,
        True,
    )
    applicant = case.application.applicant.model_copy(update={"role": ApplicantRole.employer})
    case.application = case.application.model_copy(update={"applicant": applicant})
    assert only(case).waits_for is WaitsFor.employer


def test_attendance_is_due_at_the_appointment_hour_under_its_clock() -> None:
    starts = datetime(2026, 10, 20, 9, 30, tzinfo=CHINA_TZ)
    appointment = Appointment(session_id="S1", mode="on_site", starts_at=starts, place="鉴定大厅")
    case = case_file(stage=Stage.organizing, appointment=appointment)
    case.clocks[ClockName.attendance] = clock(date(2026, 10, 20))
    case.clocks[ClockName.conclusion] = clock(date(2026, 12, 8))
    pending = only(case)
    assert pending.action == "record_attendance at 2026-10-20 09:30 北京时间 鉴定大厅"
    assert (pending.waits_for, pending.clock, pending.due_at) == (
        WaitsFor.clerk,
        ClockName.attendance,
        starts,
    )


def test_organizing_without_a_clock_of_its_own_falls_under_the_legal_limit() -> None:
    case = case_file(stage=Stage.organizing, awaiting_schedule=True)
    case.clocks[ClockName.conclusion] = clock(date(2026, 12, 8))
    case.clocks[ClockName.green_conclusion] = clock(date(2026, 10, 30))
    pending = only(case)
    assert (pending.waits_for, pending.clock) == (WaitsFor.clerk, ClockName.green_conclusion)
    case.awaiting_schedule, case.shortage = False, panel().model_copy(update={"short_by": 2})
    pending = only(case)
    assert pending.waits_for is WaitsFor.supervisor and pending.action.startswith("panel shortage")


def test_opinions_sign_offs_and_the_conclusion_race_the_soonest_limit() -> None:
    case = case_file(stage=Stage.conclusion, panel=panel("E1", "E2", "E3"))
    case.clocks[ClockName.conclusion] = clock(date(2026, 12, 8))
    case.clocks[ClockName.site_promise] = clock(date(2026, 10, 25), overdue=True)
    case.opinions = {"E1": GRADE_8}
    opinions = case.pending()
    assert [p.action for p in opinions] == ["record_opinion from E2", "record_opinion from E3"]
    assert {(p.waits_for, p.clock, p.overdue) for p in opinions} == {
        (WaitsFor.expert, ClockName.site_promise, True)
    }
    case.opinions |= {"E2": GRADE_8, "E3": GRADE_8}
    for layer in ReviewLayer:
        pending = only(case)
        assert pending.waits_for.value == layer.value
        assert pending.action == f"sign_off_review by the {layer.value} group (round 1)"
        case.signoffs[layer] = signoff(layer)
    del case.clocks[ClockName.site_promise]  # kept: the legal limit governs now
    pending = only(case)
    assert pending == PendingAction(
        action="issue_conclusion",
        waits_for=WaitsFor.committee,
        clock=ClockName.conclusion,
        due_at=datetime(2026, 12, 9, tzinfo=CHINA_TZ),
    )


def test_examinations_wait_for_the_hospital() -> None:
    order = ExaminationOrder(
        event_id="x-1", actor="E1", hospital="济宁市第一人民医院", items=["CT"]
    )
    case = case_file(stage=Stage.conclusion, panel=panel("E1"), examination_pending=order)
    case.clocks[ClockName.examination] = clock(date(2026, 11, 1))
    pending = only(case)
    assert (pending.waits_for, pending.clock) == (WaitsFor.hospital, ClockName.examination)
    assert pending.action == "examination_results from 济宁市第一人民医院"


def test_delivery_waits_for_the_post_office_or_the_clerk_by_the_address_deadline() -> None:
    until = datetime(2026, 11, 20, 17, 0, tzinfo=CHINA_TZ)
    returned = LetterReturn(
        attempt=1, waybill_no="EA1CN", returned_on=date(2026, 11, 13), reason="查无此人"
    )
    case = case_file(stage=Stage.delivery)
    case.deliveries = {
        Recipient.worker: Delivery(waybill_no="EA2CN"),
        Recipient.employer: Delivery(returns=[returned], awaiting_until=until),
    }
    case.clocks[ClockName.delivery] = clock(date(2026, 11, 25))
    post, address = case.pending()
    assert (post.waits_for, post.clock) == (WaitsFor.post_office, ClockName.delivery)
    assert post.action == "postal_event delivered for EA2CN (worker)"
    assert (address.waits_for, address.clock, address.due_at) == (WaitsFor.clerk, None, until)
    assert address.action == (
        "correct_address for employer by 2026-11-20 17:00 北京时间, else public notice: "
        "退回 (returned): 查无此人"
    )


def test_the_dispute_window_waits_for_each_party_and_a_closed_case_for_nobody() -> None:
    case = case_file(stage=Stage.archiving)
    case.deliveries = {
        Recipient.worker: Delivery(delivered_on=date(2026, 11, 10), window_end=date(2026, 11, 25)),
        Recipient.employer: Delivery(
            delivered_on=date(2026, 11, 12), window_end=date(2026, 11, 27)
        ),
    }
    case.clocks[ClockName.dispute_window_worker] = clock(date(2026, 11, 25))
    case.clocks[ClockName.dispute_window_employer] = clock(date(2026, 11, 27))
    worker, employer = case.pending()
    assert (worker.waits_for, worker.clock) == (WaitsFor.worker, ClockName.dispute_window_worker)
    assert employer.waits_for is WaitsFor.employer
    assert employer.due_at == datetime(2026, 11, 28, tzinfo=CHINA_TZ)
    status = case.status(RECEIVED)
    assert status.pending == case.pending()
    assert status.pending_actions == [
        "request_re_appraisal by worker until 2026-11-25 24:00 北京时间",
        "request_re_appraisal by employer until 2026-11-27 24:00 北京时间",
    ]
    case.closed = CloseReason.delivered
    assert case.pending() == [] and case.status(RECEIVED).pending == []
