"""The outbox: messages for other parties (appointment notices, supplement notices, the
benefits agency copy, escalations to the supervisor).

A message is first queued in PostgreSQL once per (case, key), then sent by `send_message`
through a `Sender` (SMS gateway, letter service, the agency's interface: one implementation
per channel in production). Sending is idempotent: a message marked sent is not sent again,
and the sender gets the outbox key to pass on as the provider's idempotency key."""

from __future__ import annotations

import json
from typing import Any, Protocol

import asyncpg
from pydantic import BaseModel
from temporalio import activity

from infra.logs import get_logger
from schemas.steps import CaseStep, OutboxMessage

log = get_logger(__name__)


class MessageRef(CaseStep):
    key: str


class Outgoing(BaseModel):
    case_id: str
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
        return f"log:{message.case_id}:{message.key}"


class Notifications:
    def __init__(self, pool: asyncpg.Pool, sender: Sender | None = None) -> None:
        self.pool = pool
        self.sender = sender or LogSender()

    @activity.defn(name="queue_message")
    async def queue_message(self, message: OutboxMessage) -> bool:
        """True when queued now, False when this message was queued before."""
        status = await self.pool.execute(
            """INSERT INTO outbox (case_id, message_key, channel, recipient, subject, body)
               VALUES ($1, $2, $3, $4, $5, $6::jsonb)
               ON CONFLICT (case_id, message_key) DO NOTHING""",
            message.case_id,
            message.key,
            message.channel,
            message.recipient,
            message.subject,
            json.dumps(message.body, ensure_ascii=False, default=str),
        )
        return bool(status.endswith(" 1"))

    @activity.defn(name="send_message")
    async def send_message(self, ref: MessageRef) -> str:
        """Send a queued message once; returns the provider's reference."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """SELECT channel, recipient, subject, body::text AS body, provider_ref
                   FROM outbox WHERE case_id = $1 AND message_key = $2 FOR UPDATE""",
                ref.case_id,
                ref.key,
            )
            if row is None:
                raise LookupError(f"no outbox message {ref.key} for case {ref.case_id}")
            if row["provider_ref"]:
                return str(row["provider_ref"])
            outgoing = Outgoing(
                case_id=ref.case_id,
                key=ref.key,
                channel=row["channel"],
                recipient=row["recipient"],
                subject=row["subject"],
                body=json.loads(row["body"]),
            )
            provider_ref = await self.sender.send(outgoing)
            await conn.execute(
                """UPDATE outbox SET sent_at = now(), provider_ref = $3
                   WHERE case_id = $1 AND message_key = $2""",
                ref.case_id,
                ref.key,
                provider_ref,
            )
            return provider_ref
