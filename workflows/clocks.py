"""Deadlines as timers raced against the event they wait for.

A clock is due at the end of its last day (China time). Due dates come from the `compute_due`
activity (the holiday table is data); a missed clock escalates: an event in the case log, a
notice to the supervisor in the outbox, and the Overdue search attribute."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from temporalio import workflow

from workflows.case_file import CaseFile, Clock
from workflows.records import ACTIVITY_OPTIONS, notify, record_event, show

with workflow.unsafe.imports_passed_through():
    from activities.workdays import Workdays
    from schemas.clock import CHINA_TZ
    from schemas.workdays import DayUnit, DueDate, DueRequest


def end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), CHINA_TZ)


async def due(start: date, days: int, unit: DayUnit) -> DueDate:
    return await workflow.execute_activity_method(
        Workdays.compute_due, DueRequest(start=start, days=days, unit=unit), **ACTIVITY_OPTIONS
    )


def start_clock(case: CaseFile, name: str, due_on: date) -> None:
    case.clocks[name] = Clock(due_on=due_on, due_at=end_of(due_on))
    show(case)


def stop_clock(case: CaseFile, name: str) -> None:
    case.clocks.pop(name, None)
    show(case)


async def escalate(case: CaseFile, name: str, detail: str = "") -> None:
    clock = case.clocks[name]
    clock.overdue = True
    data = {"clock": name, "due_on": clock.due_on.isoformat(), "detail": detail}
    await record_event(
        case,
        key=f"deadline.breached:{name}:{clock.due_on}",
        kind="deadline.breached",
        actor="system",
        data=data,
    )
    subject = f"案件 {case.case_id} 逾期: {name}"
    await notify(case, f"escalation:{name}:{clock.due_on}", "supervisor", subject, data)
    show(case)
    workflow.logger.warning(
        "deadline breached", extra={"case_id": case.case_id, "stage": case.stage, "clock": name}
    )


async def watch(case: CaseFile, name: str, done: Callable[[], bool], detail: str = "") -> bool:
    """Wait for `done` against clock `name`: True if in time. A breach escalates once, then
    the wait goes on (the duty remains); the clock is stopped either way."""
    met = await in_time(case, name, done)
    if not met:
        await escalate(case, name, detail)
        await workflow.wait_condition(done)
    stop_clock(case, name)
    return met


async def in_time(case: CaseFile, name: str, done: Callable[[], bool]) -> bool:
    left = case.clocks[name].due_at - workflow.now()
    if done():
        return True
    if left <= timedelta(0):
        return False
    try:
        await workflow.wait_condition(done, timeout=left)
    except TimeoutError:
        return False
    return True
