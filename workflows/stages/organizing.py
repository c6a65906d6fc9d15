"""Stage 2, organizing (组织鉴定): draw the panel with recusal (panel.py), book the appraisal,
notify the worker in advance, and wait for attendance. Under the rules of issue #8 the case
books first and draws for the booked day (experts must be able to sit on the appraisal day)."""

from __future__ import annotations

from temporalio import workflow

from workflows import clocks
from workflows.case_file import CaseFile
from workflows.records import close, enter_stage, record_event, record_milestone
from workflows.stages import appointments, panel

with workflow.unsafe.imports_passed_through():
    from schemas.clock import CHINA_TZ, today
    from schemas.events import Attendance, PanelRedraw
    from schemas.steps import Appointment, Milestone, Stage
    from schemas.vocabulary import ClockName, CloseReason, EventKind


async def run(case: CaseFile) -> None:
    await enter_stage(case, Stage.organizing)
    if case.jining_rules:  # book first: the panel is drawn for the booked day
        await appointments.book_first(case)
    else:
        await draw_panel(case)
        await appointments.book_first(case)
    await wait_for_attendance(case)


async def draw_panel(case: CaseFile) -> None:
    """Draw until a full panel stands; a shortage escalates and waits for `redraw_panel`."""
    while True:
        async with case.lock:
            if await panel.draw(case):
                return
        await wait_for_redraw(case)


async def wait_for_redraw(case: CaseFile) -> None:
    await workflow.wait_condition(lambda: case.redraws_requested >= case.draw_attempt)
    case.draw_attempt += 1


async def watch_appointment(case: CaseFile, current: Appointment) -> None:
    clocks.start_clock(case, ClockName.attendance, current.starts_at.astimezone(CHINA_TZ).date())
    await clocks.watch(
        case,
        ClockName.attendance,
        lambda: (
            case.attendance is not None
            or case.appointment != current
            or (case.jining_rules and case.shortage is not None)
        ),  # a seat redraw came up short
        detail="到场情况未录入 (attendance not recorded)",
    )


def check_redraw(case: CaseFile, request: PanelRedraw) -> None:
    if case.shortage is None or case.redraws_requested >= case.draw_attempt:
        raise ValueError("仅在专家不足时可重新抽取 (a redraw follows a panel shortage only)")


async def redraw(case: CaseFile, request: PanelRedraw) -> str:
    await record_event(
        case,
        f"panel.redraw:{request.event_id}",
        EventKind.panel_redraw_requested,
        request.actor,
        {"reason": request.reason},
    )
    case.redraws_requested = case.draw_attempt
    return f"redraw {case.draw_attempt + 1} requested"


async def wait_for_attendance(case: CaseFile) -> None:
    """Attended → the site appraisal is done; no-show without good reason ends the appraisal.
    A clock per appointment escalates when nothing is recorded by the end of its day."""
    while case.attendance is None:
        if case.jining_rules and case.shortage is not None:  # wait for the pool to grow
            await wait_for_redraw(case)
            await draw_panel(case)
            continue
        assert case.appointment is not None
        await watch_appointment(case, case.appointment)  # returns early when rescheduled
    record = case.attendance
    if record.status is Attendance.no_show:
        reason = "当次鉴定终止: 无正当理由未到场 (no-show without good reason)"
        return await close(case, CloseReason.terminated, reason)
    case.site_done_on = today()
    await record_milestone(
        case,
        Milestone(
            case_id=case.case_id,
            stage=Stage.organizing,
            name="site_appraisal_done",
            at=workflow.now(),
            actor=record.actor,
        ),
        "现场鉴定完成 (site appraisal done)",
    )
