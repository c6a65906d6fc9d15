"""Case records in PostgreSQL: the projection row, stage timestamps and the event log.

Every write is keyed by the case id and a stable step name, so a retried activity or a
replayed worker writes nothing twice."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from temporalio import activity

from schemas.steps import (
    CaseRegistration,
    CaseWrite,
    ConclusionRecord,
    EventRecord,
    Milestone,
    OutboxMessage,
    Registration,
    Stage,
    StageTransition,
    TakenNumber,
    Transition,
)

# Anything that runs a statement: the pool, a connection, a pooled connection.
Executor = asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy

# Columns per stage and milestone: a whitelist, never a name taken from input.
STAGE_COLUMNS = {stage: f"{stage.value}_at" for stage in Stage}
MILESTONE_COLUMNS = {"application_complete": "complete_at", "site_appraisal_done": "site_done_at"}


# A case number as the starter hands it out: prefix, China-time year, sequence (JN-2026-000123).
CASE_NUMBER = re.compile(r"^(?P<prefix>[A-Z]{1,8})-(?P<year>\d{4})-(?P<seq>\d{6})$")


async def allocate_case_number(conn: Executor, prefix: str, year: int) -> str:
    """The next free number of `year`: past the counter and past any case registered under a
    number typed by hand (the UI's form). The counter row serializes concurrent starters."""
    while True:
        seq = await conn.fetchval(
            """INSERT INTO case_numbers (prefix, year, last) VALUES ($1, $2, 1)
               ON CONFLICT (prefix, year) DO UPDATE SET last = case_numbers.last + 1
               RETURNING last""",
            prefix,
            year,
        )
        number = f"{prefix}-{year}-{seq:06d}"
        if not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM cases WHERE case_id = $1)", number
        ):
            return number


async def claim_case_number(conn: Executor, case_id: str) -> None:
    """A case registered under a number of the allocator's form moves the counter past it."""
    if found := CASE_NUMBER.match(case_id):
        await conn.execute(
            """INSERT INTO case_numbers (prefix, year, last) VALUES ($1, $2, $3)
               ON CONFLICT (prefix, year) DO UPDATE SET last = GREATEST(case_numbers.last, $3)""",
            found["prefix"],
            int(found["year"]),
            int(found["seq"]),
        )


def owned(row: asyncpg.Record, case: CaseRegistration) -> bool:
    """The row belongs to this run. Rows from before runs were recorded belong to a run that
    still has the case open (Temporal refuses a second run while one is open)."""
    if row["first_run_id"] is None:
        return bool(row["stage"] != Stage.archived.value)
    return bool(row["first_run_id"] == case.first_run_id)


def taken(case_id: str, row: asyncpg.Record) -> TakenNumber:
    return TakenNumber(
        case_id=case_id,
        stage=Stage(row["stage"]),
        received_at=row["received_at"],
        closed_reason=row["closed_reason"],
    )


def worker_ref(citizen_id: str, key: str) -> str:
    """Stable keyed hash of a citizen ID: finds a worker's cases without storing the number."""
    return hmac.new(key.encode(), citizen_id.encode(), hashlib.sha256).hexdigest()


# The outbox's dispatcher listens here (activities/notifications.py `Dispatcher`).
OUTBOX_CHANNEL = "outbox_queued"


async def queue_message(conn: Executor, message: OutboxMessage) -> bool:
    """Queue a message once per (case, key); True when queued now."""
    status = await conn.execute(
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


async def insert_event(conn: Executor, event: EventRecord) -> bool:
    status = await conn.execute(
        """INSERT INTO case_events (case_id, event_key, stage, kind, actor, occurred_at, data)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
           ON CONFLICT (case_id, event_key) DO NOTHING""",
        event.case_id,
        event.key,
        event.stage.value,
        event.kind,
        event.actor,
        event.at,
        json.dumps(event.data, ensure_ascii=False, default=str),
    )
    return bool(status.endswith(" 1"))


class Storage:
    def __init__(self, pool: asyncpg.Pool, worker_ref_key: str) -> None:
        self.pool = pool
        self.worker_ref_key = worker_ref_key

    @activity.defn(name="register_case")
    async def register_case(self, case: CaseRegistration) -> Registration:
        """Insert the case row, bound to the run that registers it. Another open case of the
        same worker, injury and case type makes this one a duplicate: it is recorded closed,
        naming the open case. A row of another run means the number is taken: nothing is
        written, and the answer names that case."""
        ref = worker_ref(case.citizen_id, self.worker_ref_key)
        async with self.pool.acquire() as conn, conn.transaction():
            known = await conn.fetchrow(
                """SELECT duplicate_of, first_run_id, stage, received_at, closed_reason
                   FROM cases WHERE case_id = $1 FOR UPDATE""",
                case.case_id,
            )
            if known and owned(known, case):  # registered on an earlier attempt
                return Registration(duplicate_of=known["duplicate_of"])
            if known:
                return Registration(taken=taken(case.case_id, known))
            open_case = await conn.fetchval(
                """SELECT case_id FROM cases WHERE worker_ref = $1 AND case_type = $2
                   AND injury_key = $3 AND open""",
                ref,
                case.case_type.value,
                case.injury_key,
            )
            await conn.execute(
                """INSERT INTO cases (case_id, case_type, worker_ref, green_channel, mode,
                                      jurisdiction, stage, received_at, injury_key, open,
                                      duplicate_of, first_run_id)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
                case.case_id,
                case.case_type.value,
                ref,
                case.green_channel,
                case.mode.value,
                case.jurisdiction.value,
                case.stage.value,
                case.received_at,
                case.injury_key,
                open_case is None,
                open_case,
                case.first_run_id,
            )
            await claim_case_number(conn, case.case_id)
            await insert_event(
                conn,
                EventRecord(
                    case_id=case.case_id,
                    stage=case.stage,
                    key="application.received",
                    kind="application.received",
                    actor="applicant",
                    at=case.received_at,
                    data={"case_type": case.case_type.value, "green_channel": case.green_channel},
                ),
            )
        return Registration(duplicate_of=open_case)

    @activity.defn(name="record_stage")
    async def record_stage(self, step: StageTransition) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await write_stage(conn, step)

    @activity.defn(name="record_milestone")
    async def record_milestone(self, milestone: Milestone) -> None:
        """A dated fact of the case row (complete application, appraisal held) and its event."""
        async with self.pool.acquire() as conn, conn.transaction():
            await write_milestone(conn, milestone)

    @activity.defn(name="append_event")
    async def append_event(self, event: EventRecord) -> bool:
        """True when recorded now, False when the same key was recorded before."""
        return await insert_event(self.pool, event)

    @activity.defn(name="record_conclusion")
    async def record_conclusion(self, record: ConclusionRecord) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await write_conclusion(conn, record)

    @activity.defn(name="record_transition")
    async def record_transition(self, transition: Transition) -> list[str]:
        """Everything one step of a lean case writes, in order, in one transaction (a local
        activity: one marker in the history). Each write is keyed, so a retry writes nothing
        twice. Queued messages wake the outbox's dispatcher. Returns the case_events keys the
        step holds (a local activity's marker keeps its result, not its input: the audit
        reads what was recorded from here)."""
        async with self.pool.acquire() as conn, conn.transaction():
            for write in transition.writes:
                await WRITERS[write.write](conn, write)
            if any(write.write == "message" for write in transition.writes):
                await conn.execute(f"NOTIFY {OUTBOX_CHANNEL}")
        return [key for write in transition.writes if (key := event_key(write)) is not None]


async def write_stage(conn: Executor, step: StageTransition) -> bool:
    column = STAGE_COLUMNS[step.stage]
    await conn.execute(
        f"""UPDATE cases SET stage = $2, {column} = COALESCE({column}, $3),
                   closed_reason = COALESCE($4, closed_reason), updated_at = now()
            WHERE case_id = $1""",
        step.case_id,
        step.stage.value,
        step.at,
        step.reason,
    )
    return await insert_event(
        conn,
        EventRecord(
            case_id=step.case_id,
            stage=step.stage,
            key=f"stage:{step.stage.value}",
            kind="stage.entered",
            actor=step.actor,
            at=step.at,
            data={"reason": step.reason} if step.reason else {},
        ),
    )


async def write_milestone(conn: Executor, milestone: Milestone) -> bool:
    column = MILESTONE_COLUMNS[milestone.name]
    await conn.execute(
        f"UPDATE cases SET {column} = COALESCE({column}, $2), updated_at = now()"
        " WHERE case_id = $1",
        milestone.case_id,
        milestone.at,
    )
    return await insert_event(
        conn,
        EventRecord(
            case_id=milestone.case_id,
            stage=milestone.stage,
            key=f"milestone:{milestone.name}",
            kind=f"milestone.{milestone.name}",
            actor=milestone.actor,
            at=milestone.at,
            data=milestone.data,
        ),
    )


async def write_conclusion(conn: Executor, record: ConclusionRecord) -> bool:
    await conn.execute(
        """UPDATE cases SET outcome = $2, outcome_label = $3, updated_at = now()
           WHERE case_id = $1""",
        record.case_id,
        record.outcome.verdict.value,
        record.outcome.label(),
    )
    return await insert_event(
        conn,
        EventRecord(
            case_id=record.case_id,
            stage=record.stage,
            key="conclusion.issued",
            kind="conclusion.issued",
            actor=record.issued_by,
            at=record.issued_at,
            data={"outcome": record.outcome.model_dump(mode="json"), "basis": record.basis},
        ),
    )


async def write_event(conn: Executor, event: EventRecord) -> bool:
    return await insert_event(conn, event)


async def write_message(conn: Executor, message: OutboxMessage) -> bool:
    return await queue_message(conn, message)


def event_key(write: CaseWrite) -> str | None:
    """The case_events key a write records (an outbox message records none)."""
    match write:
        case StageTransition():
            return f"stage:{write.stage.value}"
        case Milestone():
            return f"milestone:{write.name}"
        case ConclusionRecord():
            return "conclusion.issued"
        case EventRecord():
            return write.key
    return None


WRITERS: dict[str, Callable[[Executor, Any], Awaitable[bool]]] = {
    "stage": write_stage,
    "milestone": write_milestone,
    "event": write_event,
    "message": write_message,
    "conclusion": write_conclusion,
}
