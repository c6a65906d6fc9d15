"""Stage 3, conclusion (结论出具): opinions and reviews (opinions.py), examinations
(examinations.py), then the committee's decision: the conclusion letter (PDF, stored with its
SHA-256), the case record, and the benefits agency's copy queued for delivery.

The conclusion clocks run here too: the legal limit (from acceptance, extendable once), the
green channel's internal clock, and the local promise of a conclusion within 5 days of the
appraisal."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows import clocks
from workflows.case_file import CONCLUSION, SITE_PROMISE, CaseFile
from workflows.records import ACTIVITY_OPTIONS, enter_stage, queue_notice, record_event, show
from workflows.stages.acceptance import move_conclusion_clocks
from workflows.stages.opinions import LAYERS, expect_panel_at_work

with workflow.unsafe.imports_passed_through():
    from activities.documents import Documents
    from activities.storage import Storage
    from schemas.clock import CHINA_TZ
    from schemas.documents import ConclusionLetter
    from schemas.events import REVIEW_LABELS, ConclusionDecision, ConclusionExtension
    from schemas.steps import ConclusionRecord, Stage
    from schemas.workdays import DayUnit


async def run(case: CaseFile) -> None:
    await enter_stage(case, Stage.conclusion)
    assert case.policy is not None and case.site_done_on is not None
    promise = await clocks.due(
        case.site_done_on, case.policy.site_promise(case.green), DayUnit.calendar_days
    )
    clocks.start_clock(case, SITE_PROMISE, promise.due)
    clocks.watch_in_background(case, SITE_PROMISE, lambda: case.decided)
    while not case.decided:
        if case.examination_pending is None:
            await workflow.wait_condition(
                lambda: case.decided or case.examination_pending is not None
            )
            continue
        await clocks.watch(
            case,
            "examination",
            lambda: case.examination_pending is None or bool(case.closed_reason),
            detail=f"检查结果未回 ({case.examination_pending.hospital})",
        )


def check_decision(case: CaseFile, decision: ConclusionDecision) -> None:
    if decision.event_id in case.seen_events:
        return
    expect_panel_at_work(case, "鉴定结论")
    if missing := [e for e in case.panel_ids if e not in case.opinions]:
        raise ValueError(f"尚有专家未录入意见: {', '.join(missing)} (all opinions first)")
    majority = case.panel_majority
    if majority is None:
        raise ValueError(
            "专家组意见未形成多数, 需重新合议 (no majority: the panel must deliberate)"
        )
    if unsigned := [REVIEW_LABELS[layer] for layer in LAYERS if layer not in case.signoffs]:
        raise ValueError(
            f"三级复核尚未完成: 待{'、'.join(unsigned)}签署 (all three review layers first)"
        )
    if decision.outcome != majority:
        raise ValueError(
            f"结论须与专家组多数意见一致: 多数意见为 {majority.label()} "
            f"(the conclusion must follow the panel majority)"
        )


async def issue_conclusion(case: CaseFile, decision: ConclusionDecision) -> str:
    if decision.event_id in case.seen_events:
        return "duplicate event ignored"
    case.seen_events.add(decision.event_id)
    case.decision_id = decision.event_id
    issued_at = workflow.now()
    document = await workflow.execute_activity_method(
        Documents.issue_conclusion_letter,
        letter(case, decision, issued_at),
        start_to_close_timeout=timedelta(minutes=2),
        retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
    )
    case.conclusion_document = document.document_id
    await workflow.execute_activity_method(
        Storage.record_conclusion,
        ConclusionRecord(
            case_id=case.case_id,
            stage=Stage.conclusion,
            outcome=decision.outcome,
            basis=decision.basis,
            issued_at=issued_at,
            issued_by=decision.actor,
        ),
        **ACTIVITY_OPTIONS,
    )
    # 免审即享: the agency's copy is queued now; the delivery stage sends it with the letters.
    await queue_notice(
        case,
        "benefits_agency.copy",
        "社会保险经办机构",
        "劳动能力鉴定结论抄送",
        {
            "outcome": decision.outcome.model_dump(mode="json"),
            "document": document.document_id,
            "sha256": document.sha256,
        },
    )
    case.concluded_on = issued_at.astimezone(CHINA_TZ).date()
    case.conclusion = decision.outcome  # only now: the stage moves on once it is on record
    show(case)
    return f"conclusion issued: {decision.outcome.label()} (document {document.document_id}, sha256 {document.sha256[:12]}…)"


def letter(case: CaseFile, decision: ConclusionDecision, issued_at: object) -> ConclusionLetter:
    app = case.application
    members = case.panel.members if case.panel else []
    return ConclusionLetter.model_validate(
        {
            "case_id": case.case_id,
            "stage": Stage.conclusion,
            "case_type": app.case_type,
            "worker_name": app.worker.name,
            "citizen_id": app.worker.citizen_id,
            "employer_name": app.employer.name,
            "credit_code": app.employer.credit_code,
            "injury_date": app.injury.occurred_on,
            "body_parts": app.injury.body_parts,
            "diagnosis": app.injury.diagnosis,
            "description": app.injury.description,
            "outcome": decision.outcome,
            "basis": decision.basis,
            "panel": [f"{m.name} {m.title}" for m in members],
            "reviews": [f"{REVIEW_LABELS[layer]} {s.actor}" for layer, s in case.signoffs.items()],
            "issued_at": issued_at,
        }
    )


def check_extension(case: CaseFile, extension: ConclusionExtension) -> None:
    if extension.event_id in case.seen_events:
        return
    if case.decided or CONCLUSION not in case.clocks:
        raise ValueError("没有进行中的鉴定期限 (no conclusion limit is running)")
    if case.extension_days:
        raise ValueError("鉴定期限只能延长一次 (the limit was already extended once)")


async def extend(case: CaseFile, extension: ConclusionExtension) -> str:
    if extension.event_id in case.seen_events:
        return "duplicate event ignored"
    case.seen_events.add(extension.event_id)
    assert case.policy is not None
    case.extension_days = case.policy.conclusion_extension_days
    await record_event(
        case,
        "conclusion.extended",
        "conclusion.extended",
        extension.actor,
        {"reason": extension.reason, "days": case.extension_days},
    )
    move_conclusion_clocks(case)
    return f"conclusion limit extended by {case.extension_days} days to {case.clocks[CONCLUSION].due_on}"
