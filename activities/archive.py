"""Archiving (案卷归档): seal the case file so later changes are evident.

A case started under the patch `archive-package` is sealed as the archive package
(activities/package.py: parts, their SHA-256, a digest over them, the Temporal history, kept
50 years); an older case as before, a digest over a JSON dump (format 1). Either is signed
(infra/seal.py): the digest and the event chain's head, by a key PostgreSQL does not hold."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any, Literal

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import package
from activities.storage import Executor, insert_event
from infra.seal import SigningKey
from schemas.clock import CHINA_TZ
from schemas.steps import (
    ArchiveReceipt,
    ArchiveRequest,
    ArchiveSeal,
    ChainHead,
    EventRecord,
    SealStatement,
    Stage,
)


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


def sign(
    key: SigningKey,
    case_id: str,
    format_: int,
    digest: str,
    head: ChainHead | None,
    archived_at: datetime,
    signed: Literal["at_seal", "later"] = "at_seal",
) -> ArchiveSeal:
    statement = SealStatement(
        case_id=case_id,
        format=format_,
        digest=digest,
        events_through=head,
        archived_at=package.plain(archived_at),
        signed=signed,
        signed_at=package.plain(datetime.now(UTC)),
        key_id=key.key_id,
    )
    return ArchiveSeal(statement=statement, signature=key.sign(statement.model_dump(mode="json")))


def seal_columns(seal: ArchiveSeal) -> tuple[str, str, str]:
    """archives.seal, seal_key_id, seal_signature."""
    statement = json.dumps(seal.statement.model_dump(mode="json"))
    return statement, seal.statement.key_id, seal.signature


def stored_seal(row: Any) -> ArchiveSeal | None:
    if row["seal"] is None:
        return None
    return ArchiveSeal(
        statement=SealStatement.model_validate_json(row["seal"]), signature=row["seal_signature"]
    )


async def chain_head(conn: Executor, case_id: str) -> ChainHead | None:
    row = await conn.fetchrow(
        "SELECT seq, hash FROM case_events WHERE case_id = $1 ORDER BY seq DESC LIMIT 1", case_id
    )
    return ChainHead(seq=row["seq"], hash=row["hash"]) if row else None


async def sign_legacy(conn: Executor, case_id: str, key: SigningKey) -> ArchiveSeal | None:
    """Sign an archive sealed before signatures as it stands now (`appraisal archive
    sign-legacy`, after `verify --anchor` found it intact); None when it is signed already.
    Its chain head: the package's, or for format 1 the row before `case.archived`."""
    row = await conn.fetchrow(
        """SELECT format, sha256, archived_at, seal IS NOT NULL AS signed,
                  manifest->'events_through' AS head
           FROM archives WHERE case_id = $1""",
        case_id,
    )
    if row is None or row["signed"]:
        return None
    head: ChainHead | None = None
    if row["format"] == 2:
        if row["head"] is not None and row["head"] != "null":
            head = ChainHead.model_validate_json(row["head"])
    else:
        found = await conn.fetchrow(
            """SELECT seq, hash FROM case_events WHERE case_id = $1 AND seq < coalesce(
                   (SELECT min(seq) FROM case_events
                    WHERE case_id = $1 AND kind = 'case.archived'), 2147483647)
               ORDER BY seq DESC LIMIT 1""",
            case_id,
        )
        head = ChainHead(seq=found["seq"], hash=found["hash"]) if found else None
    seal = sign(key, case_id, row["format"], row["sha256"], head, row["archived_at"], "later")
    await conn.execute(  # the trigger lets an unsigned archive receive its seal, once
        """UPDATE archives SET seal = $2::jsonb, seal_key_id = $3, seal_signature = $4
           WHERE case_id = $1 AND seal IS NULL""",
        case_id,
        *seal_columns(seal),
    )
    return seal


class Archive:
    def __init__(self, pool: asyncpg.Pool, key: SigningKey | None) -> None:
        self.pool = pool
        self.key = key

    def signing_key(self) -> SigningKey:
        """Without a key nothing is sealed: the case waits in archiving, retrying, until the
        worker has one (an unsigned archive would be indistinguishable from a stripped one)."""
        if self.key is None:
            raise ApplicationError(
                "这个工作进程没有归档签名密钥 (this worker has no archive signing key: set "
                "ARCHIVE_SIGNING_KEY or ARCHIVE_SIGNING_KEY_FILE and restart it)",
                type="SigningKeyMissing",
            )
        return self.key

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
                """SELECT sha256, retain_until, manifest->'events_through'->>'seq' AS seq,
                          seal::text AS seal, seal_signature
                   FROM archives WHERE case_id = $1""",
                request.case_id,
            )
            if stored:
                return ArchiveReceipt(
                    case_id=request.case_id,
                    sha256=stored["sha256"],
                    events=int(stored["seq"] or 0),
                    retain_until=stored["retain_until"],
                    seal=stored_seal(stored),
                )
            key = self.signing_key()
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
            through = manifest["events_through"]
            head = ChainHead(**through) if through else None
            seal = sign(key, request.case_id, 2, digest, head, request.archived_at)
            await conn.execute(
                """INSERT INTO archives (case_id, archived_at, sha256, case_file, format,
                                         retain_until, manifest, history,
                                         seal, seal_key_id, seal_signature)
                   VALUES ($1, $2, $3, $4::jsonb, 2, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9, $10)""",
                request.case_id,
                request.archived_at,
                digest,
                json.dumps(parts, ensure_ascii=False),
                retain_until,
                json.dumps(manifest, ensure_ascii=False),
                json.dumps(history_part, ensure_ascii=False),
                *seal_columns(seal),
            )
            await insert_event(
                conn, archived_event(request, sha256=digest, retain_until=retain_until.isoformat())
            )
            return ArchiveReceipt(
                case_id=request.case_id,
                sha256=digest,
                events=len(parts["events"]),
                retain_until=retain_until,
                seal=seal,
            )

    async def seal_dump(self, request: ArchiveRequest) -> ArchiveReceipt:
        async with self.pool.acquire() as conn, conn.transaction():
            stored = await conn.fetchrow(
                """SELECT sha256, jsonb_array_length(case_file->'events') AS n,
                          seal::text AS seal, seal_signature
                   FROM archives WHERE case_id = $1""",
                request.case_id,
            )
            if stored:  # sealed on an earlier attempt
                return ArchiveReceipt(
                    case_id=request.case_id,
                    sha256=stored["sha256"],
                    events=stored["n"],
                    seal=stored_seal(stored),
                )
            key = self.signing_key()
            await conn.execute(
                """UPDATE cases SET closed_reason = $2, updated_at = now() WHERE case_id = $1""",
                request.case_id,
                request.closed_reason,
            )
            case_file = await collect(conn, request.case_id)
            digest = hashlib.sha256(canonical(case_file)).hexdigest()
            head = await chain_head(conn, request.case_id)  # before `case.archived`
            seal = sign(key, request.case_id, 1, digest, head, request.archived_at)
            await conn.execute(
                """INSERT INTO archives (case_id, archived_at, sha256, case_file, retain_until,
                                         seal, seal_key_id, seal_signature)
                   VALUES ($1, $2, $3, $4::jsonb, $5, $6::jsonb, $7, $8)""",
                request.case_id,
                request.archived_at,
                digest,
                canonical(case_file).decode(),
                add_years(request.archived_at.astimezone(CHINA_TZ).date(), package.RETENTION_YEARS),
                *seal_columns(seal),
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
                case_id=request.case_id, sha256=digest, events=len(case_file["events"]), seal=seal
            )
