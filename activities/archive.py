"""Archiving (案卷归档): seal the case file so later changes are evident.

A case started under the patch `archive-package` is sealed as the archive package
(activities/package.py: parts, their SHA-256, a digest over them, the Temporal history, kept
50 years); an older case as before, a digest over a JSON dump (format 1)."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

import asyncpg
from temporalio import activity

from activities import package
from activities.storage import Executor, insert_event
from schemas.clock import CHINA_TZ
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


def add_years(day: date, years: int) -> date:
    """The same calendar date `years` later; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


async def export_history(case_id: str) -> dict[str, Any]:
    """The case's Temporal history as JSON (proto JSON, as `WorkflowHistory.to_json` writes
    it and the Replayer reads it), through the worker's client: up to this activity's
    scheduling."""
    info = activity.info()
    handle = activity.client().get_workflow_handle(case_id, run_id=info.workflow_run_id)
    return (await handle.fetch_history()).to_json_dict()


def archived_event(request: ArchiveRequest, **data: str) -> EventRecord:
    """The last row of a sealed case's log: what it was sealed with."""
    return EventRecord(
        case_id=request.case_id,
        stage=Stage.archived,
        key="case.archived",
        kind="case.archived",
        actor="system",
        at=request.archived_at,
        data=data,
    )


class Archive:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @activity.defn(name="archive_case")
    async def archive_case(self, request: ArchiveRequest) -> ArchiveReceipt:
        if request.package:
            history = await export_history(request.case_id)  # before the transaction
            return await self.seal_package(request, history)
        return await self.seal_dump(request)

    async def seal_package(
        self, request: ArchiveRequest, history: dict[str, Any]
    ) -> ArchiveReceipt:
        """Written once: a retry finds the package sealed and answers with it."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT 1 FROM cases WHERE case_id = $1 FOR UPDATE", request.case_id)
            stored = await conn.fetchrow(
                """SELECT sha256, retain_until, manifest->'events_through'->>'seq' AS seq
                   FROM archives WHERE case_id = $1""",
                request.case_id,
            )
            if stored:
                return ArchiveReceipt(
                    case_id=request.case_id,
                    sha256=stored["sha256"],
                    events=int(stored["seq"] or 0),
                    retain_until=stored["retain_until"],
                )
            await conn.execute(
                """UPDATE cases SET closed_reason = $2, stage = $3, archived_at = $4,
                                    open = false, updated_at = now()
                   WHERE case_id = $1""",
                request.case_id,
                request.closed_reason,
                Stage.archived.value,
                request.archived_at,
            )
            years = request.retention_years or package.RETENTION_YEARS
            retain_until = add_years(request.archived_at.astimezone(CHINA_TZ).date(), years)
            parts = await package.collect(conn, request, history)
            manifest = package.manifest(request, retain_until, parts)
            digest = package.sha256(manifest)
            history_part = parts.pop("history")
            await conn.execute(
                """INSERT INTO archives (case_id, archived_at, sha256, case_file, format,
                                         retain_until, manifest, history)
                   VALUES ($1, $2, $3, $4::jsonb, 2, $5, $6::jsonb, $7::jsonb)""",
                request.case_id,
                request.archived_at,
                digest,
                json.dumps(parts, ensure_ascii=False),
                retain_until,
                json.dumps(manifest, ensure_ascii=False),
                json.dumps(history_part, ensure_ascii=False),
            )
            await insert_event(
                conn, archived_event(request, sha256=digest, retain_until=retain_until.isoformat())
            )
            return ArchiveReceipt(
                case_id=request.case_id,
                sha256=digest,
                events=len(parts["events"]),
                retain_until=retain_until,
            )

    async def seal_dump(self, request: ArchiveRequest) -> ArchiveReceipt:
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
                """INSERT INTO archives (case_id, archived_at, sha256, case_file, retain_until)
                   VALUES ($1, $2, $3, $4::jsonb, $5)""",
                request.case_id,
                request.archived_at,
                digest,
                canonical(case_file).decode(),
                add_years(request.archived_at.astimezone(CHINA_TZ).date(), package.RETENTION_YEARS),
            )
            await conn.execute(
                """UPDATE cases SET stage = $2, archived_at = $3, open = false, updated_at = now()
                   WHERE case_id = $1""",
                request.case_id,
                Stage.archived.value,
                request.archived_at,
            )
            await insert_event(conn, archived_event(request, sha256=digest))
            return ArchiveReceipt(
                case_id=request.case_id, sha256=digest, events=len(case_file["events"])
            )
