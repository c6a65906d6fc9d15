"""The outbox: messages for other parties (benefits agency copy, appointment notices).

Queued in PostgreSQL once per (case, key); a sender process delivers them later, so a
workflow retry never notifies twice."""

from __future__ import annotations

import json

import asyncpg
from temporalio import activity

from schemas.steps import OutboxMessage


class Notifications:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

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
