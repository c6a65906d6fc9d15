"""Archiving (案卷归档): seal the case file with its SHA-256 so later changes are evident."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import asyncpg
from temporalio import activity

from activities.storage import Executor, insert_event
from schemas.steps import ArchiveReceipt, ArchiveRequest, EventRecord, Stage


def canonical(case_file: dict[str, Any]) -> bytes:
    """One byte form per file, so the digest can be recomputed by anyone, any year."""
    return json.dumps(
        case_file, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str
    ).encode()


async def collect(conn: Executor, case_id: str) -> dict[str, Any]:
    case = await conn.fetchrow("SELECT * FROM cases WHERE case_id = $1", case_id)
    events = await conn.fetch(
        """SELECT event_key, stage, kind, actor, occurred_at, data::text AS data
           FROM case_events WHERE case_id = $1 ORDER BY id""",
        case_id,
    )
    draws = await conn.fetch(
        """SELECT attempt, seed, pool_size, pool_sha256, eligible, short_by,
                  members::text AS members, exclusions::text AS exclusions
           FROM panel_draws WHERE case_id = $1 ORDER BY attempt""",
        case_id,
    )
    outbox = await conn.fetch(
        "SELECT message_key, channel, recipient, subject FROM outbox WHERE case_id = $1"
        " ORDER BY message_key",
        case_id,
    )
    return {
        "case": {k: v for k, v in dict(case or {}).items() if k != "updated_at"},
        "events": [{**dict(e), "data": json.loads(e["data"])} for e in events],
        "panel_draws": [
            {
                **dict(d),
                "members": json.loads(d["members"]),
                "exclusions": json.loads(d["exclusions"]),
            }
            for d in draws
        ],
        "outbox": [dict(m) for m in outbox],
    }


class Archive:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @activity.defn(name="archive_case")
    async def archive_case(self, request: ArchiveRequest) -> ArchiveReceipt:
        async with self.pool.acquire() as conn, conn.transaction():
            stored = await conn.fetchrow(
                "SELECT sha256, jsonb_array_length(case_file->'events') AS n FROM archives"
                " WHERE case_id = $1",
                request.case_id,
            )
            if stored:  # sealed on an earlier attempt
                return ArchiveReceipt(
                    case_id=request.case_id, sha256=stored["sha256"], events=stored["n"]
                )
            await conn.execute(
                """UPDATE cases SET closed_reason = $2, updated_at = now() WHERE case_id = $1""",
                request.case_id,
                request.closed_reason,
            )
            case_file = await collect(conn, request.case_id)
            digest = hashlib.sha256(canonical(case_file)).hexdigest()
            await conn.execute(
                """INSERT INTO archives (case_id, archived_at, sha256, case_file)
                   VALUES ($1, $2, $3, $4::jsonb)""",
                request.case_id,
                request.archived_at,
                digest,
                canonical(case_file).decode(),
            )
            await conn.execute(
                """UPDATE cases SET stage = $2, archived_at = $3, open = false, updated_at = now()
                   WHERE case_id = $1""",
                request.case_id,
                Stage.archived.value,
                request.archived_at,
            )
            await insert_event(
                conn,
                EventRecord(
                    case_id=request.case_id,
                    stage=Stage.archived,
                    key="case.archived",
                    kind="case.archived",
                    actor="system",
                    at=request.archived_at,
                    data={"sha256": digest},
                ),
            )
            return ArchiveReceipt(
                case_id=request.case_id, sha256=digest, events=len(case_file["events"])
            )
