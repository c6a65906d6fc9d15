"""What the `status` query answers: where the case stands and what it waits for.

Every time in it is China time (UTC+08:00, ISO 8601 with the offset in JSON)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from schemas.application import (
    AppraisalMode,
    CaseType,
    GreenChannelGrant,
    Jurisdiction,
    MaterialKind,
)
from schemas.delivery import DeliveryState
from schemas.outcome import Outcome
from schemas.steps import Appointment, ArchiveSeal, Panel, Recusal, Shipment, Stage
from schemas.vocabulary import ClockName, CloseReason


class StageEntry(BaseModel):
    stage: Stage
    entered_at: datetime


class Deadline(BaseModel):
    name: ClockName
    due_on: date  # the last day, by the counting rule
    due_at: datetime  # the instant it passes: the end of that day, China time
    seconds_left: float
    overdue: bool = False
    # The due date was counted without the year's official holiday schedule (weekends only):
    # check it by hand, or load the schedule (config/holidays/<year>.json).
    calendar_warning: str | None = None


class CaseStatus(BaseModel):
    case_id: str
    case_type: CaseType
    stage: Stage
    green_channel: bool
    green_channel_grant: GreenChannelGrant | None = None  # who granted it and why
    mode: AppraisalMode
    jurisdiction: Jurisdiction
    stages: list[StageEntry] = Field(default_factory=list)
    pending_actions: list[str] = Field(default_factory=list)
    deadlines: list[Deadline] = Field(default_factory=list)
    panel: Panel | None = None
    opinions: dict[str, Outcome] = Field(default_factory=dict)
    panel_majority: Outcome | None = None
    conclusion: Outcome | None = None
    shipments: list[Shipment] = Field(default_factory=list)
    closed: CloseReason | None = None
    closed_reason: str | None = None  # the recorded reason, in words
    archive_sha256: str | None = None
    # The archive's signed seal (digest, chain head, key id, signature); None before it.
    archive_seal: ArchiveSeal | None = None
    policy_version: str | None = None
    receipt_date: date | None = None
    complete_on: date | None = None
    missing_materials: list[MaterialKind] = Field(default_factory=list)
    appointment: Appointment | None = None
    attendance: str | None = None
    deadline_shift_days: int = 0
    examinations: list[str] = Field(default_factory=list)
    review_round: int = 1
    signed_off: list[str] = Field(default_factory=list)  # review layers of this round
    deliberations: int = 0
    conclusion_document: str | None = None
    recusals: list[Recusal] = Field(default_factory=list)  # granted at a party's request (回避)
    # Delivery in full (patch full-delivery): each recipient's letter, and the provincial
    # case a re-appraisal request was referred to (再次鉴定).
    deliveries: list[DeliveryState] = Field(default_factory=list)
    referral_id: str | None = None
