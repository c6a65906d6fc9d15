"""Shipments in memory, optionally mirrored to a JSON file so waybills and idempotency keys
survive a restart of `make run`. Every method is synchronous: with no await between a lookup
and a write, two requests with the same key cannot both create a shipment."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from postal_emulator.models import (
    FINAL,
    CourierEvent,
    ShipmentRecord,
    ShipmentRequest,
    TrackingEvent,
)
from postal_emulator.waybill import new_waybill
from schemas.events import PostalStatus
from schemas.vocabulary import ReturnReason


class ShipmentClosed(ValueError):
    """A report after the letter was delivered or returned: a courier's tracking ends there."""


class _State(BaseModel):
    shipments: dict[str, ShipmentRecord] = Field(default_factory=dict)


class ShipmentStore:
    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._state = _State()
        if path is not None and path.exists():
            self._state = _State.model_validate_json(path.read_bytes())
        elif path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._by_key = {s.idempotency_key: s for s in self._state.shipments.values()}

    def get(self, waybill_no: str) -> ShipmentRecord | None:
        return self._state.shipments.get(waybill_no)

    def by_key(self, idempotency_key: str) -> ShipmentRecord | None:
        return self._by_key.get(idempotency_key)

    def by_reference(self, reference: str) -> list[ShipmentRecord]:
        return [s for s in self._state.shipments.values() if s.reference == reference]

    def create(self, idempotency_key: str, request: ShipmentRequest) -> ShipmentRecord:
        waybill_no = self._unused_waybill()
        now = datetime.now(UTC)
        record = ShipmentRecord(
            waybill_no=waybill_no,
            reference=request.reference,
            recipient_role=request.recipient_role,
            recipient_name=request.recipient_name,
            document_ref=request.document_ref,
            status=PostalStatus.accepted,
            created_at=now,
            events=[_event(waybill_no, 1, PostalStatus.accepted, now)],
            idempotency_key=idempotency_key,
            fingerprint=request.fingerprint(),
        )
        self._state.shipments[waybill_no] = record
        self._by_key[idempotency_key] = record
        self._save()
        return record

    def append(self, record: ShipmentRecord, reports: list[CourierEvent]) -> list[TrackingEvent]:
        """All of `reports` or none: a report after a final one is refused."""
        statuses = [record.status, *(PostalStatus(r.status) for r in reports)]
        if closed := next((s for s in statuses[:-1] if s in FINAL), None):
            raise ShipmentClosed(
                f"waybill {record.waybill_no}: nothing may follow {closed.value} "
                "(a delivered or returned letter's tracking ends there)"
            )
        events = []
        for courier in reports:
            event = _event(
                record.waybill_no,
                len(record.events) + 1,
                PostalStatus(courier.status),
                courier.occurred_at or datetime.now(UTC),
                signer=courier.signer,
                reason=courier.reason,
            )
            record.events.append(event)
            events.append(event)
        record.status = events[-1].status  # the latest report wins, as on a courier's web page
        self._save()
        return events

    def _unused_waybill(self) -> str:
        while (waybill_no := new_waybill()) in self._state.shipments:
            pass
        return waybill_no

    def _save(self) -> None:
        if self._path is None:
            return
        # Write aside and rename, so a crash mid-write never leaves half a file.
        scratch = self._path.with_suffix(self._path.suffix + ".tmp")
        scratch.write_text(self._state.model_dump_json(indent=1), encoding="utf-8")
        os.replace(scratch, self._path)


def _event(
    waybill_no: str,
    seq: int,
    status: PostalStatus,
    occurred_at: datetime,
    signer: str | None = None,
    reason: ReturnReason | None = None,
) -> TrackingEvent:
    return TrackingEvent(
        event_id=f"{waybill_no}:{seq}",
        waybill_no=waybill_no,
        status=status,
        occurred_at=occurred_at,
        signer=signer,
        reason=reason.value if reason else None,
        reason_text=reason.label if reason else None,
    )
