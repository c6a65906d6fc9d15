"""The postal client: mail a conclusion letter (idempotently) and read its tracking.

The idempotency key is the case id plus the recipient, so a retried activity or a crashed
worker asks for the same waybill and never mails a letter twice. Errors retrying cannot fix
become non-retryable ApplicationErrors; 5xx, timeouts and connection errors raise as they are
and Temporal retries them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

import asyncpg
import httpx
from pydantic import BaseModel
from structlog.stdlib import BoundLogger
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.shipments import record_shipment
from infra.logs import get_logger
from schemas.events import PostalEvent, PostalStatus
from schemas.steps import LetterRequest, Shipment
from schemas.strict import Scrubbed

POSTAL_ACTOR = "postal"  # the `actor` of events read from the postal service
RETRYABLE_4XX = {408, 429}  # "try again later" answers, not a rejection

log = get_logger(__name__)


class _WireEvent(BaseModel):
    """A tracking line; `reason` of a returned letter is a `ReturnReason` code."""

    event_id: str
    waybill_no: str
    status: PostalStatus
    occurred_at: datetime
    signer: Annotated[str, Scrubbed] | None = None  # the courier's text: scrubbed, not refused
    reason: Annotated[str, Scrubbed] | None = None


class _WireShipment(BaseModel):
    waybill_no: str
    status: PostalStatus
    events: list[_WireEvent]


class PostalActivities:
    def __init__(self, http: httpx.AsyncClient, pool: asyncpg.Pool | None = None) -> None:
        self._http = http  # base_url and timeouts are set by the caller
        self._pool = pool  # where each waybill is recorded for its case (None: not recorded)

    @activity.defn(name="send_letter")
    async def send_letter(self, request: LetterRequest) -> Shipment:
        bound = log.bind(
            **_activity_ids(),
            case_id=request.case_id,
            stage=request.stage,
            recipient=request.recipient,
        )
        response = await self._http.post(
            "/v1/shipments",
            json=_shipment_body(request),
            headers={"Idempotency-Key": request.idempotency_key},
        )
        _raise_for_answer(response, bound)
        shipment = _WireShipment.model_validate_json(response.content)
        if self._pool is not None:  # before the case hears of it: its webhooks may come first
            await record_shipment(
                self._pool,
                request.case_id,
                request.recipient.value,
                shipment.waybill_no,
                request.attempt,
            )
        bound.info(
            "letter_sent", waybill_no=shipment.waybill_no, replayed=response.status_code == 200
        )
        return _to_shipment(request, shipment)

    @activity.defn(name="track_shipment")
    async def track_shipment(self, waybill_no: str) -> list[PostalEvent]:
        """The waybill's events in the form of the `postal_event` signal, so the workflow can
        feed polled events to the same handler as webhooks (ids match: repeats are ignored)."""
        bound = log.bind(**_activity_ids(), waybill_no=waybill_no)
        response = await self._http.get(f"/v1/shipments/{quote(waybill_no, safe='')}")
        _raise_for_answer(response, bound)
        shipment = _WireShipment.model_validate_json(response.content)
        bound.info("shipment_tracked", status=shipment.status, events=len(shipment.events))
        return [PostalEvent(actor=POSTAL_ACTOR, **event.model_dump()) for event in shipment.events]


def _shipment_body(request: LetterRequest) -> dict[str, Any]:
    return {
        "reference": request.case_id,
        "recipient_name": request.name,
        "recipient_role": request.recipient.value,  # shown on the shipment: whose letter
        "mobile": request.mobile,
        "address": request.address.text,
        "postal_code": request.address.postal_code,
        "document_ref": request.document_ref,
    }


def _to_shipment(request: LetterRequest, shipment: _WireShipment) -> Shipment:
    # A replayed create may find the letter already signed for (the worker crashed earlier).
    delivered = [e for e in shipment.events if e.status == PostalStatus.delivered]
    return Shipment(
        recipient=request.recipient,
        waybill_no=shipment.waybill_no,
        status=shipment.status,
        delivered_at=delivered[-1].occurred_at if delivered else None,
        signer=delivered[-1].signer if delivered else None,
    )


def _raise_for_answer(response: httpx.Response, bound: BoundLogger) -> None:
    status = response.status_code
    if response.is_success:
        return
    message = f"postal service answered {status}: {_message(response)}"
    if status >= 500 or status in RETRYABLE_4XX:
        bound.warning("postal_unavailable", http_status=status)
        raise ApplicationError(message, type="PostalUnavailable")
    error_type = "PostalConflict" if status == 409 else "PostalRejected"
    bound.error("postal_rejected", http_status=status, error_type=error_type)
    raise ApplicationError(message, type=error_type, non_retryable=True)


def _message(response: httpx.Response) -> str:
    """What the courier said went wrong: its error code and the fields it named, never its free
    text, which may echo the address or mobile sent (personal data must stay out of failure
    messages, the event log and pending actions). {"error"|"code": …, "fields": [{"field"}]}
    or FastAPI's {"detail": [{"loc"}]}."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return response.reason_phrase
    code = body.get("error") or body.get("code")
    said = code[:60] if isinstance(code, str) and code.isascii() else response.reason_phrase
    listed = body.get("fields") or body.get("detail")
    fields = [
        str(f.get("field") or ".".join(str(p) for p in f.get("loc", [])[1:]))[:40]
        for f in (listed if isinstance(listed, list) else [])
        if isinstance(f, dict)
    ]
    return f"{said} (fields: {', '.join(fields[:10])})" if fields else said


def _activity_ids() -> dict[str, str]:
    if not activity.in_activity():
        return {}
    info = activity.info()
    return {"workflow_id": info.workflow_id or "", "run_id": info.workflow_run_id or ""}
