"""Stage 1, acceptance (材料受理): register, capture the deadline policy, check eligibility and
duplicates, accept a complete application at once or run the supplement procedure."""

from __future__ import annotations

from datetime import date, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows import clocks, patches, rules
from workflows.case_file import CaseFile
from workflows.records import (
    ACTIVITY_OPTIONS,
    close,
    enter_stage,
    notify,
    record_event,
    record_milestone,
    short,
    show,
)

with workflow.unsafe.imports_passed_through():
    from activities.policy import Policies
    from activities.prior import PriorConclusions
    from activities.storage import Storage
    from schemas.application import ApplicantRole, CaseType
    from schemas.clock import china_text, today
    from schemas.events import MaterialsSupplemented, SupplementExtension, SupplementNotice
    from schemas.steps import (
        STAGE_LABELS,
        CaseRegistration,
        Milestone,
        PriorQuery,
        PriorRecord,
        Stage,
        TakenNumber,
    )
    from schemas.vocabulary import CASE_TYPE_LABELS, ClockName, CloseReason, EventKind, Party
    from schemas.workdays import DayUnit


async def run(case: CaseFile) -> None:
    app = case.application
    # Captured once, here: the history keeps this policy for the life of the case.
    load = workflow.execute_local_activity_method if case.lean else workflow.execute_activity_method
    case.policy = policy = await load(
        Policies.load_policy, summary="读取期限政策 (deadline policy)", **ACTIVITY_OPTIONS
    )
    async with case.lock:  # events wait until the case is registered and decided on
        await register(case)
        await enter_stage(case, Stage.acceptance, actor=app.applicant.role.value)
        await record_event(
            case,
            "policy.captured",
            EventKind.policy_captured,
            "system",
            policy.model_dump(mode="json"),
        )
        if case.jining_rules and (grant := app.green_channel_grant):
            await record_event(
                case,
                "green_channel.granted",
                EventKind.green_channel_granted,
                grant.granted_by,
                grant.model_dump(mode="json", exclude={"granted_by"}),
            )
        if case.duplicate_of:
            kind = CASE_TYPE_LABELS[app.case_type]
            return await refuse(
                case,
                "duplicate",
                f"重复申请: 该职工同一伤情的{kind}正在办理中, 案号 {case.duplicate_of} "
                "(an open case exists for this worker and injury)",
            )
        if problem := await eligibility_problem(case):
            return await refuse(case, "eligibility", problem)
        handed_in = {m.kind for m in app.materials}
        if case.jining_rules:  # the checklist of the policy captured above
            case.missing = [k for k in policy.checklist(app) if k not in handed_in]
        else:
            case.missing = rules.missing_materials(app.case_type, handed_in)
        if not case.missing:
            return await accept(case, case.receipt_date)
    await supplement(case)


async def register(case: CaseFile) -> None:
    """Bind the case number to this run; a number another case holds fails this run at once,
    before anything of the other case is touched."""
    app = case.application
    registration = await short(
        case,
        Storage.register_case,
        CaseRegistration(
            case_id=case.case_id,
            stage=Stage.acceptance,
            case_type=app.case_type,
            citizen_id=app.worker.citizen_id,
            green_channel=app.green_channel,
            mode=app.mode,
            jurisdiction=app.jurisdiction,
            received_at=case.received_at,
            injury_key=app.injury.occurred_on.isoformat(),
            first_run_id=workflow.info().first_execution_run_id,
        ),
        "登记案件 (register the case number)",
    )
    if registration.taken is not None:
        raise number_taken(registration.taken)
    case.duplicate_of = registration.duplicate_of
    case.registered = True


def number_taken(taken: TakenNumber) -> ApplicationError:
    state = STAGE_LABELS[taken.stage]
    received = china_text(taken.received_at)
    closed = f", {taken.closed_reason}" if taken.closed_reason else ""
    return ApplicationError(
        f"案号 {taken.case_id} 已用于另一案件 ({received} 收到, 当前 {state}{closed}), 本次启动未受理, "
        f"原案件未作任何改动; 请用新案号重新提交 (`appraisal number`). "
        f"(case number {taken.case_id} already belongs to a case in stage {taken.stage.value}: "
        "nothing of it was touched; start this application under a new number)",
        {"case_id": taken.case_id, "stage": taken.stage.value},
        type="CaseNumberTaken",
        non_retryable=True,
    )


async def eligibility_problem(case: CaseFile) -> str | None:
    app, policy = case.application, case.policy
    assert policy is not None
    if problem := rules.determination_problem(app):
        return problem
    prior = app.prior_conclusion
    if case.archive_package and prior and app.case_type in PRIOR_CASE_TYPES:
        record = await recorded_prior(case)
        if record is not None:  # the prior case is in this system: its record decides
            if problem := rules.recorded_prior_problem(prior, record):
                return problem
            recipient = "employer" if app.applicant.role is ApplicantRole.employer else "worker"
            delivered = record.delivered_on.get(recipient)
            if app.case_type is CaseType.re_appraisal and delivered and prior.received_on:
                if problem := rules.recorded_receipt_problem(
                    prior.received_on, delivered, record.case_id, recipient in record.deemed
                ):
                    return problem
                # Received = the date signed for (Civil Procedure Law art. 87), or the date
                # deemed delivered by public notice, as recorded.
                prior = prior.model_copy(update={"received_on": delivered})
    if app.case_type is CaseType.re_appraisal and prior and prior.received_on:
        window = await clocks.due(
            case, prior.received_on, policy.re_appraisal_window_days, DayUnit.calendar_days
        )
        # Time in transit is not counted: a mailed application is in time when posted in time.
        return rules.re_appraisal_problem(
            prior.received_on,
            window.due,
            policy.re_appraisal_window_days,
            app.posted_on or case.receipt_date,
            posted=app.posted_on is not None,
        )
    if app.case_type is CaseType.review and prior:
        return rules.review_problem(
            prior.concluded_on, policy.review_after_years, case.receipt_date
        )
    return None


PRIOR_CASE_TYPES = (CaseType.re_appraisal, CaseType.review)


async def recorded_prior(case: CaseFile) -> PriorRecord | None:
    """The prior conclusion as this system recorded it (None: not a case of this system),
    and an event saying what the check found (no personal data)."""
    prior = case.application.prior_conclusion
    assert prior is not None
    record: PriorRecord | None = await short(
        case,
        PriorConclusions.find_prior_conclusion,
        PriorQuery(
            case_id=case.case_id,
            stage=Stage.acceptance,
            prior_case_id=prior.case_id,
            citizen_id=case.application.worker.citizen_id,
        ),
        f"核对原鉴定结论 {prior.case_id} (the prior conclusion as recorded)",
    )
    found = (
        record.model_dump(mode="json", exclude={"closed_reason"})
        if record
        else {"case_id": prior.case_id, "in_this_system": False}
    )
    await record_event(
        case, "prior_conclusion.checked", EventKind.prior_conclusion_checked, "system", found
    )
    return record


async def refuse(case: CaseFile, rule: str, reason: str) -> None:
    await record_event(
        case, "application.refused", EventKind.application_refused, "system", {"rule": rule}
    )
    await close(case, CloseReason.refused, reason)


async def accept(case: CaseFile, complete_on: date) -> None:
    """立申立受: complete → accepted; the conclusion clock runs from `complete_on`."""
    assert case.policy is not None
    case.complete_on = complete_on
    await record_milestone(
        case,
        Milestone(
            case_id=case.case_id,
            stage=Stage.acceptance,
            name="application_complete",
            at=workflow.now(),
        ),
        "材料齐全 (application complete)",
    )
    policy = case.policy
    limit = await clocks.due(case, complete_on, policy.conclusion_days, DayUnit.calendar_days)
    dues = {ClockName.conclusion: limit}
    if case.green:
        dues[ClockName.green_conclusion] = await clocks.due(
            case, complete_on, policy.green_channel.conclusion_days, DayUnit.calendar_days
        )
    case.conclusion_due = {name: due.due for name, due in dues.items()}
    for name in case.conclusion_due:
        clocks.start_clock(case, name, dues[name])
        clocks.watch_in_background(case, name, lambda: case.decided)
    await record_event(
        case,
        "application.accepted",
        EventKind.application_accepted,
        "system",
        {"complete_on": complete_on.isoformat(), "conclusion_due": limit.due.isoformat()},
    )


async def move_conclusion_clocks(case: CaseFile) -> None:
    """Each running conclusion clock after a granted reschedule or the one extension: its
    length plus the delays, counted again from the complete application by the counting rule
    (a moved due date is never an earlier due date plus days: that could end on a holiday)."""
    assert case.policy is not None and case.complete_on is not None
    lengths = {
        ClockName.conclusion: case.policy.conclusion_days + case.extension_days,
        ClockName.green_conclusion: case.policy.green_channel.conclusion_days,
    }
    for name, base in case.conclusion_due.items():
        if name not in case.clocks:
            continue
        if case.lean or workflow.patched(patches.RECOUNTED_MOVES):
            days = lengths[name] + case.shift_days
            moved = await clocks.due(case, case.complete_on, days, DayUnit.calendar_days)
            clocks.start_clock(case, name, moved)
        else:  # cases that moved a clock before the recount: the old arithmetic, replayed
            extra = case.shift_days + (case.extension_days if name is ClockName.conclusion else 0)
            clocks.start_clock(case, name, base + timedelta(days=extra))


async def supplement(case: CaseFile) -> None:
    """One notice listing everything missing within the notice clock, then the wait."""
    assert case.policy is not None
    notice_due = await clocks.due(
        case, case.receipt_date, case.policy.supplement_notice(case.green), DayUnit.working_days
    )
    clocks.start_clock(case, ClockName.supplement_notice, notice_due)
    await clocks.watch(case, ClockName.supplement_notice, lambda: case.notice is not None)
    while case.outstanding():
        assert case.supplement_due is not None
        if not await supplement_until(case, case.supplement_due):
            labels = "、".join(rules.MATERIAL_LABELS[kind] for kind in case.outstanding())
            kinds = ", ".join(case.outstanding())
            reason = f"补正期限 {case.supplement_due} 届满仍未补齐: {labels} ({kinds})"
            return await close(case, CloseReason.abandoned, reason)
    await accept(case, today())


async def supplement_until(case: CaseFile, due_on: date) -> bool:
    """False when `due_on` passed with materials outstanding; True when they all came in or
    a recorded good reason moved the deadline (the caller then waits again)."""
    clocks.start_clock(case, ClockName.supplement, due_on)
    met = await clocks.in_time(
        case, ClockName.supplement, lambda: not case.outstanding() or case.supplement_due != due_on
    )
    clocks.stop_clock(case, ClockName.supplement)
    return met


def check_notice(case: CaseFile, notice: SupplementNotice) -> None:
    if case.stage is not Stage.acceptance or case.complete_on or case.closed:
        raise ValueError(f"补正通知只能在材料受理阶段发出 (case is in stage {case.stage.value})")
    if not case.missing:
        raise ValueError("材料齐全, 无需补正 (the checklist is complete: nothing to supplement)")
    if case.notice is not None:
        raise ValueError("一次性告知已发出, 不得再次通知 (the one-time notice was already issued)")
    listed = {item.kind for item in notice.items}
    if left_out := [kind for kind in case.missing if kind not in listed]:
        labels = "、".join(rules.MATERIAL_LABELS[k] for k in left_out)
        raise ValueError(f"一次性告知须列明全部缺少的材料, 还缺: {labels} ({', '.join(left_out)})")


async def issue_notice(case: CaseFile, notice: SupplementNotice) -> str:
    assert case.policy is not None
    issued_on = today()
    wait = await clocks.due(
        case, issued_on, case.policy.supplement_wait_days, DayUnit.calendar_days
    )
    items = [item.model_dump(mode="json") for item in notice.items]
    await record_event(
        case,
        "supplement.notice",
        EventKind.supplement_notice,
        notice.actor,
        {"items": items, "due": wait.due.isoformat()},
    )
    await notify(
        case,
        "supplement.notice",
        Party.applicant,
        "补正材料一次性告知书",
        {
            "items": items,
            "supplement_by": wait.due.isoformat(),
            "text": f"请于{wait.due:%Y年%m月%d日}前补交: "
            + "、".join(rules.MATERIAL_LABELS[item.kind] for item in notice.items)
            + "。逾期无正当理由未补正的, 视为放弃申请。",
        },
    )
    case.supplement_due = wait.due
    case.notice = notice  # last: the stage moves on once the notice is on record
    show(case)
    return f"supplement notice issued; materials due by {wait.due}"


def check_supplemented(case: CaseFile, event: MaterialsSupplemented) -> None:
    if case.stage is not Stage.acceptance or case.notice is None or case.complete_on:
        raise ValueError(
            "补正材料只能在一次性告知之后、受理之前提交 (materials outside the supplement procedure)"
        )


async def on_supplemented(case: CaseFile, event: MaterialsSupplemented) -> str:
    await record_event(
        case,
        f"materials:{event.event_id}",
        EventKind.materials_supplemented,
        event.actor,
        {"kinds": [m.kind.value for m in event.materials]},
    )
    case.supplied.extend(event.materials)
    show(case)
    return "materials recorded"


def check_extension(case: CaseFile, extension: SupplementExtension) -> None:
    if case.supplement_due is None or case.complete_on or case.closed:
        raise ValueError("没有进行中的补正期限 (no supplement period is running)")
    if extension.until <= case.supplement_due:
        raise ValueError(f"延长后的期限须晚于 {case.supplement_due} (until must be later)")


async def extend(case: CaseFile, extension: SupplementExtension) -> str:
    await record_event(
        case,
        f"supplement.extended:{extension.event_id}",
        EventKind.supplement_extended,
        extension.actor,
        {
            "reason": extension.reason,
            "from": str(case.supplement_due),
            "until": extension.until.isoformat(),
        },
    )
    case.supplement_due = extension.until
    show(case)
    return f"supplement deadline moved to {extension.until}"
