"""Stage 3, conclusion (结论出具): the panel's opinions, their majority, the committee's decision.

Validators answer the sender at once with what is wrong; handlers record the event and change
the case only after it passed."""

from __future__ import annotations

from temporalio import workflow

from workflows.case_file import CaseFile
from workflows.records import STORAGE_OPTIONS, enter_stage, record_event, show

with workflow.unsafe.imports_passed_through():
    from activities.storage import Storage
    from schemas.events import ConclusionDecision, ExpertOpinion
    from schemas.steps import ConclusionRecord, Stage


def _expect_stage(case: CaseFile, what: str) -> None:
    if case.stage is not Stage.conclusion:
        raise ValueError(f"{what}只能在结论出具阶段录入 (case is in stage {case.stage.value})")


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
        **STORAGE_OPTIONS,
    )
    case.conclusion = decision.outcome  # only now: the stage moves on once it is on record
    show(case)
    return f"conclusion issued: {decision.outcome.label()}"


async def run(case: CaseFile) -> None:
    await enter_stage(case, Stage.conclusion)
    await workflow.wait_condition(lambda: case.conclusion is not None)
