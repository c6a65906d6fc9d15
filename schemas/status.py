"""What the `status` query answers: where the case stands and what it waits for.

Every time in it is China time (UTC+08:00, ISO 8601 with the offset in JSON)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

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


class WaitsFor(StrEnum):
    """Who a pending action waits for (`appraisal due --role`)."""

    clerk = "clerk"  # the case officer (经办人)
    expert = "expert"  # the panel
    examination = "examination"  # 面检组
    chief_examination = "chief_examination"  # 总检组
    recheck = "recheck"  # 复核组
    committee = "committee"  # 劳动能力鉴定委员会: issues the conclusion
    hospital = "hospital"  # a commissioned examination (委托检查)
    post_office = "post_office"  # EMS: the letter's delivery
    worker = "worker"
    employer = "employer"
    agency = "agency"  # 社会保险经办机构, the applicant of a review appraisal
    supervisor = "supervisor"  # an escalation
    system = "system"  # nobody: the case itself (a letter being issued, a public notice running)


class PendingAction(BaseModel):
    """One thing the case waits for, from whom, by when (China time)."""

    action: str  # as `pending_actions` words it
    waits_for: WaitsFor
    clock: ClockName | None = None  # the deadline that governs it
    due_at: datetime | None = None
    overdue: bool = False  # its clock ran out (escalated)


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
    pending: list[PendingAction] = Field(default_factory=list)  # the same, with whom and when
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
