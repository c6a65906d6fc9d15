"""The outbox on PostgreSQL: a message is queued once and sent once, whatever retries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
from temporalio.testing import ActivityEnvironment

from activities.notifications import MessageRef, Notifications, Outgoing
from activities.storage import Storage
from schemas.application import AppraisalMode, CaseType, Jurisdiction
from schemas.steps import CaseRegistration, OutboxMessage, Stage


class CountingSender:
    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def send(self, message: Outgoing) -> str:
        self.sent.append(message)
        return f"sms-{len(self.sent)}"


async def test_message_is_queued_once_and_sent_once(db_pool: asyncpg.Pool) -> None:
    case_id = f"N-{uuid.uuid4().hex[:8]}"
    env = ActivityEnvironment()
    await env.run(
        Storage(db_pool, "k").register_case,
        CaseRegistration(
            case_id=case_id,
            stage=Stage.organizing,
            case_type=CaseType.initial,
            citizen_id="x",
            green_channel=False,
            mode=AppraisalMode.on_site,
            jurisdiction=Jurisdiction.city,
            received_at=datetime.now(UTC),
            injury_key=case_id,
        ),
    )
    sender = CountingSender()
    outbox = Notifications(db_pool, sender)
    message = OutboxMessage(
        case_id=case_id,
        stage=Stage.organizing,
        key="appointment.notice:1",
        channel="sms",
        recipient="worker",
        subject="劳动能力鉴定通知书",
        body={"at": "2026-10-15T09:00:00+08:00"},
    )
    assert await env.run(outbox.queue_message, message) is True
    assert await env.run(outbox.queue_message, message) is False  # a retry queues nothing
    ref = MessageRef(case_id=case_id, stage=Stage.organizing, key="appointment.notice:1")
    assert await env.run(outbox.send_message, ref) == "sms-1"
    assert await env.run(outbox.send_message, ref) == "sms-1"  # a retry sends nothing
    assert [m.subject for m in sender.sent] == ["劳动能力鉴定通知书"]
    row = await db_pool.fetchrow(
        "SELECT sent_at, provider_ref FROM outbox WHERE case_id = $1", case_id
    )
    assert row["sent_at"] is not None and row["provider_ref"] == "sms-1"
