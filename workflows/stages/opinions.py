"""The panel's opinions and the three review layers (面检组 → 总检组 → 复核组).

An expert may correct an opinion until the review starts; both are kept in the record. The
panel opinion is the majority; a full panel without one deliberates again (recorded), with no
invented tie-break. A review group may send the case back with a reason: the panel may then
correct, and the review starts again from the examination group, a bounded number of times."""

from __future__ import annotations

from temporalio import workflow

from workflows.case_file import CaseFile
from workflows.records import record_event, show
from workflows.stages.panel import clear_actor

with workflow.unsafe.imports_passed_through():
    from schemas.events import (
        GENERIC_ACTORS,
        REVIEW_LABELS,
        ExpertOpinion,
        ReviewLayer,
        ReviewSignoff,
    )
    from schemas.steps import Stage
    from schemas.vocabulary import EventKind

LAYERS = list(ReviewLayer)


def expect_panel_at_work(case: CaseFile, what: str) -> None:
    if case.stage is not Stage.conclusion or case.closed:
        raise ValueError(f"{what}只能在结论出具阶段录入 (case is in stage {case.stage.value})")
    if case.decision is not None:
        raise ValueError("本案已出具结论 (a conclusion was already issued)")
    if case.examination_pending is not None:
        hospital = case.examination_pending.hospital
        raise ValueError(
            f"正在等待{hospital}的检查结果 (waiting for commissioned examination results)"
        )


def check_opinion(case: CaseFile, opinion: ExpertOpinion) -> None:
    expect_panel_at_work(case, "专家意见")
    if opinion.expert_id not in case.panel_ids:
        raise ValueError(
            f"专家 {opinion.expert_id} 不是本案专家组成员 (panel: {', '.join(case.panel_ids)})"
        )
    if case.jining_rules and opinion.actor != opinion.expert_id:
        raise ValueError(
            f"专家意见须由专家本人录入, actor 应为专家编号 {opinion.expert_id} "
            f"(an opinion is entered by the expert: actor must be the expert's own id)"
        )
    if problem := opinion.outcome.scale_problem(
        case.application.appraised_for, self_care_checked=case.jining_rules
    ):
        raise ValueError(problem)
    if case.opinions.get(opinion.expert_id) == opinion.outcome:
        raise ValueError(
            f"专家 {opinion.expert_id} 已录入相同意见 (duplicate of the recorded opinion)"
        )
    if opinion.expert_id in case.opinions and case.signoffs:
        raise ValueError("复核已开始, 须由复核组退回后才能更正意见 (review in progress)")


async def record_opinion(case: CaseFile, opinion: ExpertOpinion) -> str:
    earlier = case.opinions.get(opinion.expert_id)
    case.opinions[opinion.expert_id] = opinion.outcome
    data = {"expert_id": opinion.expert_id, "outcome": opinion.outcome.model_dump(mode="json")}
    if earlier:
        data["replaces"] = earlier.model_dump(mode="json")
    kind = EventKind.opinion_corrected if earlier else EventKind.opinion_recorded
    await record_event(case, f"opinion:{opinion.event_id}", kind, opinion.actor, data)
    if case.all_opinions_in and case.panel_majority is None:
        case.deliberations += 1
        votes = {e: o.label() for e, o in case.opinions.items()}
        await record_event(
            case,
            f"panel.deliberation:{case.deliberations}",
            EventKind.panel_deliberation,
            "system",
            {"round": case.deliberations, "opinions": votes},
        )
    show(case)
    if case.all_opinions_in and case.panel_majority is None:
        return f"opinion recorded; no majority: the panel deliberates again (round {case.deliberations})"
    return f"opinion {'corrected' if earlier else 'recorded'} ({len(case.opinions)}/{len(case.panel_ids)})"


def check_signoff(case: CaseFile, signoff: ReviewSignoff) -> None:
    expect_panel_at_work(case, "复核签署")
    if not case.all_opinions_in or case.panel_majority is None:
        raise ValueError("专家组意见尚未形成多数 (review needs every opinion and a majority)")
    expected = LAYERS[len(case.signoffs)] if len(case.signoffs) < len(LAYERS) else None
    if signoff.layer is not expected:
        raise ValueError(
            f"应由{REVIEW_LABELS[expected]}签署 (the {expected.value} group signs next)"
            if expected
            else "三级复核已全部签署 (all three review layers have signed)"
        )
    if case.jining_rules:
        check_signer(case, signoff)
    if not signoff.approve:
        if not signoff.reason:
            raise ValueError("退回须写明理由 (a return needs a reason)")
        assert case.policy is not None
        if case.review_round >= case.policy.review_rounds_max:
            raise ValueError(
                f"退回已达上限 {case.policy.review_rounds_max} 轮, 请提交鉴定委员会研究 "
                f"(return limit reached: refer the case to the committee)"
            )


def check_signer(case: CaseFile, signoff: ReviewSignoff) -> None:
    """A named person signs each layer: the actor is their staff id, not a role, and nobody
    signs two layers of one round; a sign-off names the signer printed on the letter."""
    label = REVIEW_LABELS[signoff.layer]
    if signoff.actor.casefold() in GENERIC_ACTORS:
        raise ValueError(
            f"{label}签署须以签署人本人的工号录入, 不接受通用身份 {signoff.actor} "
            f"(actor: the signer's staff id, not a role)"
        )
    if any(s.actor == signoff.actor for s in case.signoffs.values()):
        raise ValueError(
            f"{signoff.actor} 已签署本轮另一级复核, 三级复核须由不同人员签署 "
            f"(each review layer is signed by a different person)"
        )
    if signoff.approve and not signoff.signer:
        raise ValueError(
            f"{label}签署须写明签署人姓名 (signer: the name of the {signoff.layer.value} "
            f"group member who signs, printed on the conclusion letter)"
        )


async def sign_off(case: CaseFile, signoff: ReviewSignoff) -> str:
    await clear_actor(case, signoff, "复核签署")  # art. 27: no conflicted signer
    label = REVIEW_LABELS[signoff.layer]
    data = {"layer": signoff.layer.value, "round": case.review_round, "reason": signoff.reason}
    if signoff.approve:
        case.signoffs[signoff.layer] = signoff
        await record_event(
            case, f"review:{signoff.event_id}", EventKind.review_approved, signoff.actor, data
        )
        show(case)
        return f"{label} signed off (round {case.review_round})"
    await record_event(
        case, f"review:{signoff.event_id}", EventKind.review_returned, signoff.actor, data
    )
    case.signoffs.clear()
    case.review_round += 1
    show(case)
    return f"returned by {label}: the panel may correct its opinions; review round {case.review_round} starts"
