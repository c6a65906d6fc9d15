"""The emulator's wire format: what a client sends, what it reads back, what webhooks carry.

A shipment keeps its recipient's role and name (a courier must know whom it delivers to, and
the case checks which party a waybill is for); the mobile and address are only checked and
fingerprinted, never kept. The signer of a delivery is kept, as the proof of it."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from schemas.events import PostalStatus
from schemas.vocabulary import ReturnReason

Text = Annotated[str, Field(min_length=1, max_length=200)]
FINAL = frozenset({PostalStatus.delivered, PostalStatus.returned})  # nothing follows these


class ShipmentRequest(BaseModel):
    """POST /v1/shipments: one letter to one recipient."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reference: Annotated[str, Field(min_length=1, max_length=80, description="our case id")]
    recipient_name: Annotated[str, Field(min_length=1, max_length=100)]
    recipient_role: Annotated[
        str | None,
        Field(pattern=r"^[a-z][a-z_]{0,39}$", description="whose letter: worker, employer..."),
    ] = None
    mobile: Annotated[str | None, Field(pattern=r"^1\d{10}$")] = None
    address: Annotated[str, Field(min_length=6, max_length=200)]
    postal_code: Annotated[str, Field(pattern=r"^\d{6}$")]
    document_ref: Text

    def fingerprint(self) -> str:
        """Tells a retry (same body) from a different letter under the same key. The role is
        a label, not part of the letter: left out, so fingerprints kept by an older emulator
        (before the role existed) still match their retries."""
        body = self.model_dump_json(exclude={"recipient_role"})
        return hashlib.sha256(body.encode()).hexdigest()


class CourierStatus(StrEnum):
    """What a courier may report after acceptance (acceptance itself comes with the create)."""

    in_transit = PostalStatus.in_transit.value
    delivered = PostalStatus.delivered.value
    returned = PostalStatus.returned.value


class CourierEvent(BaseModel):
    """POST /v1/shipments/{waybill_no}/events: what the courier reports (test control).
    `occurred_at` is when it happened (for a delivery: when it was signed for); default now."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: CourierStatus
    occurred_at: AwareDatetime | None = None
    signer: Annotated[str | None, Field(min_length=1, max_length=40)] = None
    reason: ReturnReason | None = None

    @model_validator(mode="after")
    def _proof(self) -> Self:
        # A delivery is proven by who signed; a return must say why (refused, wrong address...).
        if self.status == CourierStatus.delivered and not self.signer:
            raise ValueError("signer is required when status is delivered")
        if self.status == CourierStatus.returned and not self.reason:
            raise ValueError("reason is required when status is returned")
        if self.status != CourierStatus.delivered and self.signer:
            raise ValueError("signer is only for status delivered")
        if self.status != CourierStatus.returned and self.reason:
            raise ValueError("reason is only for status returned")
        return self


class CourierBatch(BaseModel):
    """POST /v1/shipments/{waybill_no}/events/batch: several reports at once; their webhooks
    go out as one batch (in reverse order when `reverse_webhooks` is on)."""

    model_config = ConfigDict(extra="forbid")

    events: list[CourierEvent] = Field(min_length=1, max_length=20)


class TrackingEvent(BaseModel):
    """One line of a waybill's tracking; `event_id` is stable, so a repeated webhook is
    recognisable. `reason` is a `ReturnReason` code (free text in state files written before
    the codes), `reason_text` its Chinese label."""

    event_id: str
    waybill_no: str
    status: PostalStatus
    occurred_at: AwareDatetime
    signer: str | None = None
    reason: str | None = None
    reason_text: str | None = None


class ShipmentView(BaseModel):
    """What GET /v1/shipments/{waybill_no} (and the create call) answers. The recipient is
    empty for shipments created before the emulator kept it."""

    waybill_no: str
    reference: str
    recipient_role: str | None = None
    recipient_name: str | None = None
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
    """A webhook body: the event plus our reference and the recipient's role, so the receiver
    finds the case and the letter (never the recipient's name)."""

    reference: str
    recipient_role: str | None = None


class Faults(BaseModel):
    """Bad days on demand. POST replaces the whole set; DELETE restores a good day.
    "Courier calls" are the client's API: create, track, list (not these test controls)."""

    model_config = ConfigDict(extra="forbid")

    fail_next: Annotated[int, Field(ge=0, le=1000, description="answer N creates with 503")] = 0
    reject_next: Annotated[
        int, Field(ge=0, le=1000, description="refuse N creates with 400 (address not served)")
    ] = 0
    delay_ms: Annotated[
        int, Field(ge=0, le=60_000, description="sleep before answering each courier call")
    ] = 0
    error_rate: Annotated[
        float,
        Field(
            ge=0,
            le=1,
            description="share of courier calls answered 500/502/503/504; a failed create "
            "was, half the time, stored before the answer failed (a lost answer)",
        ),
    ] = 0.0
    seed: Annotated[int, Field(description="seeds error_rate's draws: same seed, same day")] = 0
    down: Annotated[bool, Field(description="an outage: every courier call answers 503")] = False
    duplicate_webhooks: Annotated[bool, Field(description="send each webhook twice")] = False
    reverse_webhooks: Annotated[
        bool, Field(description="deliver a batch's webhooks in reverse order")
    ] = False
    lose_webhooks: Annotated[
        bool, Field(description="send no webhook (the events stay in tracking)")
    ] = False


class FaultStats(BaseModel):
    """GET /v1/_stats: what the faults did since they were last set."""

    answered_5xx: int = 0  # every 5xx answered: down, error_rate, fail_next
    failed_after_create: int = 0  # the shipment exists, the client saw a 5xx
    webhooks_lost: int = 0
    webhooks_delivered: int = 0  # answered 2xx by the receiver (a duplicate counts twice)
    webhooks_duplicated: int = 0  # second copies queued under duplicate_webhooks
    webhooks_given_up: int = 0  # every attempt failed
    webhooks_pending: int = 0  # queued or on the way now (not reset): 0 once all are through
