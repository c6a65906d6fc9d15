"""The hard-question ledger (疑难问题台账): the hotline's and the window's hard questions, each
tracked before (prevention), during (explanation) and after (follow-up), linked to a case
where there is one. Kept in PostgreSQL; a repeat of an entry's event id is the same entry."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from gateway.clients import GatewayClient, Scope
from gateway.deps import Door, scoped
from gateway.errors import ApiError
from gateway.models import LedgerEntry, LedgerEntryIn, LedgerPhase
from infra.logs import get_logger

router = APIRouter(tags=["ledger"])
log = get_logger(__name__)
Ledger = Annotated[GatewayClient, Depends(scoped(Scope.ledger))]
COLUMNS = "id, client_id, entry_key AS event_id, phase, topic, text, case_id, created_at"


@router.post(
    "/v1/ledger",
    response_model=LedgerEntry,
    status_code=201,
    summary="Add a hard question to the ledger (scope: ledger); a repeat answers 200",
    responses={
        409: {"description": "the event id was used for a different entry"},
        422: {"description": "malformed body, or a case link to no case"},
    },
)
async def add_entry(entry: LedgerEntryIn, door: Door, client: Ledger) -> JSONResponse:
    async with door.pool.acquire() as conn, conn.transaction():
        if entry.case_id is not None and not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM cases WHERE case_id = $1)", entry.case_id
        ):
            raise ApiError(
                422, "unknown_case", f"没有案件 {entry.case_id} (no case {entry.case_id})"
            )
        row = await conn.fetchrow(
            f"""INSERT INTO ledger_entries (client_id, entry_key, phase, topic, text, case_id)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (client_id, entry_key) DO NOTHING RETURNING {COLUMNS}""",
            client.client_id,
            entry.event_id,
            entry.phase.value,
            entry.topic,
            entry.text,
            entry.case_id,
        )
        status = 201
        if row is None:  # a repeat: the entry as first recorded, if it is the same
            status = 200
            row = await conn.fetchrow(
                f"SELECT {COLUMNS} FROM ledger_entries WHERE client_id = $1 AND entry_key = $2",
                client.client_id,
                entry.event_id,
            )
            if row is None or not same(row, entry):
                raise ApiError(
                    409,
                    "event_id_reused",
                    f"事件编号 {entry.event_id} 已用于另一条台账 "
                    f"(event id {entry.event_id} was used for a different entry)",
                )
    saved = LedgerEntry(**dict(row))
    log.info("ledger_entry", id=saved.id, client_id=client.client_id, repeat=status == 200)
    return JSONResponse(saved.model_dump(mode="json"), status)


def same(row: asyncpg.Record, entry: LedgerEntryIn) -> bool:
    given = (entry.phase.value, entry.topic, entry.text, entry.case_id)
    return (row["phase"], row["topic"], row["text"], row["case_id"]) == given


@router.get(
    "/v1/ledger",
    response_model=list[LedgerEntry],
    summary="The ledger, newest first (scope: ledger)",
)
async def list_entries(
    door: Door,
    client: Ledger,
    case_id: Annotated[str | None, Query(max_length=80)] = None,
    phase: LedgerPhase | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[LedgerEntry]:
    rows = await door.pool.fetch(
        f"""SELECT {COLUMNS} FROM ledger_entries
            WHERE ($1::text IS NULL OR case_id = $1) AND ($2::text IS NULL OR phase = $2)
            ORDER BY id DESC LIMIT $3""",
        case_id,
        phase.value if phase else None,
        limit,
    )
    return [LedgerEntry(**dict(row)) for row in rows]
