"""The outbox: messages for other parties (appointment notices, supplement notices, the
benefits agency copy, escalations to the supervisor).

A message is first queued in PostgreSQL once per (case, key) (or per key, for a message of
no case: a ledger entry's escalation, activities/ledger.py), then sent by the `Dispatcher`
(`send_message` for cases from before the lean case) through a `Sender` (SMS gateway, letter service, the agency's interface: one implementation
per channel in production). Sending is idempotent: a message marked sent is not sent again,
and the sender gets the outbox key to pass on as the provider's idempotency key."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, Protocol

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from pydantic import BaseModel
from temporalio import activity

from activities.storage import OUTBOX_CHANNEL, queue_message
from infra.db import DATABASE_GONE
from infra.logs import get_logger
from schemas.steps import CaseStep, OutboxMessage

log = get_logger(__name__)


class MessageRef(CaseStep):
    key: str


class Outgoing(BaseModel):
    case_id: str | None  # None: the office's own message (a ledger entry's escalation)
    key: str
    channel: str
    recipient: str
    subject: str
    body: dict[str, Any]


class Sender(Protocol):
    async def send(self, message: Outgoing) -> str:
        """Hand the message over; returns the provider's reference."""
        ...


class LogSender:
    """Development sender: logs that a message went out (never its body: personal data)."""

    async def send(self, message: Outgoing) -> str:
        log.info("message sent", channel=message.channel, key=message.key, subject=message.subject)
        return f"log:{message.case_id or 'office'}:{message.key}"


class Notifications:
    def __init__(self, pool: asyncpg.Pool, sender: Sender | None = None) -> None:
        self.pool = pool
        self.sender = sender or LogSender()

    @activity.defn(name="queue_message")
    async def queue_message(self, message: OutboxMessage) -> bool:
        """True when queued now, False when this message was queued before."""
        return await queue_message(self.pool, message)

    @activity.defn(name="send_message")
    async def send_message(self, ref: MessageRef) -> str:
        """Send a queued message once; returns the provider's reference (cases from before
        the lean case send each message themselves; since, the `Dispatcher` does)."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"SELECT {COLUMNS} FROM outbox WHERE case_id = $1 AND message_key = $2 FOR UPDATE",
                ref.case_id,
                ref.key,
            )
            if row is None:
                raise LookupError(f"no outbox message {ref.key} for case {ref.case_id}")
            return await send_row(conn, self.sender, row)


COLUMNS = "case_id, message_key, channel, recipient, subject, body::text AS body, provider_ref"


async def send_row(conn: PoolConnectionProxy, sender: Sender, row: asyncpg.Record) -> str:
    """Hand a locked outbox row to the sender unless it went before; mark it sent."""
    if row["provider_ref"]:
        return str(row["provider_ref"])
    outgoing = Outgoing(
        case_id=row["case_id"],
        key=row["message_key"],
        channel=row["channel"],
        recipient=row["recipient"],
        subject=row["subject"],
        body=json.loads(row["body"]),
    )
    provider_ref = await sender.send(outgoing)
    # A message of no case is keyed by its key alone (migration 015).
    case = "case_id = $1" if row["case_id"] is not None else "case_id IS NULL AND $1::text IS NULL"
    await conn.execute(
        f"""UPDATE outbox SET sent_at = now(), provider_ref = $3
            WHERE {case} AND message_key = $2""",
        row["case_id"],
        row["message_key"],
        provider_ref,
    )
    return provider_ref


class Dispatcher:
    """Sends what cases queued in the outbox, apart from the cases: woken by the NOTIFY of
    the transaction that queued a message, and sweeping every `sweep` for what a lost
    notification or a failed send left. Any number of workers may run one: a row is locked
    while it is sent (SKIP LOCKED: the others pass it by), and a row marked sent is never sent
    again; the sender gets the outbox key as the provider's idempotency key."""

    def __init__(
        self, pool: asyncpg.Pool, sender: Sender | None = None, sweep: float = 30.0
    ) -> None:
        self.pool = pool
        self.sender = sender or LogSender()
        self.sweep = sweep
        self.woken = asyncio.Event()

    async def send_pending(self, batch: int = 100, wait: bool = False) -> int:
        """Send every queued message not yet sent; the number sent. `wait`: wait for rows
        another dispatcher is sending rather than pass them by (a caller that must see
        everything sent when this returns)."""
        sent = 0
        lock = "FOR UPDATE" if wait else "FOR UPDATE SKIP LOCKED"
        while True:
            before = sent
            async with self.pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(
                    f"""SELECT {COLUMNS} FROM outbox WHERE sent_at IS NULL
                        ORDER BY created_at, case_id, message_key LIMIT $1 {lock}""",
                    batch,
                )
                for row in rows:
                    try:
                        async with conn.transaction():  # a savepoint: one failure, one row
                            await send_row(conn, self.sender, row)
                        sent += 1
                    except Exception as failure:  # kept: sent again at the next sweep
                        log.warning(
                            "message not sent, kept for the next sweep",
                            case_id=row["case_id"],
                            key=row["message_key"],
                            error=type(failure).__name__,
                        )
            if len(rows) < batch or sent == before:  # all sent, or only failures left
                return sent

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: send on every notification and at least every `sweep` seconds; a
        database that goes away is waited for (messages keep in the outbox meanwhile)."""
        while not stop.is_set():
            try:
                async with self.pool.acquire() as listener:
                    await listener.add_listener(OUTBOX_CHANNEL, self._wake)
                    try:
                        while not stop.is_set() and not listener.is_closed():
                            self.woken.clear()
                            await self.send_pending()
                            await self._pause(stop)
                    finally:
                        with contextlib.suppress(*DATABASE_GONE):  # the connection may be cut
                            await listener.remove_listener(OUTBOX_CHANNEL, self._wake)
            except DATABASE_GONE as failure:
                log.warning(
                    "outbox dispatcher waiting for the database", error=type(failure).__name__
                )
                await self._pause(stop)
        with contextlib.suppress(*DATABASE_GONE):
            await self.send_pending()  # what the last steps queued goes before the worker stops

    async def _pause(self, stop: asyncio.Event) -> None:
        """Until a notification, `stop`, or the next sweep."""
        waits = [asyncio.create_task(self.woken.wait()), asyncio.create_task(stop.wait())]
        try:
            await asyncio.wait(waits, timeout=self.sweep, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()

    def _wake(self, *_: object) -> None:
        self.woken.set()
