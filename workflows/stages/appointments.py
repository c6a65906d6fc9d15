"""The appraisal appointment: booking, the advance notice to the worker, rescheduling, and
attendance. A granted reschedule moves the conclusion deadline by the same delay."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.case_file import CaseFile
from workflows.gate import refusal
from workflows.records import moved_on, notify, record_event, short, show
from workflows.stages import panel
from workflows.stages.acceptance import move_conclusion_clocks

with workflow.unsafe.imports_passed_through():
    from activities.sessions import Sessions
    from schemas.clock import CHINA_TZ, china_text, today
    from schemas.events import Attendance, AttendanceRecord, Reschedule, ScheduleAppraisal
    from schemas.steps import Appointment, AppointmentRequest, Stage
    from schemas.vocabulary import EventKind, Party

BRING = ["居民身份证或社会保障卡", "病历、诊断证明原件", "影像资料(X光片、CT、MRI)", "本通知书"]


async def book(
    case: CaseFile, choice: ScheduleAppraisal | None, earliest_after: int = 0
) -> Appointment | None:
    assert case.policy is not None
    lead = case.policy.appointment_notice(case.green)
    try:
        return await _book(case, choice, lead, earliest_after)
    except ActivityError as error:  # a full or unknown session: tell the clerk why
        raise refusal(str(error.cause or error)) from None


async def _book(
    case: CaseFile, choice: ScheduleAppraisal | None, lead: int, earliest_after: int
) -> Appointment | None:
    return await short(
        case,
        Sessions.book_appointment,
        AppointmentRequest(
            case_id=case.case_id,
            stage=Stage.organizing,
            attempt=case.appointment_attempt + 1,
            mode=case.application.mode,
            green_channel=case.green,
            earliest=today() + timedelta(days=max(lead, earliest_after)),
            session_id=choice.session_id if choice else None,
            at=choice.at if choice else None,
            place=choice.place if choice else None,
        ),
        f"预约鉴定 (booking {case.appointment_attempt + 1})",
    )


async def settle(case: CaseFile, appointment: Appointment, actor: str) -> None:
    """Record the booking and tell the worker in advance: time, place, what to bring."""
    case.appointment_attempt += 1
    at = appointment.starts_at.astimezone(CHINA_TZ)
    details = {
        "session": appointment.session_id,
        "mode": appointment.mode.value,
        "at": at.isoformat(),
        "place": appointment.place,
    }
    await record_event(
        case,
        f"appointment.booked:{case.appointment_attempt}",
        EventKind.appointment_booked,
        actor,
        details,
    )
    await notify(
        case,
        f"appointment.notice:{case.appointment_attempt}",
        Party.worker,
        "劳动能力鉴定通知书",
        {
            **details,
            "bring": BRING,
            "text": f"请于 {at:%Y年%m月%d日 %H:%M} 到 {appointment.place} 参加劳动能力鉴定, 携带: {'、'.join(BRING)}",
        },
    )
    case.appointment, case.awaiting_schedule, case.needs_reschedule = appointment, False, False
    show(case)


async def book_first(case: CaseFile) -> None:
    """The first free seat, booked under the lock: a clerk's booking sent meanwhile applies
    after it (and moves it), never beside it."""
    async with case.lock:
        appointment = await book(case, None)
        if appointment is not None:
            await panel.for_the_day(case, appointment, "booking")  # jining: drawn for its day
            return await settle(case, appointment, "system")
        await record_event(case, "appointment.no_seat", EventKind.appointment_no_seat, "system", {})
        await notify(
            case,
            "appointment.no_seat",
            Party.supervisor,
            "无可用鉴定场次",
            {"mode": case.application.mode.value},
        )
        case.awaiting_schedule = True  # pending once recorded and escalated
        show(case)
    await workflow.wait_condition(lambda: case.appointment is not None)


def check_schedule(case: CaseFile, choice: ScheduleAppraisal) -> None:
    """The office books or moves the appraisal (no seat found, a walk-in, a home visit date);
    unlike a worker's reschedule, this never moves the legal deadline."""
    # Under the rules of issue #8 the panel is drawn for the booked day: booking comes first.
    unpanelled = case.panel is None and not case.jining_rules
    if case.stage is not Stage.organizing or unpanelled or case.closed:
        raise ValueError(
            f"鉴定安排须在专家组抽定后、组织鉴定阶段进行 (case is in stage {case.stage.value})"
        )
    if case.attendance is not None:
        raise ValueError("已录入到场情况, 不能再安排 (attendance is already recorded)")
    if not (choice.session_id or choice.at):
        raise ValueError("须指定场次或时间 (give a session_id, or a time and a place)")
    _check_choice(choice)


def _check_choice(choice: ScheduleAppraisal) -> None:
    if choice.session_id and choice.at:
        raise ValueError("场次与时间只能选其一 (give a session_id or a time, not both)")
    if choice.at and not choice.place:
        raise ValueError("安排时间须同时注明地点 (a time needs a place)")
    if choice.at and choice.at.astimezone(CHINA_TZ).date() < today():
        raise ValueError(f"鉴定时间不能早于今天 ({choice.at:%Y-%m-%d} is in the past)")


async def schedule(case: CaseFile, choice: ScheduleAppraisal) -> str:
    appointment = await book(case, choice)  # a full or unknown session fails the update
    if appointment is None:
        raise refusal(
            "仍无可用场次, 请指定场次或时间 (still no free seat: name a session or a time)"
        )
    checked = await panel.for_the_day(case, appointment, "schedule")  # able to sit that day?
    await settle(case, appointment, choice.actor)
    return f"booked {appointment.session_id} at {china_text(appointment.starts_at)}{checked}"


def check_reschedule(case: CaseFile, request: Reschedule) -> None:
    if case.stage is not Stage.organizing or case.appointment is None:
        raise ValueError(f"只有已安排的鉴定可以改期 (case is in stage {case.stage.value})")
    if case.attendance is not None:
        raise ValueError("已录入到场情况, 不能改期 (attendance is already recorded)")
    _check_choice(request)


async def reschedule(case: CaseFile, request: Reschedule) -> str:
    old = case.appointment
    assert old is not None
    old_day = old.starts_at.astimezone(CHINA_TZ).date()
    # Automatic choice: the first seat after the old appointment.
    appointment = await book(case, request, earliest_after=(old_day - today()).days + 1)
    if appointment is None:
        raise refusal("没有可改期的场次, 请指定场次或时间 (no free seat: name a session or a time)")
    delay = max((appointment.starts_at.astimezone(CHINA_TZ).date() - old_day).days, 0)
    case.shift_days += delay
    await record_event(
        case,
        f"appointment.rescheduled:{request.event_id}",
        EventKind.appointment_rescheduled,
        request.actor,
        {
            "reason": request.reason,
            "from": old_day.isoformat(),
            "delay_days": delay,
            "total_shift_days": case.shift_days,
        },
    )
    await move_conclusion_clocks(case)
    checked = await panel.for_the_day(case, appointment, "reschedule")  # able to sit that day?
    await settle(case, appointment, request.actor)
    return f"rescheduled to {china_text(appointment.starts_at)}; conclusion deadline moved {delay} days{checked}"


def check_attendance(case: CaseFile, record: AttendanceRecord) -> None:
    if case.stage is not Stage.organizing or case.appointment is None:
        raise ValueError(f"到场情况只能在组织鉴定阶段录入 (case is in stage {case.stage.value})")
    if case.attendance is not None:
        raise ValueError("到场情况已录入 (attendance already recorded)")
    day = case.appointment.starts_at.astimezone(CHINA_TZ).date()
    if today() < day:
        raise ValueError(f"鉴定尚未开始, 鉴定日期为 {day} (the appraisal is on {day})")
    # Jining rules: every booking draws or checks the panel in the same hold of the lock, so
    # the handler (which takes the lock) always finds a full panel or a shortage.
    if case.jining_rules and case.shortage is not None:
        raise ValueError(
            "专家组尚未抽定, 不能鉴定; 请增补专家库后 redraw_panel, 或改期 "
            "(no full panel for the appraisal day: extend the pool and redraw, or reschedule)"
        )
    if record.status is Attendance.attended and not record.identity_verified:
        raise ValueError("到场须核验身份 (attended needs identity_verified: true)")


async def record_attendance(case: CaseFile, record: AttendanceRecord) -> str:
    excused = record.status is Attendance.no_show and bool(record.good_reason)
    await record_event(
        case,
        f"attendance:{record.event_id}",
        EventKind.attended if record.status is Attendance.attended else EventKind.no_show,
        record.actor,
        {"identity_verified": record.identity_verified, "good_reason": record.good_reason},
    )
    if excused:
        case.needs_reschedule = True  # the clerk reschedules; the appraisal is not over
        show(case)
        return "no-show with good reason recorded: reschedule the appraisal"
    case.attendance = record
    show(case)
    await moved_on(case, Stage.organizing)  # to the conclusion, or closed by a no-show
    return f"attendance recorded: {record.status.value}"
