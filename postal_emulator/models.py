"""The emulator's wire format: what a client sends, what it reads back, what webhooks carry.

Recipient details (name, mobile, address) are only checked and fingerprinted, never kept, so
the state file holds none of them; the signer of a delivery is kept, as the proof of it."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from schemas.events import PostalStatus

Text = Annotated[str, Field(min_length=1, max_length=200)]


class ShipmentRequest(BaseModel):
    """POST /v1/shipments: one letter to one recipient."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reference: Annotated[str, Field(min_length=1, max_length=80, description="our case id")]
    recipient_name: Annotated[str, Field(min_length=1, max_length=100)]
    mobile: Annotated[str | None, Field(pattern=r"^1\d{10}$")] = None
    address: Annotated[str, Field(min_length=6, max_length=200)]
    postal_code: Annotated[str, Field(pattern=r"^\d{6}$")]
    document_ref: Text

    def fingerprint(self) -> str:
        """Tells a retry (same body) from a different letter under the same key."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


class CourierStatus(StrEnum):
    """What a courier may report after acceptance (acceptance itself comes with the create)."""

    in_transit = PostalStatus.in_transit.value
    delivered = PostalStatus.delivered.value
    returned = PostalStatus.returned.value


class CourierEvent(BaseModel):
    """POST /v1/shipments/{waybill_no}/events: what the courier reports (test control)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: CourierStatus
    occurred_at: AwareDatetime | None = None
    signer: Annotated[str | None, Field(min_length=1, max_length=40)] = None
    reason: Text | None = None

    @model_validator(mode="after")
    def _proof(self) -> Self:
        # A delivery is proven by who signed; a return must say why (refused, wrong address...).
        if self.status == CourierStatus.delivered and not self.signer:
            raise ValueError("signer is required when status is delivered")
        if self.status == CourierStatus.returned and not self.reason:
            raise ValueError("reason is required when status is returned")
        return self


class TrackingEvent(BaseModel):
    """One line of a waybill's tracking; `event_id` is stable, so a repeated webhook is
    recognisable."""

    event_id: str
    waybill_no: str
    status: PostalStatus
    occurred_at: AwareDatetime
    signer: str | None = None
    reason: str | None = None


class ShipmentView(BaseModel):
    """What GET /v1/shipments/{waybill_no} (and the create call) answers."""

    waybill_no: str
    reference: str
    document_ref: str
    status: PostalStatus
    created_at: datetime
    events: list[TrackingEvent]


class ShipmentRecord(ShipmentView):
    """A shipment as stored: the view plus what idempotency needs."""

    idempotency_key: str
    fingerprint: str

    def view(self) -> ShipmentView:
        return ShipmentView.model_validate(
            self.model_dump(exclude={"idempotency_key", "fingerprint"})
        )


class Notification(TrackingEvent):
    """A webhook body: the event plus our reference, so the receiver finds the case."""

    reference: str


class Faults(BaseModel):
    """Bad days on demand. POST replaces the whole set; DELETE restores a good day."""

    model_config = ConfigDict(extra="forbid")

    fail_next: Annotated[int, Field(ge=0, le=1000, description="answer N creates with 503")] = 0
    reject_next: Annotated[
        int, Field(ge=0, le=1000, description="refuse N creates with 400 (address not served)")
    ] = 0
    delay_ms: Annotated[int, Field(ge=0, le=60_000, description="sleep before answering")] = 0
