"""Stage 3, conclusion (结论出具): opinions and reviews (opinions.py), examinations
(examinations.py), then the committee's decision and the conclusion letter (PDF, stored with
its SHA-256), the case record, and the benefits agency's copy queued for delivery.

The decision is an update that records and answers at once; the letter is long work and runs
here, in the stage, visible as pending work: when it cannot be issued (no font, a glyph the
fonts lack) it is escalated to the supervisor and retried until it can.

The conclusion clocks run here too: the legal limit (from acceptance, extendable once), the
green channel's internal clock, and the local promise of a conclusion within 5 days of the
appraisal."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows import clocks
from workflows.case_file import CaseFile
from workflows.records import (
    enter_stage,
    notify,
    queue_notice,
    record_event,
    show,
    write,
)
from workflows.stages.acceptance import move_conclusion_clocks
from workflows.stages.opinions import LAYERS, expect_panel_at_work
from workflows.stages.panel import clear_actor

with workflow.unsafe.imports_passed_through():
    from activities.documents import Documents
    from activities.storage import Storage
    from schemas.application import Cause, Jurisdiction
    from schemas.clock import CHINA_TZ
    from schemas.documents import ConclusionLetter, DocumentRef, letters_queue
    from schemas.events import (
        GENERIC_ACTORS,
        REVIEW_LABELS,
        CaseEvent,
        ConclusionDecision,
        ConclusionExtension,
    )
    from schemas.outcome import STANDARDS, Outcome, Verdict, basis_problem
    from schemas.steps import ConclusionRecord, Stage
    from schemas.vocabulary import ClockName, EventKind, Party
    from schemas.workdays import DayUnit

UNGRADED = frozenset({Verdict.below_grade, Verdict.below_standard})
# A first try that fails fast enough to escalate within seconds, then patience until an
# operator fixed what was wrong (installed the font): the case resumes by itself.
LETTER_FIRST_TRY = RetryPolicy(maximum_attempts=3, maximum_interval=timedelta(seconds=10))
LETTER_PATIENCE = RetryPolicy(
    initial_interval=timedelta(minutes=5), maximum_interval=timedelta(hours=1)
)


async def run(case: CaseFile) -> None:
    await enter_stage(case, Stage.conclusion)
    assert case.policy is not None and case.site_done_on is not None
    promise = await clocks.due(
        case, case.site_done_on, case.policy.site_promise(case.green), DayUnit.calendar_days
    )
    clocks.start_clock(case, ClockName.site_promise, promise)
    clocks.watch_in_background(case, ClockName.site_promise, lambda: case.decided)
    while not case.decided:
        if case.examination_pending is None:
            await workflow.wait_condition(
                lambda: case.decided or case.examination_pending is not None
            )
            continue
        await clocks.watch(
            case,
            ClockName.examination,
            lambda: case.examination_pending is None or case.closed is not None,
            detail=f"检查结果未回 ({case.examination_pending.hospital})",
        )
    if case.hardened and case.closed is None:
        await issue_letter(case)


def basis_of(case: CaseFile, decision: ConclusionDecision) -> str:
    """The standard the decision names, else the standard of the case's scale."""
    return decision.basis or STANDARDS[case.application.appraised_for]


def check_named(case: CaseFile, event: CaseEvent, what: str) -> None:
    """A decision is taken by a person, recorded under their own id (相互留痕), not a role."""
    if case.jining_rules and event.actor.casefold() in GENERIC_ACTORS:
        raise ValueError(
            f"{what}须以决定人本人的工号录入, 不接受通用身份 {event.actor} "
            "(actor: the deciding member's own staff id, not a role)"
        )


def check_decision(case: CaseFile, decision: ConclusionDecision) -> None:
    check_named(case, decision, "鉴定结论")
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
    cause = case.application.appraised_for
    if case.jining_rules and decision.basis and (problem := basis_problem(decision.basis, cause)):
        raise ValueError(problem)
    if decision.outcome != majority:
        raise ValueError(
            f"结论须与专家组多数意见一致: 多数意见为 {majority.label()} "
            f"(the conclusion must follow the panel majority)"
        )
    if case.jining_rules:
        check_findings(case, decision)


def check_findings(case: CaseFile, decision: ConclusionDecision) -> None:
    """The letter states the impairment as the panel found it and the clause it was graded
    by; a conclusion below the lowest grade or standard applies no grading clause."""
    what = "病情" if case.application.appraised_for is Cause.illness else "伤情"
    if not decision.findings:
        raise ValueError(
            f"结论须写明专家组认定的{what} (findings: the site and degree of organ impairment "
            "as the panel found it, printed on the letter)"
        )
    if decision.outcome.verdict not in UNGRADED and not decision.clause:
        raise ValueError(
            "结论须写明适用的评定条款 (clause: the grading clause applied, e.g. 5.9.2.3 of "
            "GB/T 16180-2014, or the illness standard's item)"
        )


async def decide(case: CaseFile, decision: ConclusionDecision) -> str:
    """The committee's decision, recorded; the stage then issues the letter."""
    await clear_actor(case, decision, "鉴定结论")  # art. 27: no conflicted committee member
    data = {"outcome": decision.outcome.model_dump(mode="json"), "basis": basis_of(case, decision)}
    if decision.clause:  # the findings (medical content) stay out of the event log
        data["clause"] = decision.clause
    await record_event(
        case, "conclusion.decided", EventKind.conclusion_decided, decision.actor, data
    )
    case.decision = decision
    case.decided_at = workflow.now()
    case.concluded_on = case.decided_at.astimezone(CHINA_TZ).date()
    case.conclusion = decision.outcome  # the clocks stop; the stage goes on to the letter
    show(case)
    return f"conclusion decided: {decision.outcome.label()}; the conclusion letter is being issued"


async def issue_letter(case: CaseFile) -> None:
    """Render and store the letter, record the conclusion, queue the agency's copy."""
    assert case.decision is not None and case.decided_at is not None
    document = await render_letter(case, letter(case, case.decision, case.decided_at))
    await record_conclusion(case, case.decision, case.decided_at, document)
    show(case)


async def record_conclusion(
    case: CaseFile, decision: ConclusionDecision, issued_at: datetime, document: DocumentRef
) -> None:
    """The letter on the case, the conclusion on the case row, the agency's copy queued."""
    case.conclusion_document = document.document_id
    case.conclusion_sha256 = document.sha256  # the file a re-appraisal referral points to
    await write(
        case,
        ConclusionRecord(
            case_id=case.case_id,
            stage=Stage.conclusion,
            outcome=decision.outcome,
            basis=basis_of(case, decision),
            issued_at=issued_at,
            issued_by=decision.actor,
        ),
        Storage.record_conclusion,
        "记录结论 (conclusion on the case record)",
    )
    await queue_benefits_copy(case, decision.outcome, document)


async def render_letter(case: CaseFile, content: ConclusionLetter) -> DocumentRef:
    try:
        return await render_pdf(content, LETTER_FIRST_TRY, lean=case.lean)
    except ActivityError as failure:
        problem = str(failure.cause or failure)
    data = {"reason": problem}
    await record_event(case, "letter.failed", EventKind.letter_failed, "system", data)
    subject = f"案件 {case.case_id} 结论书无法出具, 请处理 (the conclusion letter cannot be issued)"
    await notify(case, "letter.failed", Party.supervisor, subject, data)
    case.letter_problem = problem  # pending once recorded and escalated
    show(case)
    while True:  # retried until fixed; a non-retryable failure is tried again hourly
        try:
            document = await render_pdf(content, LETTER_PATIENCE, lean=case.lean)
            break
        except ActivityError as failure:
            case.letter_problem = str(failure.cause or failure)
            show(case)
            await workflow.sleep(timedelta(hours=1), summary="结论书重试 (letter retry)")
    case.letter_problem = None
    return document


async def render_pdf(
    content: ConclusionLetter, retry: RetryPolicy, *, lean: bool = False
) -> DocumentRef:
    return await workflow.execute_activity_method(
        Documents.issue_conclusion_letter,
        content,
        # A new case's letter renders on the letters queue; an older case's where it did.
        task_queue=letters_queue(workflow.info().task_queue) if lean else None,
        start_to_close_timeout=timedelta(minutes=2),
        retry_policy=retry,
        summary="出具结论书 (conclusion letter PDF)",
    )


async def queue_benefits_copy(case: CaseFile, outcome: Outcome, document: DocumentRef) -> None:
    """免审即享: the agency's copy is queued now; the delivery stage sends it with the letters."""
    # 就近办: the worker is insured at the province, so the provincial agency pays.
    province = case.jining_rules and case.application.jurisdiction is Jurisdiction.province
    await queue_notice(
        case,
        "benefits_agency.copy",
        Party.provincial_agency if province else Party.benefits_agency,
        "劳动能力鉴定结论抄送",
        {
            "outcome": outcome.model_dump(mode="json"),
            "document": document.document_id,
            "sha256": document.sha256,
        },
    )


def letter(case: CaseFile, decision: ConclusionDecision, issued_at: datetime) -> ConclusionLetter:
    app = case.application
    members = case.panel.members if case.panel else []
    return ConclusionLetter.model_validate(
        {
            "case_id": case.case_id,
            "stage": Stage.conclusion,
            "case_type": app.case_type,
            "cause": app.appraised_for,
            "with_province": case.jining_rules and app.jurisdiction is Jurisdiction.province,
            "worker_name": app.worker.name,
            "citizen_id": app.worker.citizen_id,
            "employer_name": app.employer.name,
            "credit_code": app.employer.credit_code,
            "injury_date": app.injury.occurred_on,
            "body_parts": app.injury.body_parts,
            "diagnosis": app.injury.diagnosis,
            "description": app.injury.description,
            "findings": decision.findings,
            "accepted_on": case.complete_on,
            "appraised_on": case.site_done_on,
            "outcome": decision.outcome,
            "basis": basis_of(case, decision),
            "clause": decision.clause,
            "panel": [f"{m.name} {m.title}" for m in members],
            # A case signed before signers were named shows the actor, as it did.
            "reviews": [
                f"{REVIEW_LABELS[layer]} {s.signer or s.actor}"
                for layer, s in case.signoffs.items()
            ],
            "issued_at": issued_at,
        }
    )


def check_extension(case: CaseFile, extension: ConclusionExtension) -> None:
    check_named(case, extension, "延长鉴定期限")
    if case.decided or ClockName.conclusion not in case.clocks:
        raise ValueError("没有进行中的鉴定期限 (no conclusion limit is running)")
    if case.extension_days:
        raise ValueError("鉴定期限只能延长一次 (the limit was already extended once)")
    limit = case.clocks[ClockName.conclusion]
    if limit.overdue or workflow.now() >= limit.due_at:
        raise ValueError(
            f"鉴定期限已于 {limit.due_on} 届满, 延长须在届满前决定, 逾期记录保留 "
            f"(the limit ran out on {limit.due_on}: an extension is decided before it; "
            "the breach stays on record)"
        )


async def extend(case: CaseFile, extension: ConclusionExtension) -> str:
    await clear_actor(case, extension, "延长鉴定期限")  # art. 27
    assert case.policy is not None
    case.extension_days = case.policy.conclusion_extension_days
    await record_event(
        case,
        "conclusion.extended",
        EventKind.conclusion_extended,
        extension.actor,
        {"reason": extension.reason, "days": case.extension_days},
    )
    await move_conclusion_clocks(case)
    return f"conclusion limit extended by {case.extension_days} days to {case.clocks[ClockName.conclusion].due_on}"
