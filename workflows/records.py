"""How a stage leaves its trace: activity calls to the case record, and what the UI shows.

Activity options live here, one place: the short activities (PostgreSQL, calendar, policy)
are retried until they answer; nothing a retry repeats is written twice (the activities are idempotent)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate

from workflows import search_attributes as sa
from workflows.case_file import CaseFile

with workflow.unsafe.imports_passed_through():
    from activities.notifications import MessageRef, Notifications
    from activities.storage import Storage
    from schemas.status import StageEntry
    from schemas.steps import STAGE_LABELS, EventRecord, OutboxMessage, Stage, StageTransition

# Who gets a message how; anyone else (a hospital, the agency) gets a letter.
CHANNELS = {
    "worker": "sms",
    "applicant": "sms",
    "supervisor": "supervisor",
    "case_officer": "internal",
    "社会保险经办机构": "benefits_agency",
}

ACTIVITY_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(minutes=1)),
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
    await workflow.execute_activity_method(
        Storage.record_stage,
        StageTransition(case_id=case.case_id, stage=stage, at=now, actor=actor, reason=reason),
        **ACTIVITY_OPTIONS,
    )
    show(case)
    log(case, "stage entered")


async def notify(
    case: CaseFile, key: str, recipient: str, subject: str, body: Mapping[str, object]
) -> None:
    """Queue a message in the outbox, then send it (each step once per key)."""
    await queue_notice(case, key, recipient, subject, body)
    await send_notice(case, key)


async def queue_notice(
    case: CaseFile, key: str, recipient: str, subject: str, body: Mapping[str, object]
) -> None:
    await workflow.execute_activity_method(
        Notifications.queue_message,
        OutboxMessage(
            case_id=case.case_id,
            stage=case.stage,
            key=key,
            channel=CHANNELS.get(recipient, "letter"),
            recipient=recipient,
            subject=subject,
            body=dict(body),
        ),
        **ACTIVITY_OPTIONS,
    )


async def send_notice(case: CaseFile, key: str) -> None:
    await workflow.execute_activity_method(
        Notifications.send_message,
        MessageRef(case_id=case.case_id, stage=case.stage, key=key),
        **ACTIVITY_OPTIONS,
    )


async def close(case: CaseFile, outcome: str, reason: str) -> None:
    """End the case early (refused, abandoned, terminated); it still goes to archiving."""
    case.closing_outcome = outcome
    case.closed_reason = f"{outcome}: {reason}"
    await record_event(case, f"case.{outcome}", f"case.{outcome}", "system", {"reason": reason})
    await notify(case, f"{outcome}.notice", "applicant", f"案件{outcome}通知", {"reason": reason})
    show(case)


async def record_event(
    case: CaseFile, key: str, kind: str, actor: str, data: dict[str, Any] | None = None
) -> None:
    await workflow.execute_activity_method(
        Storage.append_event,
        EventRecord(
            case_id=case.case_id,
            stage=case.stage,
            key=key,
            kind=kind,
            actor=actor,
            at=workflow.now(),
            data=data or {},
        ),
        **ACTIVITY_OPTIONS,
    )


def show(case: CaseFile) -> None:
    """Keep the search attributes and the UI's current details in step with the case."""
    app = case.application
    updates: list[SearchAttributeUpdate[Any]] = [
        sa.CASE_TYPE.value_set(app.case_type.value),
        sa.CASE_STAGE.value_set(case.stage.value),
        sa.GREEN_CHANNEL.value_set(app.green_channel),
        sa.APPRAISAL_MODE.value_set(app.mode.value),
        sa.JURISDICTION.value_set(app.jurisdiction.value),
    ]
    outcome = case.conclusion.verdict.value if case.conclusion else case.closing_outcome
    if outcome:
        updates.append(sa.CASE_OUTCOME.value_set(outcome))
    # Overdue clocks count too: sorted by NextDeadline, the most urgent case comes first.
    due = [c.due_at for c in case.clocks.values()]
    updates.append(sa.NEXT_DEADLINE.value_set(min(due)) if due else sa.NEXT_DEADLINE.value_unset())
    updates.append(sa.OVERDUE.value_set(any(c.overdue for c in case.clocks.values())))
    workflow.upsert_search_attributes(updates)
    workflow.set_current_details(details(case))


def details(case: CaseFile) -> str:
    app = case.application
    lines = [
        f"**{case.case_id}** · {app.case_type.value} · 阶段 {STAGE_LABELS[case.stage]} ({case.stage.value})",
        f"绿色通道 green channel: {'是' if app.green_channel else '否'} · 方式 mode: {app.mode.value}"
        f" · 参保 jurisdiction: {app.jurisdiction.value}",
    ]
    if case.panel:
        lines.append("专家组 panel: " + ", ".join(m.expert_id for m in case.panel.members))
        lines.append(f"意见 opinions: {len(case.opinions)}/{len(case.panel.members)}")
    if case.conclusion:
        lines.append(f"结论 conclusion: {case.conclusion.label()}")
    if case.closed_reason:
        lines.append(f"结案 closed: {case.closed_reason}")
    for name, clock in sorted(case.clocks.items(), key=lambda item: item[1].due_at):
        flag = " **逾期 overdue**" if clock.overdue else ""
        lines.append(f"期限 {name}: {clock.due_on}{flag}")
    lines += [f"待办 pending: {action}" for action in case.pending_actions()]
    return "\n\n".join(lines)
