"""Commissioned examinations (委托检查): the panel asks a hospital; opinions and the conclusion
wait for the results, on a clock; a worker who refuses ends this appraisal."""

from __future__ import annotations

from temporalio import workflow

from workflows import clocks
from workflows.case_file import CaseFile
from workflows.records import close, notify, record_event, show
from workflows.stages.opinions import expect_panel_at_work

with workflow.unsafe.imports_passed_through():
    from schemas.clock import today
    from schemas.events import ExaminationOrder, ExaminationRefusal, ExaminationResults
    from schemas.vocabulary import ClockName, CloseReason, EventKind, Party
    from schemas.workdays import DayUnit


def check_examination(case: CaseFile, order: ExaminationOrder) -> None:
    expect_panel_at_work(case, "委托检查")
    if case.decision is not None:
        raise ValueError("结论已出具, 不能再委托检查 (the conclusion is already issued)")


async def commission_examination(case: CaseFile, order: ExaminationOrder) -> str:
    assert case.policy is not None
    wait = await clocks.due(case, today(), case.policy.examination_wait_days, DayUnit.calendar_days)
    details = {
        "hospital": order.hospital,
        "items": order.items,
        "results_due": wait.due.isoformat(),
    }
    await record_event(
        case,
        f"examination.ordered:{order.event_id}",
        EventKind.examination_ordered,
        order.actor,
        details,
    )
    await notify(
        case, f"examination.order:{order.event_id}", Party.hospital, "委托检查通知", details
    )
    case.examinations.append(order)
    case.examination_pending = order
    clocks.start_clock(case, ClockName.examination, wait)
    return f"examination commissioned from {order.hospital}; results due by {wait.due}"


def check_results(case: CaseFile, results: ExaminationResults) -> None:
    if case.examination_pending is None:
        raise ValueError("没有待回的委托检查 (no commissioned examination is pending)")
    if results.hospital is not None and results.hospital != case.examination_pending.hospital:
        raise ValueError(
            f"本案的检查未委托 {results.hospital}, 结果只收受委托医院的 "
            "(results are taken only from the hospital the panel commissioned)"
        )


async def on_results(case: CaseFile, results: ExaminationResults) -> str:
    await record_event(
        case,
        f"examination.results:{results.event_id}",
        EventKind.examination_results,
        results.actor,
        {"summary_chars": len(results.summary)},
    )
    case.examination_pending = None
    show(case)
    return "examination results recorded"


def check_refusal(case: CaseFile, refusal: ExaminationRefusal) -> None:
    if case.examination_pending is None or case.closed:
        raise ValueError("没有待做的委托检查 (no commissioned examination is pending)")


async def refuse_examination(case: CaseFile, refusal: ExaminationRefusal) -> str:
    await record_event(
        case,
        f"examination.refused:{refusal.event_id}",
        EventKind.examination_refused,
        refusal.actor,
        {"reason": refusal.reason},
    )
    await close(case, CloseReason.terminated, f"当次鉴定终止: 拒不接受委托检查 ({refusal.reason})")
    return "appraisal terminated: the worker refused the commissioned examinations"
