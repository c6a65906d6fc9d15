"""POST /v1/postal/webhooks: the courier's signed tracking events.

Checked in this order, each refusal a 4xx and nothing sent to the case: a client token, if one
is sent, must hold the `postal` scope (a hospital's is 403); the signature must sign this body
within the window (infra/signing.py); the event id header must match the signed body; the
waybill must be a letter this system sent for the case the body names. A repeat of an event
the case accepted gets the first answer (200) and reaches the case no more."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from activities.shipments import waybill_problem
from gateway.clients import Scope
from gateway.deps import Bearer, Door, Gateway, allowed, client_of
from gateway.errors import ApiError, field_problems, invalid, unavailable
from gateway.models import CaseAnswer, PostalWebhook
from infra import signing
from infra.logs import get_logger
from schemas.events import PostalEvent

router = APIRouter(tags=["postal"])
log = get_logger(__name__)
ACTOR = "ems-webhook"  # the sender recorded on the case's postal events


@router.post(
    "/v1/postal/webhooks",
    response_model=CaseAnswer,
    summary="A courier tracking event (signed)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PostalWebhook.model_json_schema()}},
        }
    },
    responses={
        401: {"description": "unsigned, wrongly signed or stale"},
        403: {"description": "a client token without the postal scope"},
        409: {"description": "the case refused the event (its reason)"},
        422: {"description": "malformed body, unknown waybill, another case's waybill"},
        503: {"description": "Temporal cannot be reached (Retry-After)"},
    },
)
async def postal_webhook(
    request: Request,
    door: Door,
    credentials: Bearer,
    signature: Annotated[str | None, Header(alias=signing.SIGNATURE_HEADER)] = None,
    event_id: Annotated[str | None, Header(alias=signing.EVENT_ID_HEADER)] = None,
) -> JSONResponse:
    if credentials is not None:  # a client that sends a token is judged by it
        allowed(await client_of(door, credentials), Scope.postal)
    secret = door.config.postal_webhook_secret
    if not secret:
        raise unavailable(
            "webhooks_not_configured",
            "未配置快递回调密钥 (POSTAL_WEBHOOK_SECRET is not set: webhooks cannot be verified)",
        )
    body = await request.body()
    verify(body, signature, secret, door.config.postal_webhook_previous_secret)
    webhook = parse(body)
    if not event_id:
        raise ApiError(
            400, "event_id_missing", f"缺少事件编号 (header {signing.EVENT_ID_HEADER} is missing)"
        )
    if event_id != webhook.event_id:
        raise ApiError(
            400,
            "event_id_mismatch",
            f"事件编号与正文不符 ({signing.EVENT_ID_HEADER} is not the signed body's event_id)",
        )
    if (first := await first_answer(door, webhook.event_id)) is not None:
        log.info("postal_webhook_repeat", event_id=webhook.event_id, case_id=first["case_id"])
        return JSONResponse(first)
    problem = await waybill_problem(door.pool, webhook.reference, webhook.waybill_no)
    if problem is not None:
        log.info("postal_webhook_refused", event_id=webhook.event_id, error=problem.code)
        raise ApiError(422, problem.code, problem.message)
    event = PostalEvent(actor=ACTOR, **webhook.model_dump(exclude={"reference"}))
    answer = await door.cases.update(
        webhook.reference, "report_postal_event", event, webhook.event_id
    )
    body_out = CaseAnswer(case_id=webhook.reference, event_id=webhook.event_id, answer=answer)
    await door.pool.execute(
        """INSERT INTO postal_webhooks (event_id, case_id, waybill_no, answer)
           VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING""",
        webhook.event_id,
        webhook.reference,
        webhook.waybill_no,
        body_out.model_dump_json(),
    )
    log.info("postal_webhook_accepted", event_id=webhook.event_id, case_id=webhook.reference)
    return JSONResponse(await first_answer(door, webhook.event_id))


def verify(body: bytes, signature: str | None, secret: str, previous: str | None) -> None:
    """Signed with the secret, or with the previous one while the courier moves over."""
    try:
        signing.verify(secret, body, signature)
    except signing.BadSignature as bad:
        try:
            if previous:
                signing.verify(previous, body, signature)
                return
        except signing.BadSignature:
            pass
        log.warning("postal_webhook_refused", error="bad_signature", reason=str(bad))
        raise ApiError(401, "bad_signature", f"签名无效 (signature refused: {bad})") from None


def parse(body: bytes) -> PostalWebhook:
    try:
        return PostalWebhook.model_validate_json(body)
    except ValidationError as error:
        raise invalid(field_problems(error.errors())) from None


async def first_answer(door: Gateway, event_id: str) -> dict[str, Any] | None:
    stored = await door.pool.fetchval(
        "SELECT answer FROM postal_webhooks WHERE event_id = $1", event_id
    )
    return None if stored is None else dict(json.loads(stored))
