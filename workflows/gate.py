"""The one gate every event from outside passes, updates and signals alike.

The handler queues on the case's one lock (the Temporal samples' safe message handlers): in
it the event is checked against the case as it is *now* (another event may have moved it
meanwhile), applied, and only then marked seen. A refusal is recorded in the event log
(`request.refused`, with the reason) before it is answered: an audit sees attempts, not only
successes. A repeat of an applied event gets the first answer and changes nothing; concurrent
different events apply one after the other. Stages take the same lock around their own
changes that await (registration, the draw, a booking).

Since proven actors (patches.PROVEN_ACTORS) every event declares who may send it, and its
actor is checked after the rule, before the change (workflows/actors.py).

Cases started before refusals were recorded (patches.RECORDED_REFUSALS) are checked by the
validator too, which refuses at once and leaves no trace, as it did when they ran.

Nothing applies before the case number is bound to this run (acceptance registers it): a run
that turns out to reuse another case's number fails without touching that case."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.actors import Who, prove
from workflows.actors import refusal as refusal  # every stage refuses through the gate
from workflows.case_file import CaseFile
from workflows.records import record_event, written

with workflow.unsafe.imports_passed_through():
    from schemas.events import CaseEvent
    from schemas.vocabulary import EventKind

E = TypeVar("E", bound=CaseEvent)
Check = Callable[[CaseFile, E], None]
Apply = Callable[[CaseFile, E], Awaitable[str]]

REPEAT = "重复事件, 未再处理 (a repeat of an applied event, not applied again): "


def check(case: CaseFile, event: E, rule: Check[E]) -> None:
    """Update validator of a case from before refusals were recorded; since, the handler
    decides (and records a refusal). A repeat passes (the handler answers it); before
    registration the state is not settled, so the handler decides."""
    if case.recorded_refusals or event.event_id in case.answers or not case.registered:
        return
    rule(case, event)


async def apply(case: CaseFile, event: E, rule: Check[E], change: Apply[E], who: Who) -> str:
    """Apply `event` if the case's rule allows it now and its actor fits `who` (who may send
    it: workflows/actors.py); else refuse it, recorded."""
    if not case.hardened:
        return await unlocked(case, event, change)
    await workflow.wait_condition(lambda: case.registered)
    async with case.lock:
        if (answer := case.answers.get(event.event_id)) is not None:
            return REPEAT + answer
        try:
            rule(case, event)
        except ValueError as problem:
            raise await refused(case, event, str(problem)) from None
        try:
            await prove(case, event, who)
            answer = await change(case, event)
        except ApplicationError as failure:
            if failure.type != "Refused":
                raise
            raise await refused(case, event, failure.message) from None
        case.answers[event.event_id] = answer
        await written(case)  # a lean case answers once the change is in PostgreSQL
        return answer


async def refused(case: CaseFile, event: E, reason: str) -> ApplicationError:
    """The refusal to answer, recorded first (for cases since patches.RECORDED_REFUSALS)."""
    if case.recorded_refusals:
        case.refusals += 1
        await record_event(
            case,
            f"request.refused:{case.refusals}",
            EventKind.request_refused,
            event.actor,
            {"request": type(event).__name__, "event_id": event.event_id, "reason": reason},
        )
        await written(case)
    return refusal(reason)


async def unlocked(case: CaseFile, event: E, change: Apply[E]) -> str:
    """How a case started before the hardening applied events (its history replays so):
    checked by the validator only, marked seen first, applied beside whatever else ran."""
    if event.event_id in case.answers:
        return REPEAT + case.answers[event.event_id]
    case.answers[event.event_id] = ""
    case.answers[event.event_id] = answer = await change(case, event)
    return answer


async def deliver(case: CaseFile, event: E, rule: Check[E], change: Apply[E], who: Who) -> None:
    """A signal: nobody waits for an answer, so a refusal is logged (no personal data).
    Before the hardening a signal's handler checked the rule itself, beside the rest."""
    try:
        if not case.hardened:
            rule(case, event)
        await apply(case, event, rule, change, who)
    except (ValueError, ApplicationError) as refused:
        reason = refused.message if isinstance(refused, ApplicationError) else str(refused)
        workflow.logger.warning(
            "signal refused", extra={"case_id": case.case_id, "stage": case.stage, "reason": reason}
        )
