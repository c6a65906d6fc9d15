"""An EMS-style courier API: create shipments idempotently, track them, report courier
events (and post them as signed webhooks), and switch on faults for tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from infra.logs import get_logger
from postal_emulator.models import (
    CourierEvent,
    Faults,
    Notification,
    ShipmentRecord,
    ShipmentRequest,
    ShipmentView,
    TrackingEvent,
)
from postal_emulator.server import serve
from postal_emulator.store import ShipmentStore
from postal_emulator.webhooks import WebhookSender

log = get_logger(__name__)


class ApiError(Exception):
    """An answer other than success, as {"error": code, "message": text}."""

    def __init__(self, status_code: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status_code, self.error, self.message = status_code, error, message


def create_app(
    state_file: Path | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> FastAPI:
    if bool(webhook_url) != bool(webhook_secret):
        raise ValueError("webhook_url and webhook_secret go together")
    store = ShipmentStore(state_file)
    webhooks = (
        WebhookSender(webhook_url, webhook_secret) if webhook_url and webhook_secret else None
    )
    faults = Faults()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if webhooks is not None:
            await webhooks.aclose()

    app = FastAPI(title="Postal service emulator (EMS-style)", lifespan=lifespan)
    _install_error_handlers(app)

    def notify(record: ShipmentRecord, event: TrackingEvent) -> None:
        if webhooks is not None:
            webhooks.send(Notification(**event.model_dump(), reference=record.reference))

    async def slow_day() -> None:
        if faults.delay_ms:
            await asyncio.sleep(faults.delay_ms / 1000)

    def find(waybill_no: str) -> ShipmentRecord:
        record = store.get(waybill_no)
        if record is None:
            raise ApiError(404, "not_found", f"no shipment with waybill {waybill_no}")
        return record

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/shipments", status_code=201)
    async def create_shipment(
        request: ShipmentRequest,
        response: Response,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> ShipmentView:
        if not idempotency_key:
            raise ApiError(400, "idempotency_key_missing", "header Idempotency-Key is required")
        await slow_day()
        if faults.fail_next:
            faults.fail_next -= 1
            raise ApiError(503, "unavailable", "postal service temporarily unavailable")
        if faults.reject_next:
            faults.reject_next -= 1
            raise ApiError(400, "address_not_served", "收件地址不在投递范围 (address not served)")
        existing = store.by_key(idempotency_key)
        if existing is not None:
            if existing.fingerprint != request.fingerprint():
                raise ApiError(
                    409,
                    "idempotency_conflict",
                    "Idempotency-Key already used for a different shipment "
                    f"(waybill {existing.waybill_no})",
                )
            response.status_code = 200
            log.info(
                "shipment_replayed", waybill_no=existing.waybill_no, reference=existing.reference
            )
            return existing.view()
        record = store.create(idempotency_key, request)
        log.info("shipment_created", waybill_no=record.waybill_no, reference=record.reference)
        notify(record, record.events[0])
        return record.view()

    @app.get("/v1/shipments")
    async def list_shipments(reference: str) -> list[ShipmentView]:
        return [record.view() for record in store.by_reference(reference)]

    @app.get("/v1/shipments/{waybill_no}")
    async def get_shipment(waybill_no: str) -> ShipmentView:
        await slow_day()
        return find(waybill_no).view()

    @app.post("/v1/shipments/{waybill_no}/events", status_code=201)
    async def report_event(waybill_no: str, courier: CourierEvent) -> TrackingEvent:
        record = find(waybill_no)
        event = store.append(record, courier)
        log.info(
            "tracking_event", waybill_no=waybill_no, reference=record.reference, status=event.status
        )
        notify(record, event)
        return event

    @app.get("/v1/_faults")
    async def get_faults() -> Faults:
        return faults

    @app.post("/v1/_faults")
    async def set_faults(wanted: Faults) -> Faults:
        nonlocal faults
        faults = wanted
        log.info("faults_set", fail_next=faults.fail_next, delay_ms=faults.delay_ms)
        return faults

    @app.delete("/v1/_faults")
    async def reset_faults() -> Faults:
        nonlocal faults
        faults = Faults()
        return faults

    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.error, "message": exc.message}, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Name each field and say why; never echo the input (it may be personal data).
        fields = [
            {"field": _field(err), "message": err["msg"].removeprefix("Value error, ")}
            for err in exc.errors()
        ]
        message = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        return JSONResponse({"error": "invalid_request", "message": message, "fields": fields}, 422)


def _field(err: dict[str, Any]) -> str:
    """`postal_code`, `header.idempotency-key`; `body` for the body as a whole."""
    if err["type"] == "json_invalid":
        return "body"
    return ".".join(str(part) for part in err["loc"] if part != "body") or "body"


@contextlib.asynccontextmanager
async def running(
    host: str = "127.0.0.1",
    port: int = 0,
    state_file: Path | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> AsyncIterator[str]:
    """The emulator in the current event loop; yields its base URL (port 0: a free one)."""
    app = create_app(state_file, webhook_url, webhook_secret)
    async with serve(app, host, port) as url:
        yield url
