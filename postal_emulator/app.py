"""An EMS-style courier API: create shipments idempotently, track them, report courier
events (and post them as signed webhooks), and switch on the courier's bad days for tests:
latency, a share of 5xx answers, outages, duplicated, reversed and lost webhooks."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from infra.logs import get_logger
from postal_emulator.faults import BadDay, Failure
from postal_emulator.models import (
    CourierBatch,
    CourierEvent,
    Faults,
    FaultStats,
    Notification,
    ShipmentRecord,
    ShipmentRequest,
    ShipmentView,
    TrackingEvent,
)
from postal_emulator.server import serve
from postal_emulator.store import ShipmentClosed, ShipmentStore
from postal_emulator.webhooks import BACKOFF, WebhookSender

log = get_logger(__name__)


class ApiError(Exception):
    """An answer other than success, as {"error": code, "message": text}."""

    def __init__(
        self, status_code: int, error: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code, self.error, self.message = status_code, error, message
        self.headers = headers


def create_app(
    state_file: Path | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    webhook_backoff: tuple[float, ...] = BACKOFF,
) -> FastAPI:
    if bool(webhook_url) != bool(webhook_secret):
        raise ValueError("webhook_url and webhook_secret go together")
    store = ShipmentStore(state_file)
    bad_day = BadDay()
    webhooks = (
        WebhookSender(webhook_url, webhook_secret, webhook_backoff, stats=lambda: bad_day.stats)
        if webhook_url and webhook_secret
        else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if webhooks is not None:
            await webhooks.aclose()

    app = FastAPI(title="Postal service emulator (EMS-style)", lifespan=lifespan)
    _install_error_handlers(app)

    def notify(record: ShipmentRecord, events: list[TrackingEvent]) -> None:
        if webhooks is None:
            return
        batch = [
            Notification(
                **event.model_dump(),
                reference=record.reference,
                recipient_role=record.recipient_role,
            )
            for event in events
        ]
        bad_day.stats.webhooks_lost += webhooks.send(batch, bad_day.faults)

    async def courier_call() -> Failure | None:
        """A courier call's latency and 5xx: raises a failure that comes before the work,
        returns one that comes after it (the work done, the answer lost on the way)."""
        failure = bad_day.failure()  # drawn on arrival: a straggler never draws from new faults
        await bad_day.slow()
        if failure is not None and not failure.after_work:
            raise unavailable(failure.status)
        return failure

    def unavailable(status: int) -> ApiError:
        bad_day.stats.answered_5xx += 1
        return ApiError(
            status,
            "unavailable",
            "postal service temporarily unavailable",
            {"Retry-After": "30"} if status == 503 else None,
        )

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
        late = await courier_call()
        if bad_day.faults.fail_next:
            bad_day.faults.fail_next -= 1
            raise unavailable(503)
        if bad_day.faults.reject_next:
            bad_day.faults.reject_next -= 1
            raise ApiError(400, "address_not_served", "收件地址不在投递范围 (address not served)")
        record = store.by_key(idempotency_key)
        if record is not None:
            if record.fingerprint != request.fingerprint():
                raise ApiError(
                    409,
                    "idempotency_conflict",
                    "Idempotency-Key already used for a different shipment "
                    f"(waybill {record.waybill_no})",
                )
            response.status_code = 200
            log.info("shipment_replayed", waybill_no=record.waybill_no, reference=record.reference)
        else:
            record = store.create(idempotency_key, request)
            log.info("shipment_created", waybill_no=record.waybill_no, reference=record.reference)
            notify(record, record.events[:1])
        if late is not None:
            bad_day.stats.failed_after_create += 1
            log.warning("answer_lost", waybill_no=record.waybill_no, http_status=late.status)
            raise unavailable(late.status)
        return record.view()

    @app.get("/v1/shipments")
    async def list_shipments(reference: str) -> list[ShipmentView]:
        if late := await courier_call():
            raise unavailable(late.status)
        return [record.view() for record in store.by_reference(reference)]

    @app.get("/v1/shipments/{waybill_no}")
    async def get_shipment(waybill_no: str) -> ShipmentView:
        if late := await courier_call():
            raise unavailable(late.status)
        return find(waybill_no).view()

    def report(waybill_no: str, reports: list[CourierEvent]) -> list[TrackingEvent]:
        record = find(waybill_no)
        try:
            events = store.append(record, reports)
        except ShipmentClosed as closed:
            raise ApiError(409, "shipment_closed", str(closed)) from None
        for event in events:
            log.info(
                "tracking_event",
                waybill_no=waybill_no,
                reference=record.reference,
                status=event.status,
                reason=event.reason,
            )
        notify(record, events)
        return events

    # The courier's own hand (test control): never slowed or failed by the faults.
    @app.post("/v1/shipments/{waybill_no}/events", status_code=201)
    async def report_event(waybill_no: str, courier: CourierEvent) -> TrackingEvent:
        return report(waybill_no, [courier])[0]

    @app.post("/v1/shipments/{waybill_no}/events/batch", status_code=201)
    async def report_events(waybill_no: str, batch: CourierBatch) -> list[TrackingEvent]:
        return report(waybill_no, batch.events)

    @app.get("/v1/_faults")
    async def get_faults() -> Faults:
        return bad_day.faults

    @app.post("/v1/_faults")
    async def set_faults(wanted: Faults) -> Faults:
        bad_day.set(wanted)
        log.info("faults_set", **wanted.model_dump(exclude_defaults=True))
        return bad_day.faults

    @app.delete("/v1/_faults")
    async def reset_faults() -> Faults:
        bad_day.set(Faults())
        return bad_day.faults

    @app.get("/v1/_stats")
    async def get_stats() -> FaultStats:
        pending = 0 if webhooks is None else webhooks.pending
        return bad_day.stats.model_copy(update={"webhooks_pending": pending})

    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            {"error": exc.error, "message": exc.message}, exc.status_code, exc.headers
        )

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
    webhook_backoff: tuple[float, ...] = BACKOFF,
) -> AsyncIterator[str]:
    """The emulator in the current event loop; yields its base URL (port 0: a free one)."""
    app = create_app(state_file, webhook_url, webhook_secret, webhook_backoff)
    async with serve(app, host, port) as url:
        yield url
