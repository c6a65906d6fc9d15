"""Stage 2, organizing (组织鉴定): draw the panel with recusal, book the appraisal, notify the
worker in advance, and wait for attendance."""

from __future__ import annotations

from temporalio import workflow

from workflows import clocks
from workflows.case_file import CaseFile
from workflows.records import ACTIVITY_OPTIONS, close, enter_stage, notify, record_event, show
from workflows.stages import appointments

with workflow.unsafe.imports_passed_through():
    from activities.experts import Experts
    from activities.storage import Storage
    from schemas.clock import CHINA_TZ, today
    from schemas.events import Attendance, PanelRedraw
    from schemas.steps import Appointment, Milestone, PanelDrawRequest, Stage
    from schemas.vocabulary import ClockName, CloseReason, EventKind, Party


def panel_size(case: CaseFile) -> int:
    return 5 if case.application.severe else 3


async def run(case: CaseFile) -> None:
    await enter_stage(case, Stage.organizing)
    await draw_panel(case)
    await appointments.book_first(case)
    await wait_for_attendance(case)


async def draw_panel(case: CaseFile) -> None:
    """Draw until a full panel stands; a shortage escalates and waits for `redraw_panel`."""
    while True:
        async with case.lock:
            if await draw(case):
                return
        await workflow.wait_condition(lambda: case.redraws_requested >= case.draw_attempt)
        case.draw_attempt += 1


async def draw(case: CaseFile) -> bool:
    """One draw, recorded; True when the panel is full, else the shortage is escalated."""
    app = case.application
    # The seed comes from the workflow's deterministic random and is stored with the draw,
    # so auditors can redo it from the stored pool snapshot.
    seed = workflow.random().randint(1, 2**31 - 1)
    panel = await workflow.execute_activity_method(
        Experts.draw_panel,
        PanelDrawRequest(
            case_id=case.case_id,
            stage=Stage.organizing,
            specialties=app.injury.specialties,
            size=panel_size(case),
            seed=seed,
            attempt=case.draw_attempt,
            on=workflow.now().astimezone(CHINA_TZ).date(),
            citizen_id=app.worker.citizen_id,
            employer_credit_code=app.employer.credit_code,
            treating_hospitals=app.injury.treating_hospitals,
            treating_doctors=app.injury.treating_doctors,
        ),
        summary=f"抽取专家 (draw {case.draw_attempt}, {panel_size(case)} experts)",
        **ACTIVITY_OPTIONS,
    )
    summary = {
        "attempt": panel.attempt,
        "seed": panel.seed,
        "members": [m.expert_id for m in panel.members],
        "eligible": panel.eligible,
        "excluded": len(panel.exclusions),
        "short_by": panel.short_by,
    }
    await record_event(
        case, f"panel.drawn:{panel.attempt}", EventKind.panel_drawn, "system", summary
    )
    if panel.short_by == 0:
        case.panel, case.shortage = panel, None
        show(case)
        return True
    await record_event(
        case, f"panel.shortage:{panel.attempt}", EventKind.panel_shortage, "system", summary
    )
    await notify(
        case,
        f"panel.shortage:{panel.attempt}",
        Party.supervisor,
        "专家库符合条件的专家不足",
        summary,
    )
    case.shortage = panel  # pending once recorded and escalated
    show(case)
    return False


async def watch_appointment(case: CaseFile, current: Appointment) -> None:
    clocks.start_clock(case, ClockName.attendance, current.starts_at.astimezone(CHINA_TZ).date())
    await clocks.watch(
        case,
        ClockName.attendance,
        lambda: case.attendance is not None or case.appointment != current,
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
        assert case.appointment is not None
        await watch_appointment(case, case.appointment)  # returns early when rescheduled
    record = case.attendance
    if record.status is Attendance.no_show:
        reason = "当次鉴定终止: 无正当理由未到场 (no-show without good reason)"
        return await close(case, CloseReason.terminated, reason)
    case.site_done_on = today()
    await workflow.execute_activity_method(
        Storage.record_milestone,
        Milestone(
            case_id=case.case_id,
            stage=Stage.organizing,
            name="site_appraisal_done",
            at=workflow.now(),
            actor=record.actor,
        ),
        summary="现场鉴定完成 (site appraisal done)",
        **ACTIVITY_OPTIONS,
    )
