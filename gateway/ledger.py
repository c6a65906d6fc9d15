"""The hard-question ledger (疑难问题台账) for the hotline's and the window's systems: the same
entries as `appraisal ledger` (activities/ledger.py holds the rules). A repeat of an entry's or
a step's event id is the same entry or step; the sender is the authenticated client."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from activities import ledger
from activities.ledger import LedgerRefusal
from gateway.clients import GatewayClient, Scope
from gateway.deps import Door, scoped
from gateway.errors import ApiError
from gateway.models import LedgerAdvanceIn, LedgerEntryIn
from infra.logs import get_logger
from schemas.ledger import Advance, LedgerEntry, LedgerSource, LedgerState, NewEntry

router = APIRouter(tags=["ledger"])
log = get_logger(__name__)
Ledger = Annotated[GatewayClient, Depends(scoped(Scope.ledger))]
EntryId = Annotated[int, Path(ge=1, le=2**62, description="the entry's id")]
# What each refusal of the ledger answers.
STATUS = {
    "unknown_case": 422,
    "unknown_owner": 422,
    "unknown_actor": 409,
    "unknown_entry": 404,
    "key_reused": 409,
    "refused": 409,
}
CODES = {"key_reused": "event_id_reused"}


def api_error(refusal: LedgerRefusal) -> ApiError:
    return ApiError(STATUS[refusal.code], CODES.get(refusal.code, refusal.code), str(refusal))


@router.post(
    "/v1/ledger",
    response_model=LedgerEntry,
    status_code=201,
    summary="Add a hard question to the ledger (scope: ledger); a repeat answers 200",
    responses={
        409: {"description": "the event id was used for a different entry"},
        422: {"description": "malformed body, a case link to no case, an owner not on the roster"},
    },
)
async def add_entry(entry: LedgerEntryIn, door: Door, client: Ledger) -> JSONResponse:
    given = NewEntry(**entry.model_dump(exclude={"event_id"}), key=entry.event_id)
    try:
        async with door.pool.acquire() as conn:
            saved, new = await ledger.add_entry(conn, given, client.client_id, client.client_id)
    except LedgerRefusal as refusal:
        raise api_error(refusal) from None
    # Ids only: the question may hold personal data.
    log.info("ledger_entry", id=saved.id, client_id=client.client_id, repeat=not new)
    return JSONResponse(saved.model_dump(mode="json"), 201 if new else 200)


@router.post(
    "/v1/ledger/{entry_id}/advance",
    response_model=LedgerEntry,
    summary="Move an entry to its next state, with a note (scope: ledger); idempotent by event id",
    responses={
        404: {"description": "no such entry"},
        409: {"description": "not the entry's next state, or the event id used for another step"},
    },
)
async def advance_entry(
    entry_id: EntryId, step: LedgerAdvanceIn, door: Door, client: Ledger
) -> LedgerEntry:
    advance = Advance(**step.model_dump(exclude={"event_id"}))
    key = f"{client.client_id}:{step.event_id}"  # two clients never collide
    try:
        async with door.pool.acquire() as conn:
            moved, _ = await ledger.advance_entry(conn, entry_id, advance, client.client_id, key)
    except LedgerRefusal as refusal:
        raise api_error(refusal) from None
    log.info("ledger_step", id=entry_id, to=moved.state.value, client_id=client.client_id)
    return moved


@router.get(
    "/v1/ledger/{entry_id}",
    response_model=LedgerEntry,
    summary="One entry with its steps (scope: ledger)",
    responses={404: {"description": "no such entry"}},
)
async def show_entry(entry_id: EntryId, door: Door, _: Ledger) -> LedgerEntry:
    try:
        return await ledger.entry_with_steps(door.pool, entry_id)
    except LedgerRefusal as refusal:
        raise api_error(refusal) from None


@router.get(
    "/v1/ledger",
    response_model=list[LedgerEntry],
    summary="The ledger, newest first (scope: ledger)",
)
async def list_entries(
    door: Door,
    _: Ledger,
    case_id: Annotated[str | None, Query(max_length=80)] = None,
    state: LedgerState | None = None,
    owner: Annotated[str | None, Query(max_length=40)] = None,
    source: LedgerSource | None = None,
    overdue: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[LedgerEntry]:
    return await ledger.list_entries(
        door.pool,
        state=state,
        owner=owner,
        case_id=case_id,
        source=source,
        overdue=overdue,
        limit=limit,
    )
