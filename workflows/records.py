"""How a stage leaves its trace: activity calls to the case record, and what the UI shows.

Activity options live here, one place: the short activities (PostgreSQL, calendar, policy)
are retried until they answer; nothing a retry repeats is written twice (the activities are idempotent).

A lean case (patches.LEAN_CASE) journals its writes (stage, events, milestones, the
conclusion, outbox messages) and `keep_written` commits each workflow task's journal in one
local activity, one PostgreSQL transaction (`Storage.record_transition`); its short reads and
writes are local activities too (`short`), and the outbox's dispatcher sends its messages. A
case from before writes each with an activity of its own and sends its messages itself."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

from workflows import search_attributes as sa
from workflows.case_file import CaseFile

with workflow.unsafe.imports_passed_through():
    from activities.notifications import MessageRef, Notifications
    from activities.storage import Storage
    from schemas.clock import china_text
    from schemas.status import StageEntry
    from schemas.steps import (
        STAGE_LABELS,
        CaseWrite,
        EventRecord,
        Milestone,
        OutboxMessage,
        Stage,
        StageTransition,
        Transition,
    )
    from schemas.vocabulary import CASE_TYPE_LABELS, CHANNELS, CloseReason, EventKind, Party

ACTIVITY_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(minutes=1)),
}

A = TypeVar("A")
R = TypeVar("R")

# The English gloss our bilingual messages end with: " (re-appraisal only within ...)".
ENGLISH_GLOSS = re.compile(r"\s*\([^()\u4e00-\u9fff]*[A-Za-z][^()\u4e00-\u9fff]*\)")

CLOSE_EVENTS = {
    CloseReason.refused: EventKind.case_refused,
    CloseReason.abandoned: EventKind.case_abandoned,
    CloseReason.terminated: EventKind.case_terminated,
}


def log(case: CaseFile, message: str, **fields: Any) -> None:
    """Workflow log line carrying case and stage; replays do not repeat it."""
    workflow.logger.info(message, extra={"case_id": case.case_id, "stage": case.stage, **fields})


async def enter_stage(
    case: CaseFile, stage: Stage, actor: str = "system", reason: str | None = None
) -> None:
    now = workflow.now()
    case.stage = stage
    case.stages.append(StageEntry(stage=stage, entered_at=now))
    await write(
        case,
        StageTransition(case_id=case.case_id, stage=stage, at=now, actor=actor, reason=reason),
        Storage.record_stage,
        f"进入阶段 {STAGE_LABELS[stage]} ({stage.value})",
    )
    show(case)
    log(case, "stage entered")


async def short(
    case: CaseFile, activity: Callable[[Any, A], Awaitable[R]], arg: A, summary: str
) -> R:
    """A short read or write (PostgreSQL, calendar, roster): a local activity of a lean case,
    its result one marker in the workflow task that asked; an activity of its own before."""
    if not case.lean:
        result: R = await workflow.execute_activity_method(
            activity, arg, summary=summary, **ACTIVITY_OPTIONS
        )
        return result
    case.local_activities += 1
    try:
        # One at a time: concurrent local activities resolve in the order they finish on a
        # first run but in the order they were scheduled on replay, so coroutines waiting on
        # two of them could resume in another order and issue other commands
        # (temporalio/sdk-python#1578). Queued on the lock, they resolve in schedule order.
        async with case.local_lock:
            result = await workflow.execute_local_activity_method(
                activity, arg, summary=summary, **ACTIVITY_OPTIONS
            )
    finally:
        case.local_activities -= 1
    return result


async def write(
    case: CaseFile, entry: CaseWrite, activity: Callable[[Any, Any], Awaitable[Any]], summary: str
) -> None:
    """Record `entry`: journaled by a lean case (committed with the rest of its workflow
    task by `keep_written`), written by `activity` in a case from before."""
    if case.lean:
        case.journal.append(entry)
        case.journaled += 1
        return
    await workflow.execute_activity_method(activity, entry, summary=summary, **ACTIVITY_OPTIONS)


async def keep_written(case: CaseFile) -> None:
    """Runs beside a lean case: once it is registered (a run that finds its number taken
    writes nothing), each workflow task's journal goes to PostgreSQL in one transaction."""
    while True:
        await workflow.wait_condition(
            lambda: case.registered and bool(case.journal) and not case.local_activities
        )  # after the task's other local activities: what they lead to joins the batch
        await asyncio.sleep(0)  # last in line: the task's other changes join the batch
        writes = list(case.journal)
        await short(
            case,
            Storage.record_transition,
            Transition(case_id=case.case_id, stage=case.stage, writes=writes),
            told(writes),
        )
        del case.journal[: len(writes)]
        case.committed += len(writes)


def told(writes: list[CaseWrite]) -> str:
    """What a step wrote, the summary of its marker (the event history, `workflow show`)."""
    said = []
    for write in writes:
        match write:
            case StageTransition():
                said.append(f"进入阶段 {STAGE_LABELS[write.stage]} ({write.stage.value})")
            case EventRecord():
                said.append(f"记录事件 {write.kind}")
            case Milestone():
                said.append(f"里程碑 {write.name}")
            case OutboxMessage():
                said.append(f"待发消息 {write.key} → {write.recipient}")
            case _:
                said.append("记录结论 (conclusion recorded)")
    return " · ".join(said)


async def written(case: CaseFile) -> None:
    """Wait until everything the case journaled so far is in PostgreSQL (lean cases)."""
    target = case.journaled
    if case.committed < target:  # no wait otherwise: a case from before never yields here
        await workflow.wait_condition(lambda: case.committed >= target)


async def moved_on(case: CaseFile, stage: Stage) -> None:
    """An update that ends `stage` answers once the case is past it (lean cases), so the
    next step is never refused for arriving too early."""
    if case.lean:
        await workflow.wait_condition(lambda: case.stage is not stage)


async def record_milestone(case: CaseFile, milestone: Milestone, summary: str) -> None:
    await write(case, milestone, Storage.record_milestone, summary)


async def notify(
    case: CaseFile, key: str, recipient: Party, subject: str, body: Mapping[str, object]
) -> None:
    """Queue a message in the outbox, then send it (each step once per key)."""
    await queue_notice(case, key, recipient, subject, body)
    await send_notice(case, key)


async def queue_notice(
    case: CaseFile, key: str, recipient: Party, subject: str, body: Mapping[str, object]
) -> None:
    message = OutboxMessage(
        case_id=case.case_id,
        stage=case.stage,
        key=key,
        channel=CHANNELS[recipient],
        recipient=recipient,
        subject=subject,
        body=dict(body),
    )
    await write(case, message, Notifications.queue_message, f"待发消息 {key} → {recipient.value}")


async def send_notice(case: CaseFile, key: str) -> None:
    """Send a queued message: the outbox's dispatcher does for a lean case."""
    if case.lean:
        return
    await workflow.execute_activity_method(
        Notifications.send_message,
        MessageRef(case_id=case.case_id, stage=case.stage, key=key),
        summary=f"发送消息 {key}",
        **ACTIVITY_OPTIONS,
    )


async def close(case: CaseFile, reason: CloseReason, text: str) -> None:
    """End the case early (refused, abandoned, terminated); it still goes to archiving."""
    case.closed, case.closed_reason = reason, text
    kind = CLOSE_EVENTS[reason]
    await record_event(case, kind.value, kind, "system", {"reason": text})
    subject = f"劳动能力鉴定{reason.label}通知"
    body = {"reason": text, "text": f"您的劳动能力鉴定申请{reason.label}: {in_chinese(text)}。"}
    await notify(case, f"{reason.value}.notice", Party.applicant, subject, body)
    show(case)


def in_chinese(text: str) -> str:
    """A bilingual reason, "中文 (English)", as a citizen reads it: the Chinese part."""
    return ENGLISH_GLOSS.sub("", text).rstrip("。. ")


async def record_event(
    case: CaseFile, key: str, kind: EventKind, actor: str, data: dict[str, Any] | None = None
) -> None:
    event = EventRecord(
        case_id=case.case_id,
        stage=case.stage,
        key=key,
        kind=kind,
        actor=actor,
        at=workflow.now(),
        data=data or {},
    )
    await write(case, event, Storage.append_event, f"记录事件 {kind.value}")


def show(case: CaseFile) -> None:
    """Keep the search attributes and the UI's current details in step with the case.

    The attributes are written once per workflow task by `keep_shown`, and only those that
    changed (each upsert is a history event); a case from before the hardening upserts them
    all at each call, as it did then."""
    workflow.set_current_details(details(case))
    if case.hardened:
        case.unshown = True
    else:
        upsert_changed(case)


async def keep_shown(case: CaseFile) -> None:
    """Runs beside the case: a wait condition is looked at once everything else in the
    workflow task has run, so all of a task's changes go out in one upsert. A lean case's
    workflow task runs on while its local activities answer: it waits for them too."""
    while True:
        await workflow.wait_condition(lambda: case.unshown and not case.local_activities)
        await asyncio.sleep(0)  # last in line: coroutines woken with this one change first
        upsert_changed(case)


def upsert_changed(case: CaseFile) -> None:
    case.unshown = False
    wanted = search_attributes(case)
    # Never upserted reads as unset: an unset NextDeadline is not written at the start.
    changed = {key: value for key, value in wanted.items() if case.shown.get(key.name) != value}
    if not case.hardened:
        changed = wanted
    if changed:
        workflow.upsert_search_attributes(
            [
                key.value_set(value) if value is not None else key.value_unset()
                for key, value in changed.items()
            ]
        )
        case.shown.update({key.name: value for key, value in changed.items()})


def search_attributes(case: CaseFile) -> dict[SearchAttributeKey[Any], Any]:
    app = case.application
    wanted: dict[SearchAttributeKey[Any], Any] = {
        sa.CASE_TYPE: app.case_type.value,
        sa.CASE_STAGE: case.stage.value,
        sa.GREEN_CHANNEL: app.green_channel,
        sa.APPRAISAL_MODE: app.mode.value,
        sa.JURISDICTION: app.jurisdiction.value,
    }
    outcome = case.conclusion.verdict.value if case.conclusion else None
    if outcome or case.closed not in (None, CloseReason.delivered):
        wanted[sa.CASE_OUTCOME] = outcome or (case.closed.value if case.closed else None)
    # Overdue clocks count too: sorted by NextDeadline, the most urgent case comes first.
    due = [c.due_at for c in case.clocks.values()]
    wanted[sa.NEXT_DEADLINE] = min(due) if due else None
    wanted[sa.OVERDUE] = any(c.overdue for c in case.clocks.values())
    if case.referral_id is not None:  # the provincial case of a re-appraisal request
        wanted[sa.LINKED_CASE] = case.referral_id
    return wanted


def delivery_lines(case: CaseFile) -> list[str]:
    """Delivery in full: where each recipient's letter stands; the referral, if any."""
    lines = []
    for recipient, track in case.deliveries.items():
        if track.delivered_on is not None:
            how = "公告期满视为送达 deemed" if track.deemed else "签收 signed for"
            state = f"已送达 delivered {track.delivered_on} ({how})"
        elif track.notice is not None:
            state = (
                f"公告送达 public notice {china_text(track.notice.published_at)}, "
                f"{track.notice.deemed_delivered_on} 视为送达"
            )
        elif track.awaiting_until is not None:
            state = f"退回待更正地址 returned, awaiting an address until {china_text(track.awaiting_until)}"
        else:
            state = f"邮寄中 in the post {track.waybill_no or ''}"
        returns = "; ".join(f"退回 returned: {r.reason}" for r in track.returns)
        lines.append(f"送达 {recipient.value}: {state}" + (f" · {returns}" if returns else ""))
    if case.referral_id:
        lines.append(f"再次鉴定 移送 referred: {case.referral_id}")
    return lines


def details(case: CaseFile) -> str:
    """The UI's Current Details: a summary however the case was started, then the state."""
    app = case.application
    lines = [
        f"**{case.case_id}** · {CASE_TYPE_LABELS[app.case_type]} ({app.case_type.value})"
        f" · 阶段 {STAGE_LABELS[case.stage]} ({case.stage.value})",
        f"绿色通道 green channel: {'是' if app.green_channel else '否'} · 方式 mode: {app.mode.value}"
        f" · 参保 jurisdiction: {app.jurisdiction.value}",
    ]
    if app.green_channel_grant:
        lines.append(f"绿色通道理由 granted: {app.green_channel_grant.label()}")
    if case.panel:
        lines.append("专家组 panel: " + ", ".join(m.expert_id for m in case.panel.members))
        lines.append(f"意见 opinions: {len(case.opinions)}/{len(case.panel.members)}")
    if case.appointment and case.attendance is None:
        lines.append(f"鉴定时间 appointment: {china_text(case.appointment.starts_at)}")
    if case.conclusion:
        lines.append(f"结论 conclusion: {case.conclusion.label()}")
    if case.closed:
        lines.append(
            f"结案 closed: {case.closed.label} ({case.closed.value}) {case.closed_reason or ''}"
        )
    lines += delivery_lines(case)
    for name, clock in sorted(case.clocks.items(), key=lambda item: item[1].due_at):
        flag = " **逾期 overdue**" if clock.overdue else ""
        if clock.calendar_warning:
            flag += f" · 注意 日历 calendar: {clock.calendar_warning}"
        lines.append(f"期限 {name.label} ({name.value}): {clock.due_on} 24:00 北京时间{flag}")
    lines += [f"待办 pending: {action}" for action in case.pending_actions()]
    return "\n\n".join(lines)
