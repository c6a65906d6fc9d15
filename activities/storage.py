"""Case records in PostgreSQL: the projection row, stage timestamps and the event log.

Every write is keyed by the case id and a stable step name, so a retried activity or a
replayed worker writes nothing twice."""

from __future__ import annotations

import hashlib
import hmac
import json

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from temporalio import activity

from schemas.steps import (
    CaseRegistration,
    ConclusionRecord,
    EventRecord,
    Milestone,
    Registration,
    Stage,
    StageTransition,
)

# Anything that runs a statement: the pool, a connection, a pooled connection.
Executor = asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy

# Columns per stage and milestone: a whitelist, never a name taken from input.
STAGE_COLUMNS = {stage: f"{stage.value}_at" for stage in Stage}
MILESTONE_COLUMNS = {"application_complete": "complete_at", "site_appraisal_done": "site_done_at"}


def worker_ref(citizen_id: str, key: str) -> str:
    """Stable keyed hash of a citizen ID: finds a worker's cases without storing the number."""
    return hmac.new(key.encode(), citizen_id.encode(), hashlib.sha256).hexdigest()


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
        """Insert the case row. Another open case of the same worker, injury and case type makes
        this one a duplicate: it is recorded closed, naming the open case."""
        ref = worker_ref(case.citizen_id, self.worker_ref_key)
        async with self.pool.acquire() as conn, conn.transaction():
            known = await conn.fetchrow(
                "SELECT duplicate_of FROM cases WHERE case_id = $1", case.case_id
            )
            if known:  # registered on an earlier attempt
                return Registration(duplicate_of=known["duplicate_of"])
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
                                      duplicate_of)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
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
            )
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
        column = STAGE_COLUMNS[step.stage]
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"""UPDATE cases SET stage = $2, {column} = COALESCE({column}, $3),
                           closed_reason = COALESCE($4, closed_reason), updated_at = now()
                    WHERE case_id = $1""",
                step.case_id,
                step.stage.value,
                step.at,
                step.reason,
            )
            await insert_event(
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

    @activity.defn(name="record_milestone")
    async def record_milestone(self, milestone: Milestone) -> None:
        """A dated fact of the case row (complete application, appraisal held) and its event."""
        column = MILESTONE_COLUMNS[milestone.name]
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"UPDATE cases SET {column} = COALESCE({column}, $2), updated_at = now()"
                " WHERE case_id = $1",
                milestone.case_id,
                milestone.at,
            )
            await insert_event(
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

    @activity.defn(name="append_event")
    async def append_event(self, event: EventRecord) -> bool:
        """True when recorded now, False when the same key was recorded before."""
        return await insert_event(self.pool, event)

    @activity.defn(name="record_conclusion")
    async def record_conclusion(self, record: ConclusionRecord) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """UPDATE cases SET outcome = $2, outcome_label = $3, updated_at = now()
                   WHERE case_id = $1""",
                record.case_id,
                record.outcome.verdict.value,
                record.outcome.label(),
            )
            await insert_event(
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
