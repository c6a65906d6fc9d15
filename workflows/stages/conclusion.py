"""Stage 3, conclusion (结论出具): the panel's opinions, their majority, the committee's decision.

Validators answer the sender at once with what is wrong; handlers record the event and change
the case only after it passed."""

from __future__ import annotations

from temporalio import workflow

from workflows import clocks
from workflows.case_file import CaseFile
from workflows.records import ACTIVITY_OPTIONS, close, enter_stage, notify, record_event, show

with workflow.unsafe.imports_passed_through():
    from activities.storage import Storage
    from schemas.clock import today
    from schemas.events import (
        ConclusionDecision,
        ExaminationOrder,
        ExaminationRefusal,
        ExaminationResults,
        ExpertOpinion,
    )
    from schemas.steps import ConclusionRecord, Stage
    from schemas.workdays import DayUnit


def _expect_stage(case: CaseFile, what: str) -> None:
    if case.stage is not Stage.conclusion or case.closed_reason:
        raise ValueError(f"{what}只能在结论出具阶段录入 (case is in stage {case.stage.value})")
    if case.examination_pending is not None:
        hospital = case.examination_pending.hospital
        raise ValueError(
            f"正在等待{hospital}的检查结果 (waiting for commissioned examination results)"
        )


def check_opinion(case: CaseFile, opinion: ExpertOpinion) -> None:
    if opinion.event_id in case.seen_events:
        return  # a repeat: accepted and ignored by the handler
    _expect_stage(case, "专家意见")
    if opinion.expert_id not in case.panel_ids:
        raise ValueError(
            f"专家 {opinion.expert_id} 不是本案专家组成员 (panel: {', '.join(case.panel_ids)})"
        )
    if opinion.expert_id in case.opinions:
        raise ValueError(f"专家 {opinion.expert_id} 已录入意见 (one opinion per expert)")
    if problem := opinion.outcome.scale_problem(case.application.case_type):
        raise ValueError(problem)


async def record_opinion(case: CaseFile, opinion: ExpertOpinion) -> str:
    if opinion.event_id in case.seen_events:
        return "duplicate event ignored"
    case.seen_events.add(opinion.event_id)
    case.opinions[opinion.expert_id] = opinion.outcome
    await record_event(
        case,
        key=f"opinion:{opinion.event_id}",
        kind="opinion.recorded",
        actor=opinion.actor,
        data={"expert_id": opinion.expert_id, "outcome": opinion.outcome.model_dump(mode="json")},
    )
    show(case)
    return f"opinion recorded ({len(case.opinions)}/{len(case.panel_ids)})"


def check_decision(case: CaseFile, decision: ConclusionDecision) -> None:
    if decision.event_id in case.seen_events:
        return
    _expect_stage(case, "鉴定结论")
    if case.decision_id is not None:
        raise ValueError("本案已出具结论 (a conclusion was already issued)")
    missing = [e for e in case.panel_ids if e not in case.opinions]
    if missing:
        raise ValueError(f"尚有专家未录入意见: {', '.join(missing)} (all opinions first)")
    majority = case.panel_majority
    if majority is None:
        raise ValueError(
            "专家组意见未形成多数, 需重新合议 (no majority: the panel must deliberate)"
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
    await workflow.execute_activity_method(
        Storage.record_conclusion,
        ConclusionRecord(
            case_id=case.case_id,
            stage=Stage.conclusion,
            outcome=decision.outcome,
            basis=decision.basis,
            issued_at=workflow.now(),
            issued_by=decision.actor,
        ),
        **ACTIVITY_OPTIONS,
    )
    case.conclusion = decision.outcome  # only now: the stage moves on once it is on record
    show(case)
    return f"conclusion issued: {decision.outcome.label()}"


async def run(case: CaseFile) -> None:
    await enter_stage(case, Stage.conclusion)
    while case.conclusion is None and not case.closed_reason:
        if case.examination_pending is None:
            await workflow.wait_condition(
                lambda: (
                    case.conclusion is not None
                    or case.examination_pending is not None
                    or bool(case.closed_reason)
                )
            )
            continue
        await clocks.watch(
            case,
            "examination",
            lambda: case.examination_pending is None or bool(case.closed_reason),
            detail=f"检查结果未回 ({case.examination_pending.hospital})",
        )


def check_examination(case: CaseFile, order: ExaminationOrder) -> None:
    if order.event_id in case.seen_events:
        return
    _expect_stage(case, "委托检查")
    if case.decision_id is not None:
        raise ValueError("结论已出具, 不能再委托检查 (the conclusion is already issued)")


async def commission_examination(case: CaseFile, order: ExaminationOrder) -> str:
    if order.event_id in case.seen_events:
        return "duplicate event ignored"
    case.seen_events.add(order.event_id)
    assert case.policy is not None
    wait = await clocks.due(today(), case.policy.examination_wait_days, DayUnit.calendar_days)
    details = {
        "hospital": order.hospital,
        "items": order.items,
        "results_due": wait.due.isoformat(),
    }
    await record_event(
        case, f"examination.ordered:{order.event_id}", "examination.ordered", order.actor, details
    )
    await notify(
        case, f"examination.order:{order.event_id}", order.hospital, "委托检查通知", details
    )
    case.examinations.append(order)
    case.examination_pending = order
    clocks.start_clock(case, "examination", wait.due)
    return f"examination commissioned from {order.hospital}; results due by {wait.due}"


async def on_results(case: CaseFile, results: ExaminationResults) -> None:
    if results.event_id in case.seen_events:
        return
    case.seen_events.add(results.event_id)
    if case.examination_pending is None:
        workflow.logger.warning(
            "examination results without an order ignored",
            extra={"case_id": case.case_id, "stage": case.stage},
        )
        return
    await record_event(
        case,
        f"examination.results:{results.event_id}",
        "examination.results",
        results.actor,
        {"summary_chars": len(results.summary)},
    )
    case.examination_pending = None
    show(case)


def check_refusal(case: CaseFile, refusal: ExaminationRefusal) -> None:
    if refusal.event_id in case.seen_events:
        return
    if case.examination_pending is None or case.closed_reason:
        raise ValueError("没有待做的委托检查 (no commissioned examination is pending)")


async def refuse_examination(case: CaseFile, refusal: ExaminationRefusal) -> str:
    if refusal.event_id in case.seen_events:
        return "duplicate event ignored"
    case.seen_events.add(refusal.event_id)
    await record_event(
        case,
        f"examination.refused:{refusal.event_id}",
        "examination.refused",
        refusal.actor,
        {"reason": refusal.reason},
    )
    await close(case, "terminated", f"当次鉴定终止: 拒不接受委托检查 ({refusal.reason})")
    return "appraisal terminated: the worker refused the commissioned examinations"
