"""Event commands: what the window, the site, the hospital and the post office report.

Updates answer at once (accepted, or refused with the reason); signals are facts from other
systems. Each takes --event to make a retry safe: it is the update's id (the server answers a
repeat with the first outcome), and the workflow ignores a signal it has seen. --json prints
{"case_id", "answer"}."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from activities.shipments import waybill_problem
from schemas.application import MaterialKind
from schemas.clock import CHINA_TZ
from schemas.events import (
    AddressCorrection,
    Attendance,
    AttendanceRecord,
    ConclusionDecision,
    ConclusionExtension,
    ExaminationOrder,
    ExaminationRefusal,
    ExaminationResults,
    ExpertOpinion,
    MaterialsSupplemented,
    PanelRedraw,
    PostalEvent,
    PostalStatus,
    ReAppraisalRequest,
    RecusalRequest,
    Reschedule,
    ReviewLayer,
    ReviewSignoff,
    ScheduleAppraisal,
    SupplementExtension,
    SupplementNotice,
)
from schemas.outcome import SelfCare, Verdict
from schemas.steps import Recipient, RecusalParty
from starter.app import (
    Actor,
    AsJson,
    EventIdOpt,
    app,
    event,
    refuse,
    run_on_db,
    send_signal,
    send_update,
)
from workflows.case import AppraisalCase

Reason = Annotated[str, typer.Option(help="the reason, for the record")]
At = Annotated[
    str | None, typer.Option(help="ISO time with offset, e.g. 2026-10-13T09:00:00+08:00")
]


@app.command("supplement-notice")
def supplement_notice(
    case_id: str,
    missing: Annotated[list[MaterialKind], typer.Option(help="each missing kind (repeat)")],
    note: Annotated[str | None, typer.Option(help="what exactly is missing")] = None,
    actor: Actor = None,
    event_id: EventIdOpt = None,
    as_json: AsJson = False,
) -> None:
    """Issue the one-time notice listing everything missing (一次性告知)."""
    items = [{"kind": kind, "note": note} for kind in missing]
    send_update(
        case_id,
        AppraisalCase.issue_supplement_notice,
        event(SupplementNotice, event_id, actor, items=items),
        as_json=as_json,
    )


@app.command()
def supplemented(
    case_id: str,
    material: Annotated[list[MaterialKind], typer.Option(help="each kind handed in (repeat)")],
    actor: Actor = None,
    event_id: EventIdOpt = None,
    as_json: AsJson = False,
) -> None:
    """Report materials handed in after the notice (补正材料)."""
    materials = [{"kind": kind, "title": kind.value} for kind in material]
    payload = event(MaterialsSupplemented, event_id, actor, materials=materials)
    send_signal(
        case_id,
        AppraisalCase.materials_supplemented,
        payload,
        "materials reported",
        as_json=as_json,
    )


@app.command("extend-supplement")
def extend_supplement(
    case_id: str,
    until: Annotated[str, typer.Option(help="new last day, YYYY-MM-DD")],
    reason: Reason,
    actor: Actor = None,
    event_id: EventIdOpt = None,
    as_json: AsJson = False,
) -> None:
    """Record a good reason and give more time to supplement."""
    payload = event(SupplementExtension, event_id, actor, until=until, reason=reason)
    send_update(case_id, AppraisalCase.extend_supplement_deadline, payload, as_json=as_json)


@app.command()
def redraw(
    case_id: str,
    reason: Reason,
    actor: Actor = None,
    event_id: EventIdOpt = None,
    as_json: AsJson = False,
) -> None:
    """Draw the panel again after a shortage, once the pool was extended."""
    send_update(
        case_id,
        AppraisalCase.redraw_panel,
        event(PanelRedraw, event_id, actor, reason=reason),
        as_json=as_json,
    )


@app.command()
def recuse(
    case_id: str,
    expert: Annotated[str, typer.Option(help="expert id, a panel member")],
    by: Annotated[RecusalParty, typer.Option("--by", help="who asks: worker or employer")],
    reason: Reason,
    actor: Actor = None,
    event_id: EventIdOpt = None,
    as_json: AsJson = False,
) -> None:
    """Record a party's request for an expert's recusal (回避), before the appraisal: that seat
    is drawn again, the others stay."""
    payload = event(
        RecusalRequest, event_id, actor, expert_id=expert, requested_by=by, reason=reason
    )
    send_update(case_id, AppraisalCase.request_recusal, payload, as_json=as_json)


@app.command()
def schedule(
    case_id: str,
    session: Annotated[str | None, typer.Option(help="a session id")] = None,
    at: At = None,
    place: Annotated[str | None, typer.Option()] = None,
    actor: Actor = None,
    event_id: EventIdOpt = None,
    as_json: AsJson = False,
) -> None:
    """The office books the appraisal: a session, or a time and place (walk-in, home visit)."""
    payload = event(ScheduleAppraisal, event_id, actor, session_id=session, at=at, place=place)
    send_update(case_id, AppraisalCase.schedule_appraisal, payload, as_json=as_json)


@app.command()
def reschedule(
    case_id: str,
    reason: Reason,
    session: Annotated[
        str | None, typer.Option(help="a session id (default: the next free seat)")
    ] = None,
    at: At = None,
    place: Annotated[str | None, typer.Option()] = None,
    actor: Actor = None,
    event_id: EventIdOpt = None,
    as_json: AsJson = False,
) -> None:
    """Grant the worker's request to move the appraisal; the conclusion deadline moves too."""
    payload = event(
        Reschedule, event_id, actor, reason=reason, session_id=session, at=at, place=place
    )
    send_update(case_id, AppraisalCase.reschedule, payload, as_json=as_json)


@app.command()
def attend(
    case_id: str,
    no_show: Annotated[bool, typer.Option("--no-show", help="the worker did not come")] = False,
    identity_verified: Annotated[bool, typer.Option("--identity-verified")] = False,
    good_reason: Annotated[str | None, typer.Option(help="why the worker could not come")] = None,
    actor: Actor = None,
    event_id: EventIdOpt = None,
    as_json: AsJson = False,
) -> None:
    """Record attendance at the appraisal (identity verified), or a no-show."""
    status = Attendance.no_show if no_show else Attendance.attended
    payload = event(
        AttendanceRecord,
        event_id,
        actor,
        status=status,
        identity_verified=identity_verified,
        good_reason=good_reason,
    )
    send_update(case_id, AppraisalCase.record_attendance, payload, as_json=as_json)


@app.command()
def examination(
    case_id: str,
    hospital: Annotated[str, typer.Option()],
    item: Annotated[list[str], typer.Option(help="each examination (repeat)")],
    actor: Actor = None,
    event_id: EventIdOpt = None,
    as_json: AsJson = False,
) -> None:
    """The panel commissions examinations from a hospital (委托检查)."""
    payload = event(ExaminationOrder, event_id, actor, hospital=hospital, items=item)
    send_update(case_id, AppraisalCase.commission_examination, payload, as_json=as_json)


@app.command("examination-results")
def examination_results(
    case_id: str,
    summary: Annotated[str, typer.Option()],
    actor: Actor = None,
    event_id: EventIdOpt = None,
    as_json: AsJson = False,
) -> None:
    """The hospital reports the examination results."""
    payload = event(ExaminationResults, event_id, actor, summary=summary)
    send_signal(
        case_id, AppraisalCase.examination_results, payload, "results reported", as_json=as_json
    )


@app.command("examination-refused")
def examination_refused(
    case_id: str,
    reason: Reason,
    actor: Actor = None,
    event_id: EventIdOpt = None,
    as_json: AsJson = False,
) -> None:
    """The worker refuses the commissioned examinations: this appraisal ends."""
    send_update(
        case_id,
        AppraisalCase.record_examination_refusal,
        event(ExaminationRefusal, event_id, actor, reason=reason),
        as_json=as_json,
    )


@app.command()
def opinion(
    case_id: str,
    expert: Annotated[str, typer.Option(help="expert id, a panel member")],
    verdict: Annotated[
        Verdict, typer.Option(help="grade_1..grade_10, below_grade, or illness scale")
    ],
    self_care: Annotated[SelfCare, typer.Option()] = SelfCare.none,
    actor: Annotated[
        str | None,
        typer.Option(help="who enters it: the expert's own id (the default; nobody else may)"),
    ] = None,
    event_id: EventIdOpt = None,
    as_json: AsJson = False,
) -> None:
    """Record an expert's opinion (专家意见) at the appraisal site, entered by the expert."""
    outcome = {"verdict": verdict, "self_care": self_care}
    send_update(
        case_id,
        AppraisalCase.record_opinion,
        event(ExpertOpinion, event_id, actor or expert, expert_id=expert, outcome=outcome),
        as_json=as_json,
    )


@app.command()
def review(
    case_id: str,
    layer: Annotated[ReviewLayer, typer.Option(help="examination, chief_examination, recheck")],
    send_back: Annotated[
        bool, typer.Option("--return", help="send the case back to the panel")
    ] = False,
    reason: Annotated[
        str | None, typer.Option(help="why it goes back (required with --return)")
    ] = None,
    signer: Annotated[
        str | None, typer.Option(help="the name of the member who signs, printed on the letter")
    ] = None,
    actor: Actor = None,
    event_id: EventIdOpt = None,
    as_json: AsJson = False,
) -> None:
    """A review group (面检组 → 总检组 → 复核组) signs off, or sends the case back;
    a named member signs (--signer) under their own staff id (--actor)."""
    payload = event(
        ReviewSignoff,
        event_id,
        actor,
        layer=layer,
        approve=not send_back,
        reason=reason,
        signer=signer,
    )
    send_update(case_id, AppraisalCase.sign_off_review, payload, as_json=as_json)


@app.command("extend-conclusion")
def extend_conclusion(
    case_id: str,
    reason: Reason,
    actor: Actor = None,
    event_id: EventIdOpt = None,
    as_json: AsJson = False,
) -> None:
    """Extend the 60-day legal limit once by 30 days, for a complex case."""
    send_update(
        case_id,
        AppraisalCase.extend_conclusion_deadline,
        event(ConclusionExtension, event_id, actor, reason=reason),
        as_json=as_json,
    )


@app.command()
def conclude(
    case_id: str,
    verdict: Annotated[Verdict, typer.Option()],
    self_care: Annotated[SelfCare, typer.Option()] = SelfCare.none,
    basis: Annotated[
        str | None,
        typer.Option(help="standard applied (default: the standard of the case's scale)"),
    ] = None,
    findings: Annotated[
        str | None,
        typer.Option(help="伤情/病情: the site and degree of organ impairment the panel found"),
    ] = None,
    clause: Annotated[
        str | None,
        typer.Option(help="the grading clause applied, e.g. 5.9.2.3 (printed 第5.9.2.3条)"),
    ] = None,
    actor: Actor = None,
    event_id: EventIdOpt = None,
    as_json: AsJson = False,
) -> None:
    """Issue the committee's conclusion (鉴定结论), following the panel majority, with the
    panel's findings and the clause applied (both printed on the letter)."""
    outcome = {"verdict": verdict, "self_care": self_care}
    payload = event(
        ConclusionDecision,
        event_id,
        actor,
        basis=basis,
        outcome=outcome,
        findings=findings,
        clause=clause,
    )
    send_update(
        case_id,
        AppraisalCase.issue_conclusion,
        payload,
        as_json=as_json,
    )


@app.command()
def postal(
    case_id: str,
    waybill: Annotated[str, typer.Option(help="EMS waybill number")],
    status: Annotated[PostalStatus, typer.Option()] = PostalStatus.delivered,
    signer: Annotated[str | None, typer.Option(help="who signed for it")] = None,
    at: At = None,
    reason: Annotated[str | None, typer.Option(help="why it came back")] = None,
    actor: Actor = None,
    event_id: EventIdOpt = None,
    as_json: AsJson = False,
) -> None:
    """Report a postal tracking event (EMS 签收 / 退回) for a conclusion letter: refused
    unless the waybill is a letter this system sent for the case, and as the case refuses it."""
    payload = event(
        PostalEvent,
        event_id,
        actor,
        waybill_no=waybill,
        status=status,
        signer=signer,
        reason=reason,
        occurred_at=at or datetime.now(CHINA_TZ).isoformat(),
    )
    problem = run_on_db(lambda conn: waybill_problem(conn, case_id, waybill))
    if problem is not None:
        refuse(problem.message)
    send_update(case_id, AppraisalCase.report_postal_event, payload, as_json=as_json)


@app.command("correct-address")
def correct_address(
    case_id: str,
    recipient: Annotated[Recipient, typer.Option(help="whose letter was refused or came back")],
    address: Annotated[str, typer.Option(help="the corrected address, 省市区街道门牌")],
    postal_code: Annotated[str, typer.Option(help="six digits")],
    reason: Reason,
    actor: Actor = None,
    event_id: EventIdOpt = None,
    as_json: AsJson = False,
) -> None:
    """Correct a recipient's address after the courier refused the letter, or after it came
    back (then within the days the case allows; never an address a letter came back from);
    it is posted again."""
    corrected = {"text": address, "postal_code": postal_code}
    payload = event(
        AddressCorrection, event_id, actor, recipient=recipient, address=corrected, reason=reason
    )
    send_update(case_id, AppraisalCase.correct_address, payload, as_json=as_json)


@app.command("re-appraisal")
def re_appraisal(
    case_id: str,
    by: Annotated[
        Recipient, typer.Option("--by", help="who applies: worker or employer (whose window)")
    ],
    reason: Reason,
    received_on: Annotated[
        str | None, typer.Option(help="the day the committee received it, YYYY-MM-DD (today)")
    ] = None,
    posted_on: Annotated[
        str | None, typer.Option(help="the postmark of a mailed request, YYYY-MM-DD")
    ] = None,
    actor: Actor = None,
    event_id: EventIdOpt = None,
    as_json: AsJson = False,
) -> None:
    """Record a party's request for re-appraisal (申请再次鉴定), within 15 days of receiving the
    conclusion: it is referred to the provincial committee (linked case CASE-SD)."""
    payload = event(
        ReAppraisalRequest,
        event_id,
        actor,
        requested_by=by,
        reason=reason,
        received_on=received_on,
        posted_on=posted_on,
    )
    send_update(case_id, AppraisalCase.request_re_appraisal, payload, as_json=as_json)
