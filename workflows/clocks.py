"""Deadlines as timers raced against the event they wait for.

A clock is due at the end of its last day (China time). Due dates come from the `compute_due`
activity (the holiday table is data). While a clock runs it reminds at the policy's fractions
(e.g. 80%); a miss escalates once: a `deadline.breached` event, a message to the supervisor, the
Overdue search attribute. A clock may move (a reschedule, an extension): the watcher follows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from temporalio import workflow

from workflows.case_file import CaseFile, Clock
from workflows.records import notify, record_event, short, show

with workflow.unsafe.imports_passed_through():
    from activities.workdays import Workdays
    from schemas.clock import CHINA_TZ
    from schemas.vocabulary import ClockName, EventKind, Party
    from schemas.workdays import DayUnit, DueDate, DueRequest


# What a breach escalation says; a function when it depends on why the clock ran out (a
# letter under public notice ends after the delivery limit by law).
Detail = str | Callable[[], str]


def end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), CHINA_TZ)


async def due(case: CaseFile, start: date, days: int, unit: DayUnit) -> DueDate:
    return await short(
        case,
        Workdays.compute_due,
        DueRequest(start=start, days=days, unit=unit),
        f"期限计算 {start} + {days} {unit.value}",
    )


def start_clock(case: CaseFile, name: ClockName, due: DueDate | date, remind: bool = True) -> None:
    """Start clock `name`, or move it: a moved clock keeps its start and reminds anew. A due
    date counted on the weekend-only fallback calendar keeps its warning, shown to clerks."""
    running = case.clocks.get(name)
    started = running.started_at if running else workflow.now()
    due_on, warnings = (due.due, due.warnings) if isinstance(due, DueDate) else (due, [])
    case.clocks[name] = Clock(
        due_on=due_on,
        due_at=end_of(due_on),
        started_at=started,
        remind=remind,
        calendar_warning="; ".join(warnings) or None,
    )
    show(case)


def stop_clock(case: CaseFile, name: ClockName) -> None:
    case.clocks.pop(name, None)
    show(case)


def watch_in_background(case: CaseFile, name: ClockName, done: Callable[[], bool]) -> None:
    """Watch a clock that spans stages (the conclusion limit runs from acceptance)."""
    case.watchers.append(asyncio.create_task(watch(case, name, done)))


async def watch(
    case: CaseFile, name: ClockName, done: Callable[[], bool], detail: Detail = ""
) -> bool:
    """Wait for `done` against clock `name`: True if in time. Reminds, escalates once on a
    breach, then goes on waiting (the duty remains); the clock is stopped either way."""
    met = True
    while not done():
        clock = case.clocks[name]
        instant, reminder = next_alarm(case, clock)
        fired = not await _wait(case, name, clock, done, instant)
        if not fired:
            continue  # done, or the clock moved: look again
        if reminder is not None:
            clock.reminded.add(reminder)
            await remind(case, name, clock, reminder)
        elif not clock.overdue:
            met = False
            await escalate(case, name, detail if isinstance(detail, str) else detail())
    stop_clock(case, name)
    return met


async def in_time(case: CaseFile, name: ClockName, done: Callable[[], bool]) -> bool:
    """True when `done` holds before clock `name` is due; nothing is escalated here."""
    clock = case.clocks[name]
    return done() or await _wait(case, name, clock, done, clock.due_at)


async def _wait(
    case: CaseFile, name: ClockName, clock: Clock, done: Callable[[], bool], until: datetime | None
) -> bool:
    """Wait for `done` or a move of the clock; False when `until` came first."""
    left = None if until is None else max(until - workflow.now(), timedelta(0))
    alarm = "提醒" if until is not None and until < clock.due_at else "到期"
    try:
        await workflow.wait_condition(
            lambda: done() or case.clocks.get(name) is not clock,
            timeout=left,
            timeout_summary=f"{name.label} {alarm} (due {clock.due_on} 24:00 北京时间)",
        )
    except TimeoutError:
        return False
    return True


def next_alarm(case: CaseFile, clock: Clock) -> tuple[datetime | None, float | None]:
    """The next reminder not yet sent, else the due instant; None once overdue."""
    if clock.overdue:
        return None, None
    if clock.remind and case.policy:
        span = clock.due_at - clock.started_at
        for fraction in sorted(case.policy.reminder_fractions):
            if fraction not in clock.reminded:
                return clock.started_at + span * fraction, fraction
    return clock.due_at, None


async def remind(case: CaseFile, name: ClockName, clock: Clock, fraction: float) -> None:
    data = {"clock": name.value, "due_on": clock.due_on.isoformat(), "at": f"{fraction:.0%}"}
    key = f"deadline.reminder:{name}:{clock.due_on}:{fraction}"
    await record_event(case, key, EventKind.deadline_reminder, "system", data)
    subject = f"案件 {case.case_id} 期限提醒: {name.label} {clock.due_on} 届满"
    await notify(case, key, Party.case_officer, subject, data)


async def escalate(case: CaseFile, name: ClockName, detail: str = "") -> None:
    clock = case.clocks[name]
    data = {"clock": name.value, "due_on": clock.due_on.isoformat(), "detail": detail}
    key = f"deadline.breached:{name}:{clock.due_on}"
    await record_event(case, key, EventKind.deadline_breached, "system", data)
    subject = f"案件 {case.case_id} 逾期: {name.label} ({clock.due_on} 届满)"
    await notify(case, f"escalation:{name}:{clock.due_on}", Party.supervisor, subject, data)
    clock.overdue = True  # shown once recorded and escalated
    show(case)
    workflow.logger.warning(
        "deadline breached",
        extra={"case_id": case.case_id, "stage": case.stage, "clock": name.value},
    )
