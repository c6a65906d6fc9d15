"""The dispute window (申请再次鉴定期限) and referral to the provincial committee, in archiving.

Each party may apply for re-appraisal within `dispute_window_days` (counting rule) of its own
delivery date; the case waits until the later window ends, then archives. A request in time
(the postmark counts for a mailed one) is recorded and referred: a linked provincial case
(workflows/referral.py) is started that outlives this one, and the case archives with it. A
request out of time is refused with the dates. A re-appraisal's conclusion is final: no window.
"""

from __future__ import annotations

import contextlib
from datetime import date

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.workflow import ParentClosePolicy

from workflows import clocks, rules
from workflows import search_attributes as sa
from workflows.case_file import WINDOW_CLOCKS, CaseFile
from workflows.records import notify, record_event, show
from workflows.referral import ProvincialReferral
from workflows.stages.letters import has_window
from workflows.stages.notice import ROLES

with workflow.unsafe.imports_passed_through():
    from schemas.clock import today
    from schemas.events import ReAppraisalRequest
    from schemas.referral import ReferralFile, referral_id
    from schemas.vocabulary import CloseReason, EventKind, Party


def request_date(request: ReAppraisalRequest) -> tuple[date, bool]:
    """The postmark of a mailed request (time in transit is not counted), else its receipt."""
    if request.posted_on is not None:
        return request.posted_on, True
    return request.received_on or today(), False


def check_request(case: CaseFile, request: ReAppraisalRequest) -> None:
    if not case.full_delivery:
        raise ValueError(
            "本案启动于再次鉴定申请登记功能之前, 请将申请转交省劳动能力鉴定委员会 (this case "
            "predates re-appraisal requests on the case: forward the request to the province)"
        )
    if case.conclusion_document is None or not case.deliveries:
        raise ValueError(
            "结论书尚未寄出, 尚不能申请再次鉴定 (the conclusion letter is not sent yet)"
        )
    if not has_window(case):
        raise ValueError(
            "再次鉴定结论为最终结论, 不能再申请再次鉴定 (a re-appraisal's conclusion is final)"
        )
    if case.closed is CloseReason.referred:
        raise ValueError(
            f"本案已移送 {case.referral_id}, 请向省劳动能力鉴定委员会提出 (referred to "
            f"{case.referral_id}: apply to the provincial committee)"
        )
    if case.closed is not None:
        ends = ", ".join(f"{ROLES[r]} {t.window_end}" for r, t in case.deliveries.items())
        raise ValueError(
            f"申请再次鉴定期限已届满 ({ends}), 案件已归档 (the dispute windows have ended)"
        )
    received = request.received_on or today()
    if received > today() or (request.posted_on and request.posted_on > received):
        raise ValueError(
            "收到日期不能晚于今天, 邮戳日期不能晚于收到日期 (received_on is not after today, "
            "posted_on not after received_on)"
        )
    party = request.requested_by
    if any(r.requested_by is party for r in case.re_appraisals):
        raise ValueError(
            f"{ROLES[party]}已申请再次鉴定, 已移送 {case.referral_id} "
            f"({party.value} applied already: referred to {case.referral_id})"
        )
    track = case.deliveries[party]
    if track.delivered_on is not None and track.window_end is not None:
        assert case.policy is not None
        applied, posted = request_date(request)
        days = case.policy.dispute_window_days
        if problem := rules.re_appraisal_problem(
            track.delivered_on, track.window_end, days, applied, posted
        ):
            raise ValueError(f"{ROLES[party]}: {problem}")


async def request(case: CaseFile, request: ReAppraisalRequest) -> str:
    """Record the request, then refer it (or add it to the referral). Only a referred request
    counts as made: if the provincial case cannot be started, the same request may be sent
    again."""
    applied, posted = request_date(request)
    track = case.deliveries[request.requested_by]
    data = {
        "requested_by": request.requested_by.value,
        "reason": request.reason,
        "request_date": applied.isoformat(),
        "postmark": posted,
        "delivered_on": str(track.delivered_on),
        "window_end": str(track.window_end),
    }
    key = f"re_appraisal.requested:{request.event_id}"
    await record_event(case, key, EventKind.re_appraisal_requested, request.actor, data)
    if case.referral_id is not None:  # the other party's request joins the referral
        referral = workflow.get_external_workflow_handle(case.referral_id)
        await referral.signal(ProvincialReferral.add_request, request)
        case.re_appraisals.append(request)
        show(case)
        return (
            f"再次鉴定申请已登记, 转送已移送的省级案件 {case.referral_id} "
            f"(re-appraisal request recorded and added to the referral {case.referral_id})"
        )
    answer = await refer(case, request)
    case.re_appraisals.append(request)
    return answer


async def refer(case: CaseFile, request: ReAppraisalRequest) -> str:
    """Start the provincial case; it outlives this one (archived with the referral)."""
    assert case.conclusion and case.concluded_on and case.conclusion_document
    linked = referral_id(case.case_id)
    file = ReferralFile(
        city_case_id=case.case_id,
        case_type=case.application.case_type,
        conclusion=case.conclusion,
        concluded_on=case.concluded_on,
        conclusion_document=case.conclusion_document,
        conclusion_sha256=case.conclusion_sha256 or "",
        delivered_on={r: t.delivered_on for r, t in case.deliveries.items() if t.delivered_on},
        window_ends={r: t.window_end for r, t in case.deliveries.items() if t.window_end},
        request=request,
        referred_at=workflow.now(),
    )
    await workflow.start_child_workflow(
        ProvincialReferral.run,
        file,
        id=linked,
        task_queue=workflow.info().task_queue,
        parent_close_policy=ParentClosePolicy.ABANDON,
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(sa.LINKED_CASE, case.case_id)]
        ),
        static_summary=f"再次鉴定 移送自 {case.case_id} (re-appraisal referred by the city)",
    )
    case.referral_id = linked
    data = {
        "referral_id": linked,
        "requested_by": request.requested_by.value,
        "document": file.conclusion_document,
        "sha256": file.conclusion_sha256,
    }
    await record_event(
        case, "re_appraisal.referred", EventKind.re_appraisal_referred, "system", data
    )
    subject = (
        f"再次鉴定申请移送: 案件 {case.case_id} → {linked} (a re-appraisal request is referred)"
    )
    await notify(case, "re_appraisal.referred", Party.provincial_committee, subject, data)
    show(case)
    return (
        f"再次鉴定申请已登记并移送省劳动能力鉴定委员会, 关联案件 {linked} "
        f"(re-appraisal request recorded and referred to the provincial committee: {linked})"
    )


async def run(case: CaseFile) -> None:
    """Wait for the later dispute window to end, or a referral; then the case may archive."""
    if has_window(case) and case.referral_id is None:
        ends = [t.window_end for t in case.deliveries.values() if t.window_end is not None]
        last = clocks.end_of(max(ends, default=today()))
        if last > workflow.now():
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: case.referral_id is not None,
                    timeout=last - workflow.now(),
                    timeout_summary=f"申请再次鉴定期限届满 {max(ends)} 24:00 北京时间 (dispute window)",
                )
    async with case.lock:  # a request being referred finishes first; later ones are refused
        if case.referral_id is not None:
            case.closed = CloseReason.referred
            case.closed_reason = (
                f"再次鉴定申请已移送省劳动能力鉴定委员会, 关联案件 {case.referral_id} "
                f"(re-appraisal referred to the provincial committee)"
            )
        else:
            case.closed = CloseReason.delivered
    for clock in WINDOW_CLOCKS.values():
        clocks.stop_clock(case, clock)
    if case.closed is CloseReason.delivered and has_window(case):
        data = {r.value: str(t.window_end) for r, t in case.deliveries.items()}
        await record_event(
            case, "dispute_window.ended", EventKind.dispute_window_ended, "system", data
        )
    show(case)
