"""The outbox on PostgreSQL: a message is queued once and sent once, whatever retries; a lean
case's step written in one transaction; the dispatcher sending apart from the cases."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
from temporalio.testing import ActivityEnvironment

from activities.notifications import Dispatcher, MessageRef, Notifications, Outgoing
from activities.storage import Storage
from schemas.application import AppraisalMode, CaseType, Jurisdiction
from schemas.steps import (
    CaseRegistration,
    EventRecord,
    OutboxMessage,
    Stage,
    StageTransition,
    Transition,
)


class CountingSender:
    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def send(self, message: Outgoing) -> str:
        self.sent.append(message)
        return f"sms-{len(self.sent)}"


async def registered(db_pool: asyncpg.Pool) -> str:
    case_id = f"N-{uuid.uuid4().hex[:8]}"
    await ActivityEnvironment().run(
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
    return case_id


def message(case_id: str, key: str) -> OutboxMessage:
    return OutboxMessage(
        case_id=case_id,
        stage=Stage.organizing,
        key=key,
        channel="sms",
        recipient="worker",
        subject="劳动能力鉴定通知书",
        body={"key": key},
    )


async def test_message_is_queued_once_and_sent_once(db_pool: asyncpg.Pool) -> None:
    case_id = await registered(db_pool)
    env = ActivityEnvironment()
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


async def test_a_step_is_written_in_one_transaction_once(db_pool: asyncpg.Pool) -> None:
    case_id = await registered(db_pool)
    now = datetime.now(UTC)
    step = Transition(
        case_id=case_id,
        stage=Stage.organizing,
        writes=[
            StageTransition(case_id=case_id, stage=Stage.organizing, at=now),
            EventRecord(
                case_id=case_id,
                stage=Stage.organizing,
                key="appointment.booked:1",
                kind="appointment.booked",
                actor="system",
                at=now,
            ),
            message(case_id, "appointment.notice:1"),
        ],
    )
    record = Storage(db_pool, "k").record_transition
    env = ActivityEnvironment()
    keys = ["stage:organizing", "appointment.booked:1"]
    assert await env.run(record, step) == keys
    assert await env.run(record, step) == keys  # a retry writes nothing twice
    counts = await db_pool.fetchrow(
        """SELECT (SELECT count(*) FROM case_events WHERE case_id = $1) AS events,
                  (SELECT count(*) FROM outbox WHERE case_id = $1) AS messages,
                  (SELECT stage FROM cases WHERE case_id = $1) AS stage""",
        case_id,
    )
    assert counts is not None and tuple(counts) == (
        3,
        1,
        "organizing",
    )  # application.received + the two

    # A write that fails takes the whole step back: nothing of it stays.
    broken = step.model_copy(
        update={
            "writes": [
                message(case_id, "appointment.notice:2"),
                message("N-no-such-case", "appointment.notice:1"),
            ]
        }
    )
    try:
        await env.run(record, broken)
    except asyncpg.ForeignKeyViolationError:
        pass
    else:
        raise AssertionError("a message for an unknown case was written")
    assert await db_pool.fetchval("SELECT count(*) FROM outbox WHERE case_id = $1", case_id) == 1


async def test_dispatchers_side_by_side_send_each_message_once(lone_pool: asyncpg.Pool) -> None:
    db_pool = lone_pool
    case_id = await registered(db_pool)
    queue = Notifications(db_pool)
    env = ActivityEnvironment()
    for n in range(30):
        await env.run(queue.queue_message, message(case_id, f"notice:{n}"))
    senders = [CountingSender(), CountingSender(), CountingSender()]
    await asyncio.gather(*(Dispatcher(db_pool, s).send_pending(batch=4) for s in senders))
    sent = [m.key for s in senders for m in s.sent if m.case_id == case_id]
    assert sorted(sent) == sorted(f"notice:{n}" for n in range(30))  # each once
    unsent = await db_pool.fetchval(
        "SELECT count(*) FROM outbox WHERE case_id = $1 AND sent_at IS NULL", case_id
    )
    assert unsent == 0


class FailingOnce(CountingSender):
    """Fails its first send; tells the test of every attempt."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False
        self.attempts: asyncio.Queue[str] = asyncio.Queue()

    async def send(self, message: Outgoing) -> str:
        self.attempts.put_nowait(message.key)
        if not self.failed:
            self.failed = True
            raise ConnectionError("SMS gateway down")
        return await super().send(message)


async def test_the_dispatcher_wakes_on_a_queued_step_and_keeps_a_failed_send(
    lone_pool: asyncpg.Pool,
) -> None:
    """No sweep within the test: only the NOTIFY of a step's transaction wakes it. A send
    that fails stays queued and goes at the next pass, not lost and not twice."""
    db_pool = lone_pool
    case_id = await registered(db_pool)
    sender = FailingOnce()
    stop = asyncio.Event()
    running = asyncio.create_task(Dispatcher(db_pool, sender, sweep=3600).run(stop))
    record = Storage(db_pool, "k").record_transition

    async def step(key: str) -> None:
        writes = [message(case_id, key)]
        await ActivityEnvironment().run(
            record, Transition(case_id=case_id, stage=Stage.organizing, writes=writes)
        )

    async def attempted() -> str:
        return await asyncio.wait_for(sender.attempts.get(), 20)

    try:
        await step("n:1")
        assert await attempted() == "n:1" and sender.failed  # woken, and the send failed
        await step("n:2")  # the next notification: n:1 again, then n:2
        assert [await attempted(), await attempted()] == ["n:1", "n:2"]
    finally:
        stop.set()
        await running
    assert [m.key for m in sender.sent] == ["n:1", "n:2"]  # each went once
    unsent = await db_pool.fetchval(
        "SELECT count(*) FROM outbox WHERE case_id = $1 AND sent_at IS NULL", case_id
    )
    assert unsent == 0
