"""The panel (专家组): the draw, its seats drawn again, and recusal (回避), part of organizing.

Under the rules of issue #8 (`case.jining_rules`) experts are checked on the appraisal day,
not on the day of the draw: the case books a seat, draws for its day, then settles the booking
(in one hold of the lock, so no event finds the appointment without its panel), and every
time the day moves (the office's booking, a granted reschedule) the standing panel is checked again for the
new day; a member who cannot sit then (on leave, out of term, …) loses the seat to a redraw of
that seat, the others stay. A party may ask for an expert's recusal with a reason
before the appraisal: that seat is drawn again the same way, the expert excluded from every
later draw. A person with a declared conflict with the worker or the employer may not act on
the case (art. 27): `clear_actor` refuses them. Cases started before draw on the day of the
draw, as they did."""

from __future__ import annotations

from datetime import date

from temporalio import workflow

from workflows.actors import refuse_conflicted
from workflows.case_file import CaseFile
from workflows.records import ACTIVITY_OPTIONS, notify, record_event, short, show

with workflow.unsafe.imports_passed_through():
    from activities.experts import Experts
    from schemas.clock import CHINA_TZ
    from schemas.events import CaseEvent, RecusalRequest
    from schemas.steps import (
        RECUSAL_PARTY_LABELS,
        Appointment,
        Exclusion,
        Panel,
        PanelDrawRequest,
        Recusal,
        StaffCheck,
        Stage,
    )
    from schemas.vocabulary import EventKind, Party


def panel_size(case: CaseFile) -> int:
    return 5 if case.application.severe else 3


def appraisal_day(case: CaseFile) -> date:
    """The day the experts must be able to sit: the booked appraisal day (jining rules)."""
    if case.jining_rules and case.appointment is not None:
        return case.appointment.starts_at.astimezone(CHINA_TZ).date()
    return workflow.now().astimezone(CHINA_TZ).date()


def replaced(standing: list[str], panel: Panel) -> list[Exclusion]:
    """The standing members who lost their seat, each with the reason."""
    return [x for x in panel.exclusions if x.expert_id in standing]


async def draw(case: CaseFile, cause: str = "redraw", on: date | None = None) -> bool:
    """One draw for day `on` (default: the appraisal day), recorded; True when the panel is
    full, else the shortage is escalated. With a standing panel (jining rules) only the seats
    of members who cannot sit are drawn."""
    app = case.application
    standing = case.panel_ids if case.jining_rules else []
    day = on or appraisal_day(case)
    # The seed comes from the workflow's deterministic random and is stored with the draw,
    # so auditors can redo it from the stored pool snapshot.
    seed = workflow.random().randint(1, 2**31 - 1)
    panel = await short(
        case,
        Experts.draw_panel,
        PanelDrawRequest(
            case_id=case.case_id,
            stage=Stage.organizing,
            specialties=app.injury.specialties,
            size=panel_size(case),
            seed=seed,
            attempt=case.draw_attempt,
            on=day,
            citizen_id=app.worker.citizen_id,
            employer_credit_code=app.employer.credit_code,
            treating_hospitals=app.injury.treating_hospitals,
            treating_doctors=app.injury.treating_doctors,
            standing=standing,
            recused=case.recusals,
            senior_only=case.jining_rules,
        ),
        f"抽取专家 (draw {case.draw_attempt}, {panel_size(case)} experts)",
    )
    summary: dict[str, object] = {
        "attempt": panel.attempt,
        "seed": panel.seed,
        "members": [m.expert_id for m in panel.members],
        "eligible": panel.eligible,
        "excluded": len(panel.exclusions),
        "short_by": panel.short_by,
    }
    kind = EventKind.panel_drawn
    if case.jining_rules:
        summary["on"] = day.isoformat()
    if standing:  # the seats of members who cannot sit are drawn again, with the reasons
        kind = EventKind.panel_rechecked
        summary["cause"] = cause
        summary["replaced"] = [x.model_dump(mode="json") for x in replaced(standing, panel)]
    await record_event(case, f"panel.drawn:{panel.attempt}", kind, "system", summary)
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


async def redraw_seats(case: CaseFile, cause: str, on: date) -> str:
    """Check the standing panel for day `on`; redraw the seats of those who cannot sit. The
    answer names who left and why (empty when everyone stays)."""
    before = case.panel_ids
    case.draw_attempt += 1
    if not await draw(case, cause, on):
        assert case.shortage is not None
        return (
            f"专家不足 {case.shortage.short_by} 人, 已上报; 请增补专家库后 redraw_panel "
            f"(panel short by {case.shortage.short_by} for {on})"
        )
    assert case.panel is not None
    left = replaced(before, case.panel)
    if not left:
        return ""
    joined = [e for e in case.panel_ids if e not in before]
    reasons = "; ".join(f"{x.expert_id}: {x.detail}" for x in left)
    return (
        f"专家组按鉴定日 {on} 复核, 重抽席位 {', '.join(joined)} ({reasons}) "
        f"(panel checked for {on}: {len(left)} seat(s) redrawn)"
    )


async def for_the_day(case: CaseFile, booked: Appointment, cause: str) -> str:
    """Every booking (jining rules), before it is settled and under the same hold of the
    case's lock: the first draws the panel for its day; a later one checks the standing panel
    for the new day and redraws only the seats of members who cannot sit. During a shortage
    nothing is checked: the redraw to come is made for the day as it is then."""
    if not case.jining_rules or case.shortage is not None:
        return ""
    day = booked.starts_at.astimezone(CHINA_TZ).date()
    if case.panel is None:
        await draw(case, on=day)  # a shortage is escalated and waits for redraw_panel
        return ""
    found = await redraw_seats(case, cause, day)
    return f"; {found}" if found else ""


def check_recusal(case: CaseFile, request: RecusalRequest) -> None:
    if not case.jining_rules:
        raise ValueError(
            "本案受理早于当事人申请回避的规定, 请按原程序处理 "
            "(this case started before party recusal requests were handled here)"
        )
    if case.stage is not Stage.organizing or case.closed or case.attendance is not None:
        raise ValueError(
            "申请回避须在现场鉴定之前提出; 对结论有异议可申请再次鉴定 "
            f"(a recusal is asked for before the appraisal; case is in stage {case.stage.value})"
        )
    if case.panel is None or case.shortage is not None:
        raise ValueError("专家组尚未抽定 (the panel is not drawn yet)")
    if request.expert_id not in case.panel_ids:
        raise ValueError(
            f"专家 {request.expert_id} 不是本案专家组成员 (panel: {', '.join(case.panel_ids)})"
        )


async def recuse(case: CaseFile, request: RecusalRequest) -> str:
    """Record the party's request and redraw only that seat; the recused expert is excluded
    from every later draw of the case."""
    recusal = Recusal(
        expert_id=request.expert_id, requested_by=request.requested_by, reason=request.reason
    )
    await record_event(
        case,
        f"recusal.requested:{request.event_id}",
        EventKind.recusal_requested,
        request.actor,
        recusal.model_dump(mode="json"),
    )
    case.recusals.append(recusal)
    party = RECUSAL_PARTY_LABELS[request.requested_by]
    found = await redraw_seats(case, "recusal", appraisal_day(case))
    return f"{party}申请 {request.expert_id} 回避, 已准许 (recusal granted): {found}"


async def clear_actor(case: CaseFile, event: CaseEvent, step: str) -> None:
    """Refuse the step when its actor declared a conflict with the case's worker or employer
    (art. 27: committee members and staff recuse too); the refusal is recorded. Since
    proven actors the gate finds the conflict with the actor's roles (workflows/actors.py)."""
    if not case.jining_rules or case.proven_actors:
        return
    app = case.application
    conflict = await workflow.execute_activity_method(
        Experts.check_staff_conflict,
        StaffCheck(
            case_id=case.case_id,
            stage=case.stage,
            actor=event.actor,
            citizen_id=app.worker.citizen_id,
            employer_credit_code=app.employer.credit_code,
        ),
        summary=f"回避审查 (recusal check: {event.actor})",
        **ACTIVITY_OPTIONS,
    )
    if conflict is not None:
        await refuse_conflicted(case, event, step, conflict)
